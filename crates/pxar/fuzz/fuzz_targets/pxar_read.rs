#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pxar_fuzz::check(data));
