#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| camcertd_fuzz::run_multipart(data));
