#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vma_fuzz::check(data));
