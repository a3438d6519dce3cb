//! libFuzzer entry point of the `profile_json` target (the checks live in `provmark_fuzz::profile_json`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| provmark_fuzz::profile_json(data));
