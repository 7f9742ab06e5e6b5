// Compiles the small C helper that gives us the platform's `long double` (x87 80-bit on x86_64)
// and libc's strtod/strtold, so INCRBYFLOAT and score parsing round exactly as Redis does.
fn main() {
    println!("cargo:rerun-if-changed=src/util/ldouble.c");
    cc::Build::new()
        .file("src/util/ldouble.c")
        .opt_level(2)
        .compile("cinnabar_ldouble");
}
