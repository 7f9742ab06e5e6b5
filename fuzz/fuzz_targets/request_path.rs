#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| cinnabar::fuzz::request_path(data));
