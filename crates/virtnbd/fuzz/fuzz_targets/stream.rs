#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| virtnbd_fuzz::check_stream(data));
