//! Memory measurement and limits for environments.
//!
//! Owns: the one shared watchdog thread that, every tick, scans `/proc` once for all registered
//! process groups, sums resident memory per group, records each group's peak (REPORT's
//! `Max Memory Used`) and SIGKILLs a group over its limit (marking it out of memory); and the
//! small, clearly gated cgroup v2 path (probe, per-environment `memory.max`, OOM detection),
//! used only when the host has a usable cgroup v2 memory controller. Between ticks, the
//! leader's own `statm` is read through a descriptor opened once (an invocation's end samples
//! it, so its REPORT shows memory taken since the last tick).
//! Never: decides anything else about an environment, or touches processes it was not given.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::lock;

const MIB: u64 = 1024 * 1024;

/// Memory bookkeeping of one environment (one process group).
#[derive(Debug)]
pub(crate) struct MemoryTracker {
    pub(crate) pgid: i32,
    /// Kill the group above this many bytes; `None`: measure only.
    limit_bytes: Option<u64>,
    peak_bytes: AtomicU64,
    oom_killed: AtomicBool,
    /// The leader's `/proc/<pid>/statm`, opened once: re-reading an open procfs file at
    /// offset 0 costs a fifth of an open + read + close of `stat` on every invocation.
    leader_statm: Option<fs::File>,
    page_bytes: u64,
}

impl MemoryTracker {
    /// `pgid` is also the leader's pid (environments are spawned as group leaders).
    pub(crate) fn new(pgid: i32, limit_bytes: Option<u64>) -> MemoryTracker {
        MemoryTracker {
            pgid,
            limit_bytes,
            peak_bytes: AtomicU64::new(0),
            oom_killed: AtomicBool::new(false),
            leader_statm: fs::File::open(format!("/proc/{pgid}/statm")).ok(),
            page_bytes: page_size_bytes(),
        }
    }

    pub(crate) fn observe(&self, resident_bytes: u64) {
        self.peak_bytes.fetch_max(resident_bytes, Ordering::Relaxed);
    }

    /// Samples the leader's resident memory now (the watchdog adds its children each tick).
    pub(crate) fn sample_leader(&self) {
        if let Some(bytes) = self.leader_resident_bytes() {
            self.observe(bytes);
        }
    }

    fn leader_resident_bytes(&self) -> Option<u64> {
        let mut buf = [0u8; 128];
        let len = self.leader_statm.as_ref()?.read_at(&mut buf, 0).ok()?;
        let pages = parse_statm_resident(&buf[..len])?;
        Some(pages * self.page_bytes)
    }

    pub(crate) fn peak_mb(&self) -> u32 {
        self.peak_bytes.load(Ordering::Relaxed).div_ceil(MIB) as u32
    }

    pub(crate) fn mark_oom(&self) {
        self.oom_killed.store(true, Ordering::SeqCst);
    }

    pub(crate) fn oom_killed(&self) -> bool {
        self.oom_killed.load(Ordering::SeqCst)
    }
}

/// Handle to the shared watchdog thread; the thread stops when the last handle is dropped.
pub(crate) struct MemoryWatchdog {
    shared: Arc<WatchdogShared>,
}

#[derive(Default)]
struct WatchdogShared {
    groups: Mutex<HashMap<i32, Arc<MemoryTracker>>>,
}

impl MemoryWatchdog {
    pub(crate) fn start(interval: Duration) -> io::Result<MemoryWatchdog> {
        let shared = Arc::new(WatchdogShared::default());
        let weak = Arc::downgrade(&shared);
        std::thread::Builder::new().name("weir-memory-watchdog".into()).spawn(move || watchdog_loop(weak, interval))?;
        Ok(MemoryWatchdog { shared })
    }

    pub(crate) fn register(&self, tracker: Arc<MemoryTracker>) {
        lock(&self.shared.groups).insert(tracker.pgid, tracker);
    }

    pub(crate) fn deregister(&self, pgid: i32) {
        lock(&self.shared.groups).remove(&pgid);
    }
}

/// A full `/proc` scan (to find every member of every group) runs every this many ticks; in
/// between, only the known members' `/proc/<pid>/stat` are read. A new group starts with its
/// leader (pid = pgid) as its only known member.
const FULL_SCAN_EVERY_TICKS: u64 = 10;

fn watchdog_loop(shared: Weak<WatchdogShared>, interval: Duration) {
    let page_bytes = page_size_bytes();
    let mut trackers: Vec<Arc<MemoryTracker>> = Vec::new();
    let mut members: HashMap<i32, Vec<i32>> = HashMap::new();
    let mut resident: HashMap<i32, u64> = HashMap::new();
    let mut tick: u64 = 0;
    loop {
        std::thread::sleep(interval);
        let Some(shared) = shared.upgrade() else {
            return;
        };
        trackers.clear();
        trackers.extend(lock(&shared.groups).values().cloned());
        drop(shared);
        tick += 1;
        members.retain(|pgid, _| trackers.iter().any(|t| t.pgid == *pgid));
        if trackers.is_empty() {
            continue;
        }
        resident.clear();
        resident.extend(trackers.iter().map(|t| (t.pgid, 0)));
        if tick.is_multiple_of(FULL_SCAN_EVERY_TICKS) {
            members.clear();
            scan_proc(&mut resident, &mut members, page_bytes);
        } else {
            for tracker in &trackers {
                let known = members.entry(tracker.pgid).or_insert_with(|| vec![tracker.pgid]);
                let total = resident.entry(tracker.pgid).or_default();
                known.retain(|&pid| match resident_of_member(pid, tracker.pgid, page_bytes) {
                    Some(bytes) => {
                        *total += bytes;
                        true
                    }
                    None => false,
                });
            }
        }
        for tracker in &trackers {
            let bytes = resident.get(&tracker.pgid).copied().unwrap_or(0);
            tracker.observe(bytes);
            if let Some(limit) = tracker.limit_bytes
                && bytes > limit
                && !tracker.oom_killed()
            {
                tracing::info!(
                    pgid = tracker.pgid,
                    resident_mb = bytes / MIB,
                    limit_mb = limit / MIB,
                    "environment over its memory limit: killing its process group"
                );
                tracker.mark_oom();
                let _ = killpg(Pid::from_raw(tracker.pgid), Signal::SIGKILL);
            }
        }
    }
}

/// Resident bytes of `pid` if it still exists and still belongs to group `pgid`.
fn resident_of_member(pid: i32, pgid: i32, page_bytes: u64) -> Option<u64> {
    let mut buf = [0u8; 1024];
    let path = PathBuf::from(format!("/proc/{pid}/stat"));
    let (pgrp, pages) = read_small(&path, &mut buf).and_then(parse_stat)?;
    (pgrp == pgid).then_some(pages * page_bytes)
}

fn page_size_bytes() -> u64 {
    // SAFETY: sysconf has no preconditions and only reads a constant.
    let size = unsafe { nix::libc::sysconf(nix::libc::_SC_PAGESIZE) };
    if size > 0 { size as u64 } else { 4096 }
}

/// Adds the resident bytes of every process whose process group is a key of `resident`, and
/// records those processes in `members`.
fn scan_proc(resident: &mut HashMap<i32, u64>, members: &mut HashMap<i32, Vec<i32>>, page_bytes: u64) {
    let Ok(entries) = fs::read_dir("/proc") else {
        return;
    };
    let mut buf = [0u8; 1024];
    let mut path = PathBuf::from("/proc");
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.as_encoded_bytes().iter().all(u8::is_ascii_digit) {
            continue;
        }
        path.push(&name);
        path.push("stat");
        let stat = read_small(&path, &mut buf);
        path.pop();
        path.pop();
        if let Some((pgrp, rss_pages)) = stat.and_then(parse_stat)
            && let Some(total) = resident.get_mut(&pgrp)
        {
            *total += rss_pages * page_bytes;
            if let Some(pid) = name.to_str().and_then(|n| n.parse().ok()) {
                members.entry(pgrp).or_default().push(pid);
            }
        }
    }
}

fn read_small<'a>(path: &Path, buf: &'a mut [u8]) -> Option<&'a [u8]> {
    let mut file = fs::File::open(path).ok()?;
    let mut len = 0;
    while len < buf.len() {
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(_) => return None,
        }
    }
    Some(&buf[..len])
}

/// `(pgrp, rss_pages)` from `/proc/<pid>/stat` (fields 5 and 24; the command name in field 2
/// may contain spaces and parentheses, so fields are counted after the last `)`).
fn parse_stat(stat: &[u8]) -> Option<(i32, u64)> {
    let after_comm = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&stat[after_comm + 1..]).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    let pgrp = fields.nth(2)?.parse().ok()?; // field 5
    let rss = fields.nth(18)?.parse().ok()?; // field 24
    Some((pgrp, rss))
}

/// Resident pages from `/proc/<pid>/statm` (its second field).
fn parse_statm_resident(statm: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(statm).ok()?;
    text.split_ascii_whitespace().nth(1)?.parse().ok()
}

// ---------------------------------------------------------------------------------------------
// cgroup v2 (used only when `probe_cgroup_v2` finds a usable memory controller; this is not the
// case on cgroup v1 / hybrid hosts, where the watchdog enforces limits instead).
// ---------------------------------------------------------------------------------------------

/// A cgroup v2 directory under which weir may create one child cgroup per environment.
#[derive(Clone, Debug)]
pub(crate) struct CgroupV2Parent {
    dir: PathBuf,
}

/// Finds our own cgroup v2 directory and checks that its children get the memory controller
/// and that we may create them. Returns `None` on cgroup v1 / hybrid hosts.
pub(crate) fn probe_cgroup_v2() -> Option<CgroupV2Parent> {
    let root = Path::new("/sys/fs/cgroup");
    // A unified (v2-only) hierarchy has cgroup.controllers at its root.
    fs::read_to_string(root.join("cgroup.controllers")).ok()?;
    let own = fs::read_to_string("/proc/self/cgroup").ok()?;
    let relative = own.lines().find_map(|line| line.strip_prefix("0::"))?;
    let dir = root.join(relative.trim_start_matches('/'));
    let subtree = fs::read_to_string(dir.join("cgroup.subtree_control")).ok()?;
    if !subtree.split_whitespace().any(|c| c == "memory") {
        return None;
    }
    let probe = dir.join(format!("weir-probe-{}", std::process::id()));
    fs::create_dir(&probe).ok()?;
    let usable = probe.join("memory.max").exists();
    let _ = fs::remove_dir(&probe);
    usable.then_some(CgroupV2Parent { dir })
}

/// One environment's cgroup.
#[derive(Debug)]
pub(crate) struct EnvCgroup {
    dir: PathBuf,
}

impl CgroupV2Parent {
    /// Creates the environment's cgroup with `memory.max` (and no swap). Returns it and an open
    /// `cgroup.procs` the child writes `0` to (joining the cgroup) before exec.
    pub(crate) fn create(&self, env_id: u64, limit_bytes: u64) -> io::Result<(EnvCgroup, OwnedFd)> {
        let dir = self.dir.join(format!("weir-{}-env-{env_id}", std::process::id()));
        fs::create_dir(&dir)?;
        let group = EnvCgroup { dir };
        fs::write(group.dir.join("memory.max"), limit_bytes.to_string())?;
        let _ = fs::write(group.dir.join("memory.swap.max"), "0");
        let procs = fs::OpenOptions::new().write(true).open(group.dir.join("cgroup.procs"))?;
        Ok((group, procs.into()))
    }
}

impl EnvCgroup {
    /// True when the kernel's OOM killer killed a process of this cgroup.
    pub(crate) fn oom_killed(&self) -> bool {
        fs::read_to_string(self.dir.join("memory.events")).is_ok_and(|events| {
            events
                .lines()
                .any(|l| l.strip_prefix("oom_kill ").and_then(|n| n.trim().parse::<u64>().ok()).is_some_and(|n| n > 0))
        })
    }

    /// Peak memory (`memory.peak`, kernel 5.19+), if available.
    pub(crate) fn peak_bytes(&self) -> Option<u64> {
        fs::read_to_string(self.dir.join("memory.peak")).ok()?.trim().parse().ok()
    }

    /// Kills whatever is left and removes the cgroup.
    pub(crate) fn remove(&self) {
        let _ = fs::write(self.dir.join("cgroup.kill"), "1");
        for _ in 0..50 {
            if fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        tracing::warn!(dir = %self.dir.display(), "could not remove environment cgroup");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_spaces_and_parens_in_comm() {
        let stat =
            b"1234 (a) b (c)) S 1 777 777 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 100 1000000 321 18446744073709551615";
        assert_eq!(parse_stat(stat), Some((777, 321)));
    }

    #[test]
    fn samples_the_leader_through_its_open_statm_each_time() {
        let tracker = MemoryTracker::new(std::process::id() as i32, None);
        tracker.sample_leader();
        let before = tracker.peak_mb();
        assert!(before >= 1, "our own process is resident: {before} MiB");
        // 64 MiB touched after the first sample shows on the next one (the same descriptor
        // re-read from offset 0, not a stale first read).
        let touched = std::hint::black_box(vec![1u8; 64 * MIB as usize]);
        tracker.sample_leader();
        assert!(tracker.peak_mb() >= before + 60, "{} MiB after touching 64 MiB (was {before})", tracker.peak_mb());
        drop(touched);
    }

    #[test]
    fn a_tracker_of_a_gone_process_samples_nothing() {
        let tracker = MemoryTracker::new(i32::MAX, None);
        tracker.sample_leader();
        assert_eq!(tracker.peak_mb(), 0);
    }

    #[test]
    fn parses_statm() {
        assert_eq!(parse_statm_resident(b"5392 921 830 177 0 145 0\n"), Some(921));
        assert_eq!(parse_statm_resident(b""), None);
    }

    #[test]
    fn this_host_has_no_usable_cgroup_v2_memory_controller_or_a_working_one() {
        // On cgroup v1 / hybrid hosts (like the project's CI) the probe must say "no"; where it
        // says "yes", creating a child cgroup must work.
        if let Some(parent) = probe_cgroup_v2() {
            let (group, _procs) = parent.create(u64::MAX, 64 * MIB).expect("create cgroup");
            assert!(!group.oom_killed());
            group.remove();
        }
    }
}

#[cfg(test)]
mod scan_cost {
    #[test]
    #[ignore = "prints the cost of one /proc scan; run with --release -- --ignored --nocapture"]
    fn cost_of_one_proc_scan() {
        let mut resident = std::collections::HashMap::from([(1, 0)]);
        let mut members = std::collections::HashMap::new();
        let page = super::page_size_bytes();
        let started = std::time::Instant::now();
        for _ in 0..100 {
            super::scan_proc(&mut resident, &mut members, page);
        }
        let processes = std::fs::read_dir("/proc").unwrap().count();
        println!("one /proc scan: {:?} ({processes} entries)", started.elapsed() / 100);
    }
}
