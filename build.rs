// Compiles the small C helper that gives us the platform's `long double` (x87 80-bit on x86_64)
// and libc's strtod/strtold, so INCRBYFLOAT and score parsing round exactly as Redis does.
//
// Links jemalloc, Redis's allocator, when the system has its static library (Debian's
// libjemalloc-dev): it is unprefixed, so it replaces malloc for the whole process, and
// `alloc::allocator()` reports it. Without it the build uses libc's malloc and says so.
// CINNABAR_ALLOCATOR=libc opts out.
fn main() {
    println!("cargo:rerun-if-changed=src/util/ldouble.c");
    println!("cargo:rerun-if-env-changed=CINNABAR_ALLOCATOR");
    println!("cargo:rerun-if-env-changed=JEMALLOC_LIB_DIR");
    println!("cargo::rustc-check-cfg=cfg(jemalloc)");
    // Crash and watchdog reports name the functions on the stack (backtrace_symbols reads the
    // dynamic symbol table), as Redis's -rdynamic build does.
    println!("cargo:rustc-link-arg-bins=-rdynamic");
    cc::Build::new()
        .file("src/util/ldouble.c")
        .opt_level(2)
        .compile("cinnabar_ldouble");
    if std::env::var("CINNABAR_ALLOCATOR").as_deref() == Ok("libc") {
        return;
    }
    let dirs = std::env::var("JEMALLOC_LIB_DIR")
        .map(|d| vec![d])
        .unwrap_or_else(|_| {
            vec![
                "/usr/lib/x86_64-linux-gnu".to_string(),
                "/usr/lib/aarch64-linux-gnu".to_string(),
                "/usr/lib64".to_string(),
                "/usr/lib".to_string(),
            ]
        });
    // The PIC archive links into position-independent executables (Rust's default).
    for dir in dirs {
        let lib = std::path::Path::new(&dir).join("libjemalloc_pic.a");
        println!("cargo:rerun-if-changed={}", lib.display());
        if lib.exists() {
            println!("cargo:rustc-link-search=native={dir}");
            println!("cargo:rustc-link-lib=static=jemalloc_pic");
            println!("cargo:rustc-cfg=jemalloc");
            return;
        }
    }
    println!(
        "cargo:warning=jemalloc's static library not found (install libjemalloc-dev): \
         using libc malloc"
    );
}
