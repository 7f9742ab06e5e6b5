//! Memory accounting: a global allocator wrapper that counts live heap bytes, which INFO
//! reports as `used_memory` (Redis's zmalloc keeps the same counter), plus RSS from /proc.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
static INSTALLED: AtomicUsize = AtomicUsize::new(0);

/// Wraps the system allocator and counts bytes. The binary installs it as #[global_allocator].
pub struct CountingAlloc;

// SAFETY: forwards to System unchanged; only adds relaxed counter updates.
unsafe impl GlobalAlloc for CountingAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        INSTALLED.store(1, Ordering::Relaxed);
        // SAFETY: caller upholds GlobalAlloc's contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: caller upholds GlobalAlloc's contract.
        unsafe { System.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: caller upholds GlobalAlloc's contract.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: caller upholds GlobalAlloc's contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            ALLOCATED.fetch_add(new_size, Ordering::Relaxed);
            ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

/// Live heap bytes (0 if the counting allocator is not installed, e.g. in unit tests).
pub fn used_memory() -> usize {
    if INSTALLED.load(Ordering::Relaxed) == 0 {
        return rss_bytes();
    }
    ALLOCATED.load(Ordering::Relaxed)
}

/// Resident set size from /proc/self/statm.
pub fn rss_bytes() -> usize {
    let Ok(s) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: usize = s
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * page_size()
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as usize
    } else {
        4096
    }
}

/// Physical memory of the machine (INFO total_system_memory).
pub fn total_system_memory() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let (pages, size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    if pages > 0 && size > 0 {
        pages as u64 * size as u64
    } else {
        0
    }
}

#[cfg(jemalloc)]
mod jemalloc {
    use std::ffi::{c_char, c_int, c_void, CStr};

    extern "C" {
        fn mallctl(
            name: *const c_char,
            oldp: *mut c_void,
            oldlenp: *mut usize,
            newp: *mut c_void,
            newlen: usize,
        ) -> c_int;
        fn malloc_stats_print(
            write_cb: Option<unsafe extern "C" fn(*mut c_void, *const c_char)>,
            cbopaque: *mut c_void,
            opts: *const c_char,
        );
    }

    /// jemalloc's version, "5.3.0-0-g<hash>".
    pub fn version() -> String {
        let mut v: *const c_char = std::ptr::null();
        let mut len = std::mem::size_of::<*const c_char>();
        // SAFETY: "version" reads a `const char *` into `v`, whose size we pass.
        let rc = unsafe {
            mallctl(
                c"version".as_ptr(),
                (&mut v as *mut *const c_char).cast(),
                &mut len,
                std::ptr::null_mut(),
                0,
            )
        };
        if rc != 0 || v.is_null() {
            return String::new();
        }
        // SAFETY: jemalloc returns a static NUL-terminated string.
        unsafe { CStr::from_ptr(v) }.to_string_lossy().into_owned()
    }

    unsafe extern "C" fn append(opaque: *mut c_void, text: *const c_char) {
        // SAFETY: `opaque` is the String passed below; `text` is NUL-terminated.
        unsafe {
            let out = &mut *opaque.cast::<String>();
            out.push_str(&CStr::from_ptr(text).to_string_lossy());
        }
    }

    /// malloc_stats_print's report (MEMORY MALLOC-STATS).
    pub fn stats() -> String {
        let mut out = String::new();
        // SAFETY: the callback only appends to `out`, which outlives the call.
        unsafe {
            malloc_stats_print(
                Some(append),
                (&mut out as *mut String).cast(),
                std::ptr::null(),
            )
        };
        out
    }

    /// A size_t statistic by name.
    fn read_size(name: &CStr) -> Option<u64> {
        let mut v: usize = 0;
        let mut len = std::mem::size_of::<usize>();
        // SAFETY: reads a size_t into `v`, whose size we pass.
        let rc = unsafe {
            mallctl(
                name.as_ptr(),
                (&mut v as *mut usize).cast(),
                &mut len,
                std::ptr::null_mut(),
                0,
            )
        };
        (rc == 0).then_some(v as u64)
    }

    /// jemalloc's allocated, active and resident bytes, fresh (Redis's
    /// zmalloc_get_allocator_info): the epoch is advanced first, as the stats are cached.
    pub fn allocator_info() -> Option<(u64, u64, u64)> {
        let mut epoch: u64 = 1;
        let mut len = std::mem::size_of::<u64>();
        // SAFETY: "epoch" reads and writes a uint64_t; both pointers are to `epoch`.
        unsafe {
            mallctl(
                c"epoch".as_ptr(),
                (&mut epoch as *mut u64).cast(),
                &mut len,
                (&mut epoch as *mut u64).cast(),
                std::mem::size_of::<u64>(),
            );
        }
        Some((
            read_size(c"stats.allocated")?,
            read_size(c"stats.active")?,
            read_size(c"stats.resident")?,
        ))
    }

    /// An errno as strerror words it (what DEBUG MALLCTL replies).
    fn strerror(code: c_int) -> String {
        std::io::Error::from_raw_os_error(code)
            .to_string()
            .split(" (os error")
            .next()
            .unwrap_or_default()
            .to_string()
    }

    /// Redis's mallctl_int: reads (and with `new` writes) an integer setting, trying 8, 4, 2
    /// and 1 bytes until the size matches; a write-only setting is just written.
    pub fn mallctl_int(name: &str, new: Option<i64>) -> Result<Option<i64>, String> {
        let name = std::ffi::CString::new(name).map_err(|_| strerror(libc::EINVAL))?;
        let mut val = new.unwrap_or(0);
        let mut sz = std::mem::size_of::<i64>();
        while sz > 0 {
            let mut old: i64 = 0;
            let newp = if new.is_some() {
                (&mut val as *mut i64).cast()
            } else {
                std::ptr::null_mut()
            };
            let newlen = if new.is_some() { sz } else { 0 };
            // jemalloc shrinks `sz` to what it copied on a size mismatch, and Redis halves
            // that, so a 4-byte setting ends in EINVAL there too: the same answers.
            // SAFETY: `old` has 8 bytes and `sz <= 8`; `newp` points at `val` (8 bytes).
            let ret = unsafe {
                mallctl(
                    name.as_ptr(),
                    (&mut old as *mut i64).cast(),
                    &mut sz,
                    newp,
                    newlen,
                )
            };
            match ret {
                0 => return Ok(Some(old)),
                libc::EPERM if new.is_some() => {
                    // SAFETY: a write-only setting: no old value, `val` as the new one.
                    let ret = unsafe {
                        mallctl(
                            name.as_ptr(),
                            std::ptr::null_mut(),
                            std::ptr::null_mut(),
                            (&mut val as *mut i64).cast(),
                            sz,
                        )
                    };
                    if ret == 0 {
                        return Ok(None);
                    }
                    return Err(strerror(ret));
                }
                // A smaller integer, perhaps (little-endian: the low bytes come first).
                libc::EINVAL => sz /= 2,
                other => return Err(strerror(other)),
            }
        }
        Err(strerror(libc::EINVAL))
    }

    /// Redis's mallctl_string: the string setting's value, then (with `new`) writes it; "VOID"
    /// calls a setting that takes no value (thread.tcache.flush).
    pub fn mallctl_str(name: &str, new: Option<&[u8]>) -> Result<Option<String>, String> {
        let name = std::ffi::CString::new(name).map_err(|_| strerror(libc::EINVAL))?;
        let mut old: *const c_char = std::ptr::null();
        let mut sz = std::mem::size_of::<*const c_char>();
        // SAFETY: reads a `const char *` into `old`, whose size we pass.
        let rret = unsafe {
            mallctl(
                name.as_ptr(),
                (&mut old as *mut *const c_char).cast(),
                &mut sz,
                std::ptr::null_mut(),
                0,
            )
        };
        if rret != 0 && !(rret == libc::EPERM && new.is_some()) {
            return Err(strerror(rret));
        }
        let mut wret = 0;
        if let Some(v) = new {
            let value = std::ffi::CString::new(v).map_err(|_| strerror(libc::EINVAL))?;
            let mut ptr = value.as_ptr();
            let (newp, newlen): (*mut c_void, usize) = if v == b"VOID" {
                (std::ptr::null_mut(), 0)
            } else {
                (
                    (&mut ptr as *mut *const c_char).cast(),
                    std::mem::size_of::<*const c_char>(),
                )
            };
            // SAFETY: `newp` is null or points at a pointer to a NUL-terminated string that
            // outlives the call.
            wret = unsafe {
                mallctl(
                    name.as_ptr(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    newp,
                    newlen,
                )
            };
        }
        if rret == 0 {
            // SAFETY: jemalloc returned a NUL-terminated string it owns (or null).
            let text = (!old.is_null()).then(|| {
                unsafe { CStr::from_ptr(old) }
                    .to_string_lossy()
                    .into_owned()
            });
            return Ok(Some(text.unwrap_or_default()));
        }
        if wret != 0 {
            return Err(strerror(wret));
        }
        Ok(None)
    }

    /// Returns dirty pages of every arena to the system (MEMORY PURGE).
    pub fn purge() {
        // MALLCTL_ARENAS_ALL is 4096.
        // SAFETY: a void mallctl: no old or new value.
        unsafe {
            mallctl(
                c"arena.4096.purge".as_ptr(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                0,
            );
        }
    }
}

/// The allocator behind malloc, as INFO mem_allocator names it ("jemalloc-5.3.0" or "libc").
pub fn allocator() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        #[cfg(jemalloc)]
        {
            let v = jemalloc::version();
            format!("jemalloc-{}", v.split('-').next().unwrap_or(""))
        }
        #[cfg(not(jemalloc))]
        {
            "libc".to_string()
        }
    })
}

/// The allocator's statistics report, if it has one (MEMORY MALLOC-STATS).
pub fn allocator_stats() -> Option<String> {
    #[cfg(jemalloc)]
    {
        Some(jemalloc::stats())
    }
    #[cfg(not(jemalloc))]
    {
        None
    }
}

/// Asks the allocator to return unused memory to the system (MEMORY PURGE).
pub fn purge() {
    #[cfg(jemalloc)]
    jemalloc::purge();
}

/// DEBUG MALLCTL: an integer jemalloc setting (Ok(None): written, nothing to show); None
/// without jemalloc, where the subcommand does not exist (as in a Redis built with libc).
pub fn mallctl_int(name: &str, new: Option<i64>) -> Option<Result<Option<i64>, String>> {
    #[cfg(jemalloc)]
    {
        Some(jemalloc::mallctl_int(name, new))
    }
    #[cfg(not(jemalloc))]
    {
        let _ = (name, new);
        None
    }
}

/// DEBUG MALLCTL-STR: a string jemalloc setting; None without jemalloc.
pub fn mallctl_str(name: &str, new: Option<&[u8]>) -> Option<Result<Option<String>, String>> {
    #[cfg(jemalloc)]
    {
        Some(jemalloc::mallctl_str(name, new))
    }
    #[cfg(not(jemalloc))]
    {
        let _ = (name, new);
        None
    }
}

/// The allocator's allocated, active and resident bytes (INFO's allocator_* fields and
/// their ratios), None without jemalloc.
pub fn allocator_info() -> Option<(u64, u64, u64)> {
    #[cfg(jemalloc)]
    {
        jemalloc::allocator_info()
    }
    #[cfg(not(jemalloc))]
    {
        None
    }
}
