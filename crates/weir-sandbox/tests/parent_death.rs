//! A SIGKILLed weir leaves no function processes behind (`PR_SET_PDEATHSIG`). The test runs a
//! copy of this test binary as "weir", lets it start an environment, SIGKILLs it, and watches
//! the environment's process end.

mod common;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

const ROLE: &str = "WEIR_PARENT_DEATH_ROLE";
const TEST_NAME: &str = "environments_die_with_a_sigkilled_weir";

#[test]
fn environments_die_with_a_sigkilled_weir() {
    if std::env::var_os(ROLE).is_some() {
        return play_weir();
    }
    let mut weir = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(ROLE, "weir")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(weir.stdout.take().unwrap()).lines();
    let env_pid: u32 = loop {
        let line = lines.next().expect("helper printed its environment pid").unwrap();
        // The harness may print "test <name> ... " on the same line first.
        if let Some((_, pid)) = line.split_once("ENV_PID ") {
            break pid.trim().parse().unwrap();
        }
    };
    assert!(process_running(env_pid));
    weir.kill().unwrap(); // SIGKILL: no destructor or cleanup code runs in the helper
    weir.wait().unwrap();
    if !wait_for_exit_of(env_pid, Duration::from_secs(10)) {
        // Do not leave it behind, then fail.
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(env_pid as i32), nix::sys::signal::Signal::SIGKILL);
        panic!("environment process {env_pid} outlived its SIGKILLed parent");
    }
}

/// The helper: start one environment whose runtime ignores the Runtime API (so it would not
/// notice its listener vanish), report its pid, then wait to be killed.
fn play_weir() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let h = common::Harness::new();
        let env = h.sandbox.spawn(h.provided_spec("#!/bin/sh\nexec sleep 600\n")).await.unwrap();
        // Straight to fd 1: the test harness captures `println!` even of a child run.
        use std::io::Write as _;
        let mut stdout = std::io::stdout();
        writeln!(stdout, "ENV_PID {}", env.pid()).unwrap();
        stdout.flush().unwrap();
        std::future::pending::<()>().await;
    });
}

fn process_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| !stat.rsplit(')').next().unwrap().trim_start().starts_with('Z'))
}

/// Waits (poll(2) on a pidfd, no sleeping loop) until `pid` is gone; false on timeout.
fn wait_for_exit_of(pid: u32, timeout: Duration) -> bool {
    // SAFETY: plain syscalls on a file descriptor we own.
    unsafe {
        let fd = nix::libc::syscall(nix::libc::SYS_pidfd_open, pid as nix::libc::c_int, 0) as i32;
        if fd < 0 {
            return true; // already gone (and reaped)
        }
        let mut poll = nix::libc::pollfd { fd, events: nix::libc::POLLIN, revents: 0 };
        let ready = nix::libc::poll(&mut poll, 1, timeout.as_millis() as i32);
        nix::libc::close(fd);
        ready == 1
    }
}
