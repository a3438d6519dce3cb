//! libFuzzer entry point of the `http_body` target (the checks live in `provmark_fuzz::http_body`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| provmark_fuzz::http_body(data));
