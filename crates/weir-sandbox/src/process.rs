//! Starting, waiting for and signalling environment processes.
//!
//! Owns: the long-lived spawner thread every child is started from, the child's set-up between
//! clone and exec (own process group, `PR_SET_PDEATHSIG=SIGKILL`, every signal at its default,
//! stdio, cwd, every inherited descriptor above 2 close-on-exec, `RLIMIT_CORE=0`,
//! `RLIMIT_NOFILE=1024`, joining its cgroup), and reaping through a pidfd.
//! Never: decides when to start or stop anything.
//!
//! Why not `std`/`tokio::process::Command`: with a `pre_exec` hook they `fork()`, which copies
//! the parent's page tables. Measured on this VM, spawning from a parent holding 500 MiB took
//! 29 ms, 2 GiB took 150 ms: cold starts would slow down as weir grows. Like `posix_spawn`, this
//! module uses `clone(CLONE_VM | CLONE_VFORK)`: the child borrows the parent's memory until it
//! execs, so the cost does not depend on the parent's size. The child runs only
//! async-signal-safe system calls on a dedicated stack, with every signal blocked until it has
//! reset the handlers, exactly the discipline glibc's `posix_spawn` follows.
//!
//! `PR_SET_PDEATHSIG` fires when the *thread* that created the child exits, so children are
//! created by one thread that lives as long as the sandbox.

use std::collections::BTreeMap;
use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::Duration;

use nix::errno::Errno;
use nix::libc;
use nix::sys::resource::{Resource, getrlimit};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::unix::AsyncFd;
use tokio::sync::oneshot;

use crate::lock;

/// Open files an environment may have (soft and hard limit).
pub const ENV_MAX_OPEN_FILES: u64 = 1024;

/// Stack for the child between clone and exec (it only makes a few system calls).
const CHILD_STACK_BYTES: usize = 256 * 1024;

/// What to run.
pub(crate) struct ProcessSpec {
    /// Absolute path of the executable.
    pub(crate) program: PathBuf,
    /// Arguments after `argv[0]` (which is the program path).
    pub(crate) args: Vec<OsString>,
    /// The complete environment; a later entry wins over an earlier one with the same name.
    pub(crate) env: Vec<(String, String)>,
    pub(crate) cwd: PathBuf,
    /// Becomes both stdout and stderr. stdin is `/dev/null`.
    pub(crate) output: OwnedFd,
    /// An open `cgroup.procs` to join (cgroup v2 enforcement only).
    pub(crate) cgroup_procs: Option<OwnedFd>,
}

/// A started process: its pid (also its process group id) and a pidfd for waiting.
pub(crate) struct Started {
    pub(crate) pid: u32,
    pidfd: OwnedFd,
}

struct SpawnJob {
    spec: ProcessSpec,
    reply: oneshot::Sender<io::Result<Started>>,
}

/// Starts children from one dedicated thread.
pub(crate) struct Spawner {
    jobs: Mutex<mpsc::Sender<SpawnJob>>,
}

impl Spawner {
    pub(crate) fn start() -> io::Result<Spawner> {
        let (jobs, queue) = mpsc::channel::<SpawnJob>();
        std::thread::Builder::new().name("weir-spawner".into()).spawn(move || {
            let mut stack = vec![0u8; CHILD_STACK_BYTES];
            for job in queue {
                let result = spawn_retrying_busy_text(&job.spec, &mut stack);
                drop(job.spec); // closes the parent's copies of the child's descriptors
                // The caller gave up (its `spawn` future was dropped): nobody would
                // supervise this child, so it must not live on.
                if let Err(Ok(started)) = job.reply.send(result) {
                    signal_group(started.pid as i32, Signal::SIGKILL);
                    reap_blocking(started.pid as i32);
                }
            }
        })?;
        Ok(Spawner { jobs: Mutex::new(jobs) })
    }

    /// Starts `spec` on the spawner thread; returns once the child has exec'd.
    pub(crate) async fn spawn(&self, spec: ProcessSpec) -> io::Result<Started> {
        let (reply, result) = oneshot::channel();
        lock(&self.jobs).send(SpawnJob { spec, reply }).map_err(|_| io::Error::other("spawner thread is gone"))?;
        result.await.map_err(|_| io::Error::other("spawner thread dropped the request"))?
    }
}

/// `ETXTBSY` happens when another thread forked while a freshly written executable was still
/// open for writing; it clears as soon as that fork execs. Retry briefly.
fn spawn_retrying_busy_text(spec: &ProcessSpec, stack: &mut [u8]) -> io::Result<Started> {
    let prepared = Prepared::new(spec)?;
    let mut attempt = 0;
    loop {
        match spawn_once(&prepared, stack) {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && attempt < 20 => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

/// Everything the child needs, as C data, prepared before clone (the child must not allocate).
struct Prepared {
    program: CString,
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    _envp: Vec<CString>,
    envp_ptrs: Vec<*const libc::c_char>,
    cwd: CString,
    stdin: OwnedFd,
    output_fd: RawFd,
    cgroup_fd: RawFd,
    open_files: libc::rlim_t,
    parent_pid: libc::pid_t,
}

fn c_string(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte"))
}

impl Prepared {
    fn new(spec: &ProcessSpec) -> io::Result<Prepared> {
        let program = c_string(spec.program.as_os_str().as_bytes())?;
        let mut argv = vec![program.clone()];
        for arg in &spec.args {
            argv.push(c_string(arg.as_bytes())?);
        }
        let merged: BTreeMap<&str, &str> = spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let envp =
            merged.iter().map(|(k, v)| c_string(format!("{k}={v}").as_bytes())).collect::<io::Result<Vec<_>>>()?;
        let argv_ptrs = argv.iter().map(|a| a.as_ptr()).chain([std::ptr::null()]).collect();
        let envp_ptrs = envp.iter().map(|e| e.as_ptr()).chain([std::ptr::null()]).collect();
        let stdin = std::fs::File::open("/dev/null")?.into();
        let open_files = getrlimit(Resource::RLIMIT_NOFILE)
            .map(|(_, hard)| hard.min(ENV_MAX_OPEN_FILES))
            .unwrap_or(ENV_MAX_OPEN_FILES);
        Ok(Prepared {
            program,
            _argv: argv,
            argv_ptrs,
            _envp: envp,
            envp_ptrs,
            cwd: c_string(spec.cwd.as_os_str().as_bytes())?,
            stdin,
            output_fd: spec.output.as_raw_fd(),
            cgroup_fd: spec.cgroup_procs.as_ref().map_or(-1, AsRawFd::as_raw_fd),
            open_files,
            parent_pid: std::process::id() as libc::pid_t,
        })
    }
}

/// Passed to the child by pointer (the child shares our memory until it execs).
struct ChildArgs<'a> {
    prepared: &'a Prepared,
    error_fd: RawFd,
}

fn spawn_once(prepared: &Prepared, stack: &mut [u8]) -> io::Result<Started> {
    // Reports the errno of a failed set-up or exec; close-on-exec, so a successful exec
    // closes it and the read below sees end of file.
    let (error_read, error_write) = {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: pipe2 fills two descriptors we then own.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fresh descriptors owned by nobody else.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    };
    let args = ChildArgs { prepared, error_fd: error_write.as_raw_fd() };
    let stack_top = {
        let end = stack.as_mut_ptr_range().end as usize;
        (end & !0xF) as *mut libc::c_void
    };
    // SAFETY: signals are blocked so that no handler of ours runs in the child (which shares
    // our memory) before it resets them; the child only makes async-signal-safe system calls
    // on its own stack and execs or exits; CLONE_VFORK suspends this thread until then, so
    // `args`, `prepared` and `stack` outlive the child's use of them.
    let pid = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut previous: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut previous);
        let pid = libc::clone(
            child_main,
            stack_top,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            &args as *const ChildArgs<'_> as *mut libc::c_void,
        );
        let clone_error = io::Error::last_os_error();
        libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut());
        if pid < 0 {
            return Err(clone_error);
        }
        pid
    };
    drop(error_write);
    let mut errno_bytes = [0u8; 4];
    let read = loop {
        // SAFETY: reading into a local buffer from our own descriptor.
        let n = unsafe { libc::read(error_read.as_raw_fd(), errno_bytes.as_mut_ptr().cast(), 4) };
        if n >= 0 || last_errno() != libc::EINTR {
            break n;
        }
    };
    if read == errno_bytes.len() as isize {
        reap_blocking(pid);
        return Err(io::Error::from_raw_os_error(i32::from_ne_bytes(errno_bytes)));
    }
    // SAFETY: pidfd_open on a child we have not reaped, so the pid cannot have been reused.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if pidfd < 0 {
        let error = io::Error::last_os_error();
        signal_group(pid, Signal::SIGKILL);
        reap_blocking(pid);
        return Err(error);
    }
    Ok(Started {
        pid: pid as u32,
        // SAFETY: a fresh descriptor we own (pidfd_open sets close-on-exec).
        pidfd: unsafe { OwnedFd::from_raw_fd(pidfd as RawFd) },
    })
}

/// The child between clone and exec. Async-signal-safe system calls only; never returns.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `ChildArgs` the suspended parent keeps alive until we exec or exit.
    unsafe {
        let args = &*(arg as *const ChildArgs<'_>);
        let errno = set_up_and_exec(args.prepared);
        let bytes = errno.to_ne_bytes();
        libc::write(args.error_fd, bytes.as_ptr().cast(), bytes.len());
        libc::_exit(127)
    }
}

fn last_errno() -> libc::c_int {
    // SAFETY: reads the calling thread's errno.
    unsafe { *libc::__errno_location() }
}

/// Returns the errno of whatever failed (exec only returns on failure).
unsafe fn set_up_and_exec(p: &Prepared) -> libc::c_int {
    // SAFETY (whole body): plain system calls on data prepared by the parent.
    unsafe {
        // Handlers are the parent's code, and what the parent ignores (Rust ignores SIGPIPE,
        // `nohup` SIGHUP, ...) is not the function's business: every signal starts at its
        // default, as in a fresh Lambda environment. The raw system call also reaches the
        // signals libc reserves for itself. An all-zero kernel `sigaction` is SIG_DFL with no
        // flags and an empty mask on every architecture.
        let default = [0u64; 4];
        for signal in 1..=64 {
            if signal == libc::SIGKILL || signal == libc::SIGSTOP {
                continue;
            }
            libc::syscall(libc::SYS_rt_sigaction, signal, default.as_ptr(), std::ptr::null_mut::<u64>(), 8usize);
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());

        if libc::setpgid(0, 0) != 0 {
            return last_errno();
        }
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
            return last_errno();
        }
        // The parent may have died before prctl: then nobody would kill us.
        if libc::getppid() != p.parent_pid {
            return libc::ESRCH;
        }
        if libc::dup2(p.stdin.as_raw_fd(), 0) < 0 || libc::dup2(p.output_fd, 1) < 0 || libc::dup2(p.output_fd, 2) < 0 {
            return last_errno();
        }
        if libc::chdir(p.cwd.as_ptr()) != 0 {
            return last_errno();
        }
        if p.cgroup_fd >= 0 {
            // Writing "0" to cgroup.procs moves the writing process into that cgroup.
            if libc::write(p.cgroup_fd, b"0".as_ptr().cast(), 1) != 1 {
                return last_errno();
            }
        }
        // Before lowering RLIMIT_NOFILE (the fallback walks up to the current limit).
        mark_inherited_fds_cloexec();
        let no_core = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        let files = libc::rlimit { rlim_cur: p.open_files, rlim_max: p.open_files };
        if libc::setrlimit(libc::RLIMIT_CORE, &no_core) != 0 || libc::setrlimit(libc::RLIMIT_NOFILE, &files) != 0 {
            return last_errno();
        }
        libc::execve(p.program.as_ptr(), p.argv_ptrs.as_ptr(), p.envp_ptrs.as_ptr());
        last_errno()
    }
}

/// Descriptors weir inherited without `O_CLOEXEC` (a cargo jobserver pipe, a log file, ...)
/// must not reach functions. stdio is in place when this runs, so everything from 3 up is
/// marked close-on-exec. Async-signal-safe.
unsafe fn mark_inherited_fds_cloexec() {
    // SAFETY: close_range and fcntl are plain system calls on our own descriptor table.
    unsafe {
        let done = libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC);
        if done == 0 {
            return;
        }
        // Kernels before 5.11: walk the table (bounded by the descriptor limit).
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        let highest = if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur.min(65_536) as i32
        } else {
            4096
        };
        for fd in 3..highest {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 && flags & libc::FD_CLOEXEC == 0 {
                libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
            }
        }
    }
}

/// Waits for a child that is known to be exiting (or failed to exec).
fn reap_blocking(pid: libc::pid_t) {
    let mut status = 0;
    // SAFETY: waitpid on our own child.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0 && last_errno() == libc::EINTR {}
}

/// A running child, waited for through its pidfd on the tokio reactor.
pub(crate) struct ChildProcess {
    pid: libc::pid_t,
    pidfd: AsyncFd<OwnedFd>,
    reaped: bool,
}

/// How a process ended: exit code or terminating signal.
pub(crate) struct ExitStatus {
    pub(crate) code: Option<i32>,
    pub(crate) signal: Option<i32>,
}

impl ChildProcess {
    pub(crate) fn pid(&self) -> u32 {
        self.pid as u32
    }

    /// Must be called inside a tokio runtime.
    pub(crate) fn new(started: Started) -> io::Result<ChildProcess> {
        let pid = started.pid as libc::pid_t;
        // SAFETY: the AsyncFd owns the OwnedFd, which stays open for the AsyncFd's lifetime.
        let registered = unsafe { AsyncFd::register_with_interest(started.pidfd, tokio::io::Interest::READABLE) };
        match registered {
            Ok(pidfd) => Ok(ChildProcess { pid, pidfd, reaped: false }),
            Err(e) => {
                signal_group(pid, Signal::SIGKILL);
                reap_blocking(pid);
                Err(io::Error::other(e.to_string()))
            }
        }
    }

    /// Resolves when the process has exited, and reaps it.
    pub(crate) async fn wait(&mut self) -> io::Result<ExitStatus> {
        loop {
            let mut ready = self.pidfd.readable().await?;
            let mut status = 0;
            // SAFETY: waitpid on our own, not yet reaped child.
            let reaped = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
            if reaped == self.pid {
                self.reaped = true;
                return Ok(if libc::WIFEXITED(status) {
                    ExitStatus { code: Some(libc::WEXITSTATUS(status)), signal: None }
                } else if libc::WIFSIGNALED(status) {
                    ExitStatus { code: None, signal: Some(libc::WTERMSIG(status)) }
                } else {
                    ExitStatus { code: None, signal: None }
                });
            }
            if reaped == 0 {
                ready.clear_ready();
                continue;
            }
            if last_errno() == libc::EINTR {
                continue;
            }
            // Someone else reaped it (ECHILD): it is gone all the same.
            self.reaped = true;
            return Ok(ExitStatus { code: None, signal: None });
        }
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if !self.reaped {
            signal_group(self.pid, Signal::SIGKILL);
            let mut status = 0;
            // SAFETY: waitpid on our own child; non-blocking (a zombie may remain until the
            // kill lands, which only costs a process table entry).
            unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
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
