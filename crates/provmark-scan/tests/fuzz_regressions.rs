//! Inputs the fuzzers (`fuzz/`) found to crash a reader, minimised, kept as regression tests:
//! each must now be a clean error or a skipped record, never a panic.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::path::PathBuf;

use provmark_scan::input::{read_records, Compression, Fields, InputFile, InputFormat};
use provmark_scan::ScanError;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn parquet_error(name: &str) -> String {
    let path = data(name);
    let size = std::fs::metadata(&path).unwrap().len();
    let file = InputFile {
        path,
        format: InputFormat::Parquet,
        compression: Compression::None,
        size,
    };
    let fields = Fields {
        text: "text".into(),
        prompt: None,
        id: Some("id".into()),
    };
    match read_records(&file, &fields) {
        Err(ScanError::Parquet { reason, .. }) => reason,
        other => panic!("{name}: expected a Parquet error, got {other:?}"),
    }
}

/// A page whose bit-packed run is longer than its buffer: the `parquet` crate panics inside
/// its decoder (found by the `parquet` target after 61,191 runs); the scan isolates the decoder.
#[test]
fn parquet_with_a_bit_packed_overrun_is_a_clean_error() {
    // Since the dictionary check reads each column's first page, this file's corrupt schema is
    // refused there, before the decoder (whose panic isolation stays for other corrupt pages).
    let reason = parquet_error("fuzz-parquet-bitpacked-overrun.parquet");
    assert!(reason.contains("Unexpected struct field type"), "{reason}");
}

/// A Parquet footer whose column chunk has a negative offset: the `parquet` crate asserts on
/// it while iterating rows (found by the `parquet` target after 8,049 runs).
#[test]
fn parquet_with_a_negative_column_offset_is_a_clean_error() {
    let reason = parquet_error("fuzz-parquet-negative-column-offset.parquet");
    assert!(reason.contains("corrupt metadata"), "{reason}");
}

/// A dictionary page whose header claims billions of values in a few hundred bytes: the
/// `parquet` crate allocated for all of them (30 GB: an abort, not a panic; found by the
/// `parquet` target after 258,425 runs). The header is now checked against the page first.
#[test]
fn parquet_with_an_oversized_dictionary_is_a_clean_error() {
    let reason = parquet_error("fuzz-parquet-dictionary-num-values.parquet");
    assert!(reason.contains("corrupt dictionary page"), "{reason}");
}

/// A page header with an unknown field holding a list of 2^31 doubles, right before the end of
/// the file: the `parquet` crate skipped each double by reading the exhausted file again, so
/// this 426-byte file kept a scan busy for hours (found by the `parquet` target, a timeout after
/// 187,326 runs). The scan's file reader now fails after a few reads at the end of the file.
#[test]
fn parquet_with_a_page_header_that_reads_past_the_end_is_a_clean_error() {
    let reason = parquet_error("fuzz-parquet-page-header-skip-past-eof.parquet");
    assert!(reason.contains("ends inside a page"), "{reason}");
}
