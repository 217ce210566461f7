//! Resident memory of the execution environments, read from Linux `/proc`.
//!
//! Owns: one scan that finds this process's children that lead their own
//! process group (every environment does: the sandbox starts each in its
//! own group) and sums the resident memory (`VmRSS`) of every process in
//! those groups, so a handler's own children count too.
//! Never: signals or limits a process (the sandbox does), or runs on a
//! request path (the sampler calls it once a second, off the runtime's
//! worker threads).

use std::collections::HashSet;

/// Bytes resident in every environment's process group, or `None` where
/// `/proc` is not readable.
pub fn environments_resident_bytes() -> Option<u64> {
    let me = std::process::id();
    let mut processes = Vec::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        if let Some((ppid, pgrp)) =
            std::fs::read_to_string(entry.path().join("stat")).ok().as_deref().and_then(parse_stat)
        {
            processes.push((pid, ppid, pgrp));
        }
    }
    let groups: HashSet<u32> =
        processes.iter().filter(|&&(pid, ppid, pgrp)| ppid == me && pgrp == pid).map(|&(pid, _, _)| pid).collect();
    let mut total = 0u64;
    for &(pid, _, pgrp) in &processes {
        if groups.contains(&pgrp)
            && let Some(kib) =
                std::fs::read_to_string(format!("/proc/{pid}/status")).ok().as_deref().and_then(vm_rss_kib)
        {
            total += kib * 1024;
        }
    }
    Some(total)
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

fn vm_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_ascii_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_survive_odd_command_names() {
        assert_eq!(parse_stat("123 (a) b (c)) S 45 123 123 0 -1"), Some((45, 123)));
        assert_eq!(vm_rss_kib("Name:\tx\nVmRSS:\t  2048 kB\n"), Some(2048));
    }

    #[test]
    fn a_child_in_its_own_group_is_measured() {
        use std::os::unix::process::CommandExt;
        let before = environments_resident_bytes().unwrap();
        let mut child = std::process::Command::new("sleep").arg("30").process_group(0).spawn().unwrap();
        // `spawn` returns after the exec: the child is in /proc with its own memory.
        let measured = environments_resident_bytes().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(measured > before, "{measured} > {before}");
    }
}
