//! libFuzzer entry point of the `token_ids` target (the checks live in `provmark_fuzz::token_ids`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| provmark_fuzz::token_ids(data));
