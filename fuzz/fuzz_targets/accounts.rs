//! libFuzzer entry point of the `accounts` target (the checks live in `provmark_fuzz::accounts`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| provmark_fuzz::accounts(data));
