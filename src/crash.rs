//! Crash reports (Redis's sigsegvHandler and _serverPanic, with `crash-log-enabled yes`): on
//! SIGSEGV, SIGBUS, SIGFPE, SIGILL or SIGABRT, and on DEBUG SEGFAULT / PANIC / ASSERT, the
//! log gets Redis's bug-report lines (the signal, who sent it, a STACK TRACE) before the
//! signal's default action ends the process, leaving a core dump where enabled.
//!
//! The report is written from the signal handler: only stack buffers, write(2) on the log's
//! descriptor, and glibc's backtrace (loaded once at install so it does not allocate then).

use std::sync::atomic::{AtomicBool, Ordering};

use crate::log::{write_raw, RawLine};

const SIGNALS: [libc::c_int; 5] = [
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGFPE,
    libc::SIGILL,
    libc::SIGABRT,
];

static ENABLED: AtomicBool = AtomicBool::new(false);
/// Only the server process handles crashes itself (tests and fuzzers keep their own).
static SERVER: AtomicBool = AtomicBool::new(false);

/// Marks this process as the server: crash-log-enabled takes effect from now on.
pub fn init_for_server(on: bool) {
    SERVER.store(true, Ordering::SeqCst);
    set_enabled(on);
}

/// Installs (or removes) the crash handlers, following crash-log-enabled.
pub fn set_enabled(on: bool) {
    if !SERVER.load(Ordering::SeqCst) || ENABLED.swap(on, Ordering::SeqCst) == on {
        return;
    }
    if on {
        warm_up_backtrace();
    }
    for sig in SIGNALS {
        set_action(sig, on);
    }
}

/// Installs our crash handler for `sig`, or its default action.
fn set_action(sig: libc::c_int, ours: bool) {
    // SAFETY: a zeroed sigaction is valid; the handler has the SA_SIGINFO signature;
    // sigaction is async-signal-safe (this also runs in the handler, before dying).
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        libc::sigemptyset(&mut act.sa_mask);
        if ours {
            act.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER | libc::SA_RESETHAND;
            act.sa_sigaction = on_crash_signal as *const () as usize;
        } else {
            act.sa_sigaction = libc::SIG_DFL;
        }
        libc::sigaction(sig, &act, std::ptr::null_mut());
    }
}

extern "C" fn on_crash_signal(sig: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    write_raw(b"\n\n=== REDIS BUG REPORT START: Cut & paste starting from here ===\n");
    let mut line = RawLine::log_prefix(b'#');
    line.push(b"Redis ");
    line.push(crate::config::REDIS_VERSION.as_bytes());
    line.push(b" crashed by signal: ");
    line.number(sig as i64);
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let info = unsafe { &*info };
    line.push(b", si_code: ");
    line.number(info.si_code as i64);
    line.end();
    if sig == libc::SIGSEGV || sig == libc::SIGBUS {
        let mut line = RawLine::log_prefix(b'#');
        line.push(b"Accessing address: 0x");
        // SAFETY: si_addr is valid for the fault signals.
        line.hex(unsafe { info.si_addr() } as u64);
        line.end();
    }
    if info.si_code == libc::SI_USER || info.si_code == libc::SI_QUEUE {
        let mut line = RawLine::log_prefix(b'#');
        line.push(b"Killed by PID: ");
        // SAFETY: si_pid/si_uid are set for signals sent by a process.
        let (pid, uid) = unsafe { (info.si_pid(), info.si_uid()) };
        line.number(pid as i64);
        line.push(b", UID: ");
        line.number(uid as i64);
        line.end();
    }
    stack_trace_and_die(sig);
}

/// DEBUG PANIC and DEBUG ASSERT (Redis's _serverPanic and _serverAssert): the report, then
/// SIGABRT's default action.
pub fn software_failure(assertion: bool, message: &str) -> ! {
    if assertion {
        write_raw(b"\n\n=== ASSERTION FAILED ===\n");
        let mut line = RawLine::log_prefix(b'#');
        line.push(b"==> ");
        line.push(message.as_bytes());
        line.end();
    } else {
        for text in [
            &b"------------------------------------------------"[..],
            b"!!! Software Failure. Press left mouse button to continue",
        ] {
            let mut line = RawLine::log_prefix(b'#');
            line.push(text);
            line.end();
        }
        let mut line = RawLine::log_prefix(b'#');
        line.push(b"Guru Meditation: ");
        line.push(message.as_bytes());
        line.end();
    }
    if ENABLED.load(Ordering::SeqCst) {
        write_raw(b"\n\n=== REDIS BUG REPORT START: Cut & paste starting from here ===\n");
        stack_trace_and_die(libc::SIGABRT);
    }
    die(libc::SIGABRT)
}

/// The calling thread's stack, on the log (from signal handlers: no allocation).
fn write_stack_trace() {
    write_raw(b"\n------ STACK TRACE ------\n\nBacktrace:\n");
    let mut frames = [std::ptr::null_mut(); 100];
    // SAFETY: the buffer holds the frame count given; backtrace_symbols_fd writes to the
    // log descriptor without allocating.
    unsafe {
        let n = libc::backtrace(frames.as_mut_ptr(), frames.len() as libc::c_int);
        libc::backtrace_symbols_fd(frames.as_ptr(), n, crate::log::raw_fd());
    }
}

/// The first backtrace() call loads libgcc_s (and allocates): done ahead, not in a handler
/// that may have interrupted malloc.
fn warm_up_backtrace() {
    let mut frames = [std::ptr::null_mut(); 4];
    // SAFETY: the buffer holds the frame count given.
    unsafe { libc::backtrace(frames.as_mut_ptr(), frames.len() as libc::c_int) };
}

/// The watchdog's signal (Redis's SIGALRM): the thread it is sent to logs where it is.
pub const WATCHDOG_SIGNAL: libc::c_int = libc::SIGALRM;

/// Installs the watchdog's handler (watchdog-period): the executor thread, interrupted
/// where it is stuck, writes Redis's "WATCHDOG TIMER EXPIRED" report with its stack.
pub fn install_watchdog_handler() {
    warm_up_backtrace();
    // SAFETY: a zeroed sigaction is valid; the handler has the SA_SIGINFO signature.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        libc::sigemptyset(&mut act.sa_mask);
        act.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
        act.sa_sigaction = on_watchdog_signal as *const () as usize;
        libc::sigaction(WATCHDOG_SIGNAL, &act, std::ptr::null_mut());
    }
}

extern "C" fn on_watchdog_signal(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
    crate::log::from_signal_handler("\n--- WATCHDOG TIMER EXPIRED ---");
    write_stack_trace();
    crate::log::from_signal_handler("--------\n");
}

fn stack_trace_and_die(sig: libc::c_int) -> ! {
    write_stack_trace();
    write_raw(
        b"\n=== REDIS BUG REPORT END. Make sure to include from START to END. ===\n\n\
          \x20      Please report the crash by opening an issue on cinnabar's tracker.\n\n",
    );
    die(sig)
}

/// Ends the process with `sig`'s default action (a core dump for these signals).
fn die(sig: libc::c_int) -> ! {
    set_action(sig, false);
    // SAFETY: unblocking and raising the signal are async-signal-safe.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(sig);
        libc::_exit(1)
    }
}

/// DEBUG SEGFAULT: a write to an address that is never mapped.
pub fn segfault() -> ! {
    // SAFETY: deliberately faults; the handler (or the default action) ends the process.
    unsafe {
        std::ptr::write_volatile(usize::MAX as *mut u8, b'x');
    }
    die(libc::SIGSEGV)
}
