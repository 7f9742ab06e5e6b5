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
