//! libFuzzer entry point of the `report_json` target (the checks live in `provmark_fuzz::report_json`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| provmark_fuzz::report_json(data));
