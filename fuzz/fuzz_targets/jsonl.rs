//! libFuzzer entry point of the `jsonl` target (the checks live in `provmark_fuzz::jsonl`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| provmark_fuzz::jsonl(data));
