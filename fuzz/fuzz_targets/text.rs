//! libFuzzer entry point of the `text` target (the checks live in `provmark_fuzz::text`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| provmark_fuzz::text(data));
