#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| cinnabar::fuzz::restore_payload(data));
