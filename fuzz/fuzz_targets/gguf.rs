//! libFuzzer entry point of the `gguf` target (the checks live in `provmark_fuzz::gguf`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| provmark_fuzz::gguf(data));
