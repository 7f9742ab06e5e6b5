//! DEBUG RESTART and DEBUG CRASH-AND-RECOVER (Redis's restartServer): the process becomes
//! the server again, from its executable and original command line, keeping its pid.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;

/// Closes every descriptor above stderr (the listeners, clients and files go; stdout and
/// stderr stay, as a server that is not daemonized logs there), waits `delay_ms`, then
/// executes the server again. Returns only if that failed.
pub fn exec_again(delay_ms: u64) -> String {
    let Some((exe, argv)) = crate::proctitle::exec_line() else {
        return "Can't restart: the command line is not known".to_string();
    };
    let to_c = |s: &[u8]| CString::new(s).ok();
    let Some(path) = to_c(exe.as_os_str().as_bytes()) else {
        return "Can't restart: the executable's path holds a NUL".to_string();
    };
    // SAFETY: access() reads the path only.
    if unsafe { libc::access(path.as_ptr(), libc::X_OK) } != 0 {
        return format!(
            "Can't restart: this process has no permissions to execute {}",
            exe.display()
        );
    }
    let args: Vec<CString> = argv.iter().filter_map(|a| to_c(a.as_bytes())).collect();
    let mut ptrs: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    close_descriptors_from(3);
    if delay_ms > 0 {
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
    }
    // SAFETY: NUL-terminated strings and a null-terminated array that outlive the call; on
    // success the process image is replaced.
    unsafe { libc::execv(path.as_ptr(), ptrs.as_ptr()) };
    // Nothing of the old server is left to go back to (its descriptors are closed).
    // SAFETY: ends the process at once.
    unsafe { libc::_exit(1) }
}

fn close_descriptors_from(first: i32) {
    let fds: Vec<i32> = match std::fs::read_dir("/proc/self/fd") {
        Ok(dir) => dir
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .filter(|&fd| fd >= first)
            .collect(),
        Err(_) => (first..1024).collect(),
    };
    for fd in fds {
        // SAFETY: the process is about to be replaced; nothing uses these descriptors again.
        unsafe { libc::close(fd) };
    }
}
