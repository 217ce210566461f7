//! Starting and signalling environment processes.
//!
//! Owns: the long-lived spawner thread every child is forked from, and what the child does
//! between fork and exec (own process group, `PR_SET_PDEATHSIG=SIGKILL`, `RLIMIT_CORE=0`,
//! `RLIMIT_NOFILE=1024`, joining its cgroup). `PR_SET_PDEATHSIG` fires when the *thread* that
//! forked the child exits, so children are forked from one thread that lives as long as the
//! sandbox (not from tokio workers or short-lived blocking threads).
//! Never: decides when to start or stop anything.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

use crate::lock;

/// Open files an environment may have (soft and hard limit).
pub const ENV_MAX_OPEN_FILES: u64 = 1024;

struct SpawnJob {
    command: Command,
    runtime: tokio::runtime::Handle,
    reply: oneshot::Sender<io::Result<Child>>,
}

/// Forks children from one dedicated thread.
pub(crate) struct Spawner {
    jobs: Mutex<mpsc::Sender<SpawnJob>>,
}

impl Spawner {
    pub(crate) fn start() -> io::Result<Spawner> {
        let (jobs, queue) = mpsc::channel::<SpawnJob>();
        std::thread::Builder::new().name("weir-spawner".into()).spawn(move || {
            for mut job in queue {
                let _runtime = job.runtime.enter();
                let result = spawn_retrying_busy_text(&mut job.command);
                drop(job.command); // closes the parent's copies of the child's pipe ends
                let _ = job.reply.send(result);
            }
        })?;
        Ok(Spawner { jobs: Mutex::new(jobs) })
    }

    /// Spawns `command` (already fully configured) on the spawner thread.
    pub(crate) async fn spawn(&self, command: Command) -> io::Result<Child> {
        let (reply, result) = oneshot::channel();
        let job = SpawnJob { command, runtime: tokio::runtime::Handle::current(), reply };
        lock(&self.jobs).send(job).map_err(|_| io::Error::other("spawner thread is gone"))?;
        result.await.map_err(|_| io::Error::other("spawner thread dropped the request"))?
    }
}

/// `ETXTBSY` happens when another thread forked while a freshly written executable was still
/// open for writing; it clears as soon as that fork execs. Retry briefly.
fn spawn_retrying_busy_text(command: &mut Command) -> io::Result<Child> {
    let mut attempt = 0;
    loop {
        match command.spawn() {
            Err(e) if e.raw_os_error() == Some(Errno::ETXTBSY as i32) && attempt < 20 => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

/// Puts the child in its own process group and applies limits between fork and exec.
/// `cgroup_procs`: an open `cgroup.procs` to join (cgroup v2 enforcement only).
pub(crate) fn configure_child(command: &mut Command, cgroup_procs: Option<OwnedFd>) {
    let parent_pid = std::process::id() as i32;
    let open_files =
        getrlimit(Resource::RLIMIT_NOFILE).map(|(_, hard)| hard.min(ENV_MAX_OPEN_FILES)).unwrap_or(ENV_MAX_OPEN_FILES);
    command.process_group(0).kill_on_drop(false);
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe system calls (prctl, getppid, setrlimit, write); it does not allocate.
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            // The parent may have died between fork and prctl: then nobody would kill us.
            if nix::unistd::getppid().as_raw() != parent_pid {
                return Err(Errno::ESRCH.into());
            }
            mark_inherited_fds_cloexec(); // before lowering RLIMIT_NOFILE (the fallback walk)
            setrlimit(Resource::RLIMIT_CORE, 0, 0)?;
            setrlimit(Resource::RLIMIT_NOFILE, open_files, open_files)?;
            if let Some(procs) = &cgroup_procs {
                // Writing "0" to cgroup.procs moves the writing process into that cgroup.
                let written = nix::libc::write(procs.as_raw_fd(), b"0".as_ptr().cast(), 1);
                if written != 1 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// Descriptors weir inherited without `O_CLOEXEC` (a cargo jobserver pipe, a log file, ...)
/// must not reach functions. stdio is already in place when `pre_exec` runs, so everything
/// from 3 up is marked close-on-exec (std's own exec-error pipe already is). Async-signal-safe.
fn mark_inherited_fds_cloexec() {
    // SAFETY: close_range and fcntl are plain system calls on our own descriptor table.
    unsafe {
        let done = nix::libc::syscall(nix::libc::SYS_close_range, 3u32, u32::MAX, nix::libc::CLOSE_RANGE_CLOEXEC);
        if done == 0 {
            return;
        }
        // Kernels before 5.11: walk the table (bounded by the descriptor limit).
        let mut limit = nix::libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        let highest = if nix::libc::getrlimit(nix::libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur.min(65_536) as i32
        } else {
            4096
        };
        for fd in 3..highest {
            let flags = nix::libc::fcntl(fd, nix::libc::F_GETFD);
            if flags >= 0 && flags & nix::libc::FD_CLOEXEC == 0 {
                nix::libc::fcntl(fd, nix::libc::F_SETFD, flags | nix::libc::FD_CLOEXEC);
            }
        }
    }
}

/// Sends `signal` to the whole process group; a group that is already gone is not an error.
pub(crate) fn signal_group(pgid: i32, signal: Signal) {
    match killpg(Pid::from_raw(pgid), signal) {
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(e) => tracing::warn!(pgid, %signal, error = %e, "killpg failed"),
    }
}
