//! libFuzzer entry point of the `parquet` target (the checks live in `provmark_fuzz::parquet`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| provmark_fuzz::parquet(data));
