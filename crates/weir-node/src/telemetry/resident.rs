//! Resident memory of the execution environments, read from Linux `/proc`.
//!
//! Owns: one walk from this process's children that lead their own process
//! group (every environment does: the sandbox starts each in its own group)
//! down through their descendants (`/proc/PID/task/TID/children`), summing
//! each process's resident memory (`statm`), so a handler's own children
//! count too. The walk reads a few files per environment, not all of
//! `/proc`; where `children` files do not exist it falls back to one scan
//! of `/proc`.
//! Never: signals or limits a process (the sandbox does), or runs on a
//! request path (the sampler calls it once a second, on a blocking thread).

use std::collections::HashSet;

/// Bytes resident in every environment's process tree, or `None` where
/// `/proc` is not readable.
pub fn environments_resident_bytes() -> Option<u64> {
    let me = std::process::id();
    let Some(children) = children_of(me) else { return scan_all(me) };
    let mut pending: Vec<u32> =
        children.into_iter().filter(|&pid| stat_of(pid).is_some_and(|(_, pgrp)| pgrp == pid)).collect();
    let mut seen = HashSet::new();
    let mut total = 0;
    while let Some(pid) = pending.pop() {
        if !seen.insert(pid) {
            continue;
        }
        total += resident_bytes(pid).unwrap_or(0);
        pending.extend(children_of(pid).unwrap_or_default());
    }
    Some(total)
}

/// Children of every thread of `pid`; `None` if the kernel has no
/// `children` files (or the process is gone).
fn children_of(pid: u32) -> Option<Vec<u32>> {
    let mut children = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
        let list = std::fs::read_to_string(task.path().join("children")).ok()?;
        children.extend(list.split_ascii_whitespace().filter_map(|p| p.parse::<u32>().ok()));
    }
    Some(children)
}

fn stat_of(pid: u32) -> Option<(u32, u32)> {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().as_deref().and_then(parse_stat)
}

/// Resident bytes of one process: the second field of `/proc/PID/statm`
/// (pages), the smallest file that holds it.
fn resident_bytes(pid: u32) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_ascii_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_bytes())
}

/// The page size, from the auxiliary vector the kernel gave this process
/// (`AT_PAGESZ`), 4 KiB if it cannot be read.
fn page_bytes() -> u64 {
    static PAGE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *PAGE.get_or_init(|| {
        const AT_PAGESZ: u64 = 6;
        let auxv = std::fs::read("/proc/self/auxv").unwrap_or_default();
        auxv.chunks_exact(16)
            .map(|pair| {
                let word = |b: &[u8]| u64::from_ne_bytes(b.try_into().expect("8 bytes"));
                (word(&pair[..8]), word(&pair[8..]))
            })
            .find(|&(key, _)| key == AT_PAGESZ)
            .map_or(4096, |(_, value)| value)
    })
}

/// The fallback: every process of `/proc` whose group is led by a child of `me`.
fn scan_all(me: u32) -> Option<u64> {
    let mut processes = Vec::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        if let Some((ppid, pgrp)) = stat_of(pid) {
            processes.push((pid, ppid, pgrp));
        }
    }
    let groups: HashSet<u32> =
        processes.iter().filter(|&&(pid, ppid, pgrp)| ppid == me && pgrp == pid).map(|&(pid, _, _)| pid).collect();
    Some(
        processes
            .iter()
            .filter(|(_, _, pgrp)| groups.contains(pgrp))
            .filter_map(|&(pid, _, _)| resident_bytes(pid))
            .sum(),
    )
}

/// (ppid, pgrp) from `/proc/PID/stat` (fields 4 and 5, after the command
/// name in parentheses, which may itself hold spaces and parentheses).
fn parse_stat(stat: &str) -> Option<(u32, u32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let _state = fields.next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((ppid, pgrp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[test]
    fn stat_fields_survive_odd_command_names() {
        assert_eq!(parse_stat("123 (a) b (c)) S 45 123 123 0 -1"), Some((45, 123)));
        assert!([4096, 16384, 65536].contains(&page_bytes()), "{}", page_bytes());
    }

    /// A child leading its own group, with a grandchild that holds 64 MiB:
    /// the walk counts both, and the full scan agrees.
    #[test]
    fn a_process_tree_in_its_own_group_is_measured() {
        let before = environments_resident_bytes().unwrap();
        // A shell (the group's leader) whose child holds 64 MiB until killed.
        let mut leader = std::process::Command::new("sh")
            .args(["-c", r#"python3 -c 'import time; b = b"a" * (64 << 20); time.sleep(30)' & sleep 30"#])
            .process_group(0)
            .spawn()
            .unwrap();
        let mut grown = 0;
        for _ in 0..200 {
            grown = environments_resident_bytes().unwrap().saturating_sub(before);
            if grown >= 64 << 20 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let scanned = scan_all(std::process::id()).unwrap().saturating_sub(before);
        kill_group(leader.id());
        leader.wait().unwrap();
        assert!(grown >= 64 << 20, "the tree's 64 MiB: {grown}");
        assert!(scanned >= 64 << 20, "the scan sees the group too: {scanned}");
    }

    fn kill_group(pgid: u32) {
        let _ = std::process::Command::new("kill").args(["-KILL", "--", &format!("-{pgid}")]).status();
    }

    /// `cargo test -p weir-node --release --lib resident_cost -- --ignored --nocapture`
    #[test]
    #[ignore = "prints a measurement"]
    fn resident_cost_with_50_environments() {
        let mut children: Vec<_> =
            (0..50).map(|_| std::process::Command::new("sleep").arg("30").process_group(0).spawn().unwrap()).collect();
        let time = |f: &dyn Fn() -> Option<u64>| {
            let started = std::time::Instant::now();
            for _ in 0..20 {
                f();
            }
            started.elapsed() / 20
        };
        let walk = time(&environments_resident_bytes);
        let scan = time(&|| scan_all(std::process::id()));
        let processes = std::fs::read_dir("/proc").unwrap().count();
        for child in &mut children {
            child.kill().unwrap();
            child.wait().unwrap();
        }
        eprintln!(
            "resident memory of 50 environments: walk {walk:?}, full /proc scan {scan:?} ({processes} /proc entries)"
        );
    }
}
