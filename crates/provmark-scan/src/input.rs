//! Input discovery and streaming: JSONL (plain, `.gz`, `.zst`), plain text, Parquet.
//!
//! * **JSONL** (`.jsonl`, `.ndjson`, `.json`, each optionally `.gz`/`.zst`; `-` is JSONL on
//!   standard input): one record per non-blank line; the text is the string field named by
//!   `--field` (default `text`). Blank lines are not records.
//! * **Plain text** (`.txt`, `.md`, optionally compressed, and any other file named explicitly
//!   on the command line): the whole file is one record whose id is the path.
//! * **Parquet** (`.parquet`): one record per row; the text is the string column named by
//!   `--field` (top-level column, UTF-8 byte array). Read through the `parquet` crate's record API.
//!
//! Directories are walked recursively in byte order of the path (so the input order, and with it
//! the evidence curve, is reproducible); inside directories only the extensions above are read
//! and hidden entries are ignored. Inside directories, symbolic links to files are read, but
//! links to directories are not followed (no loops, no escaping the named folder) and dangling
//! links are skipped; both are listed as [`SkippedInput`]s with the reason. Paths named on the
//! command line are always followed.
//!
//! Every input file's SHA-256 is computed over its raw (still compressed) bytes while it is
//! read, so the report names exactly the files that were scanned.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::error::{Result, ScanError};

/// How an input file is decoded into records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputFormat {
    /// One JSON object per line.
    Jsonl,
    /// The whole file is one record.
    Text,
    /// One row per record.
    Parquet,
}

/// Transparent decompression of an input file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// Raw bytes.
    None,
    /// gzip (multi-member streams are read to the end).
    Gzip,
    /// Zstandard.
    Zstd,
}

/// One input file, resolved from the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputFile {
    /// Path as given or found (`-` for standard input).
    pub path: PathBuf,
    /// Record format.
    pub format: InputFormat,
    /// Compression.
    pub compression: Compression,
    /// Size in bytes on disk (0 for standard input).
    pub size: u64,
}

impl InputFile {
    /// Whether this is standard input.
    pub fn is_stdin(&self) -> bool {
        self.path.as_os_str() == "-"
    }
}

fn classify(path: &Path) -> Option<(InputFormat, Compression)> {
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    let (stem, compression) = if let Some(s) = name.strip_suffix(".gz") {
        (s.to_string(), Compression::Gzip)
    } else if let Some(s) = name.strip_suffix(".zst") {
        (s.to_string(), Compression::Zstd)
    } else {
        (name.clone(), Compression::None)
    };
    let ext = Path::new(&stem).extension()?.to_string_lossy().to_string();
    let format = match ext.as_str() {
        "jsonl" | "ndjson" | "json" => InputFormat::Jsonl,
        "txt" | "md" | "text" => InputFormat::Text,
        "parquet" if compression == Compression::None => InputFormat::Parquet,
        _ => return None,
    };
    Some((format, compression))
}

/// An entry of an input folder that was not read.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SkippedInput {
    /// The entry's path.
    pub path: String,
    /// Why it was not read.
    pub reason: String,
}

/// Resolves command-line paths into input files: files by extension (unknown extensions are
/// read as plain text), directories recursively (known extensions only), `-` as JSONL on stdin.
/// Folder entries that are not read (links to folders, dangling links) are dropped; see
/// [`discover_all`] for the list.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<InputFile>> {
    discover_all(paths).map(|(files, _)| files)
}

/// [`discover`], also returning the folder entries that were skipped and why.
pub fn discover_all(paths: &[PathBuf]) -> Result<(Vec<InputFile>, Vec<SkippedInput>)> {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            out.push(InputFile {
                path: p.clone(),
                format: InputFormat::Jsonl,
                compression: Compression::None,
                size: 0,
            });
            continue;
        }
        let meta = std::fs::metadata(p).map_err(|e| ScanError::io(p, e))?;
        if meta.is_dir() {
            let before = out.len();
            walk(p, &mut out, &mut skipped)?;
            if out.len() == before {
                return Err(ScanError::Input {
                    path: p.clone(),
                    reason: "directory holds no .jsonl/.ndjson/.json/.txt/.md/.parquet file (optionally .gz/.zst)"
                        .into(),
                });
            }
        } else {
            let (format, compression) = classify(p).unwrap_or_else(|| {
                let name = p.to_string_lossy().to_ascii_lowercase();
                let c = if name.ends_with(".gz") {
                    Compression::Gzip
                } else if name.ends_with(".zst") {
                    Compression::Zstd
                } else {
                    Compression::None
                };
                (InputFormat::Text, c)
            });
            out.push(InputFile {
                path: p.clone(),
                format,
                compression,
                size: meta.len(),
            });
        }
    }
    Ok((out, skipped))
}

fn walk(dir: &Path, out: &mut Vec<InputFile>, skipped: &mut Vec<SkippedInput>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| ScanError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    entries.sort();
    for p in entries {
        let link = std::fs::symlink_metadata(&p).map_err(|e| ScanError::io(&p, e))?;
        let meta = if link.file_type().is_symlink() {
            match std::fs::metadata(&p) {
                Err(e) => {
                    skipped.push(SkippedInput {
                        path: p.display().to_string(),
                        reason: format!("dangling symbolic link ({e})"),
                    });
                    continue;
                }
                Ok(m) if m.is_dir() => {
                    skipped.push(SkippedInput {
                        path: p.display().to_string(),
                        reason: "symbolic link to a folder (not followed; name it on the command line to scan it)".into(),
                    });
                    continue;
                }
                Ok(m) => m,
            }
        } else {
            link
        };
        if meta.is_dir() {
            walk(&p, out, skipped)?;
        } else if let Some((format, compression)) = classify(&p) {
            out.push(InputFile {
                path: p,
                format,
                compression,
                size: meta.len(),
            });
        }
    }
    Ok(())
}

/// What the reader knows about a record's text before parsing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RawKind {
    /// A JSONL line (`text` is the whole line).
    JsonLine,
    /// A whole plain-text file (`text` is its bytes).
    PlainText,
    /// A Parquet row with the text column present and a string.
    Row,
    /// A Parquet row whose text column is null.
    RowMissing,
    /// A Parquet row whose text column is not a string.
    RowNotText,
}

/// One record as read, before parsing and tokenization. Byte ranges point into its batch.
#[derive(Clone, Debug)]
pub(crate) struct RawRecord {
    pub input: u32,
    /// 1-based line (JSONL), 0-based row (Parquet), 0 (plain text).
    pub locator: u64,
    pub kind: RawKind,
    pub text: Range<usize>,
    pub prompt: Option<Range<usize>>,
    pub id: Option<Range<usize>>,
}

/// A run of consecutive records sharing one byte buffer.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub seq: u64,
    /// Global index (input order) of the first record.
    pub first_record: u64,
    pub data: Vec<u8>,
    pub records: Vec<RawRecord>,
}

/// Field names to extract from JSONL records (columns of Parquet rows).
#[derive(Clone, Debug)]
pub struct Fields {
    /// The text field (`--field`).
    pub text: String,
    /// The prompt field (`--prompt-field`).
    pub prompt: Option<String>,
    /// The record id field (`--id-field`).
    pub id: Option<String>,
}

/// One record as a scan sees it before tokenization: its text, or why it is skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordView {
    /// 1-based line (JSONL, blank lines counted), 0-based row (Parquet), 0 (plain text).
    pub locator: u64,
    /// The text, or the reason the record is skipped before tokenization.
    pub text: std::result::Result<String, crate::SkipReason>,
    /// The prompt, when a prompt field was named and present.
    pub prompt: Option<String>,
    /// The record's id, when an id field was named and present.
    pub id: Option<String>,
}

/// Reads every record of one input file exactly as [`crate::scan`] would, without tokenizing:
/// each record comes back with its text or its skip reason. For tests and fuzzing; a scan
/// streams instead of collecting.
pub fn read_records(file: &InputFile, fields: &Fields) -> Result<Vec<RecordView>> {
    struct Collect<'f> {
        fields: &'f Fields,
        buf: Vec<u8>,
        out: Vec<RecordView>,
    }
    impl RecordSink for Collect<'_> {
        fn push(
            &mut self,
            _: u32,
            locator: u64,
            kind: RawKind,
            fill: &mut dyn FnMut(&mut Vec<u8>) -> RawRanges,
        ) -> bool {
            self.buf.clear();
            let r = fill(&mut self.buf);
            let reader_id =
                r.id.as_ref()
                    .map(|i| String::from_utf8_lossy(&self.buf[i.clone()]).into_owned());
            let prompt = r.prompt.as_ref().map(|p| &self.buf[p.clone()]);
            let view = match crate::record::extract(&kind, &self.buf[r.text], prompt, self.fields) {
                Ok(x) => RecordView {
                    locator,
                    text: Ok(x.text.into_owned()),
                    prompt: x.prompt.map(std::borrow::Cow::into_owned),
                    id: x.id.or(reader_id),
                },
                Err((reason, id)) => RecordView {
                    locator,
                    text: Err(reason),
                    prompt: None,
                    id: id.or(reader_id),
                },
            };
            self.out.push(view);
            true
        }
    }
    let mut sink = Collect {
        fields,
        buf: Vec::new(),
        out: Vec::new(),
    };
    read_file(0, file, fields, &mut sink, None)?;
    Ok(sink.out)
}

/// What the reader learned about one file.
#[derive(Clone, Debug)]
pub(crate) struct FileDigest {
    pub sha256: String,
    pub bytes: u64,
}

/// Counts raw bytes and hashes them as they pass.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
    progress: Option<Arc<AtomicU64>>,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        if let Some(p) = &self.progress {
            p.fetch_add(n as u64, Ordering::Relaxed);
        }
        Ok(n)
    }
}

impl<R: Read> HashingReader<R> {
    fn finish(mut self) -> std::io::Result<FileDigest> {
        // A decompressor may stop before the end (trailing bytes); hash everything.
        std::io::copy(
            &mut self.inner,
            &mut HashSink(&mut self.hasher, &mut self.bytes),
        )?;
        Ok(FileDigest {
            sha256: hex::encode(self.hasher.finalize()),
            bytes: self.bytes,
        })
    }
}

struct HashSink<'a>(&'a mut Sha256, &'a mut u64);
impl std::io::Write for HashSink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        *self.1 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Receives records from the reader; returns `false` to stop reading.
pub(crate) trait RecordSink {
    /// Adds one record whose bytes were appended by `fill` to the current batch's buffer.
    fn push(
        &mut self,
        input: u32,
        locator: u64,
        kind: RawKind,
        fill: &mut dyn FnMut(&mut Vec<u8>) -> RawRanges,
    ) -> bool;
}

/// Byte ranges filled by a reader into the batch buffer.
pub(crate) struct RawRanges {
    pub text: Range<usize>,
    pub prompt: Option<Range<usize>>,
    pub id: Option<Range<usize>>,
}

/// Reads one input file, pushing each record into `sink`. Returns its digest.
pub(crate) fn read_file(
    index: u32,
    file: &InputFile,
    fields: &Fields,
    sink: &mut dyn RecordSink,
    progress: Option<Arc<AtomicU64>>,
) -> Result<FileDigest> {
    let path = &file.path;
    let io = |e| ScanError::io(path, e);
    if file.format == InputFormat::Parquet {
        return read_parquet(index, file, fields, sink, progress);
    }
    let raw: Box<dyn Read> = if file.is_stdin() {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(File::open(path).map_err(io)?)
    };
    let mut hashing = HashingReader {
        inner: raw,
        hasher: Sha256::new(),
        bytes: 0,
        progress,
    };
    {
        let buffered = BufReader::with_capacity(1 << 20, &mut hashing);
        let mut decoded: Box<dyn BufRead + '_> = match file.compression {
            Compression::None => Box::new(buffered),
            Compression::Gzip => Box::new(BufReader::with_capacity(
                1 << 20,
                flate2::bufread::MultiGzDecoder::new(buffered),
            )),
            Compression::Zstd => Box::new(BufReader::with_capacity(
                1 << 20,
                zstd::stream::read::Decoder::with_buffer(buffered).map_err(io)?,
            )),
        };
        match file.format {
            InputFormat::Text => {
                let mut all = Vec::new();
                decoded.read_to_end(&mut all).map_err(io)?;
                sink.push(index, 0, RawKind::PlainText, &mut |buf| {
                    let start = buf.len();
                    buf.extend_from_slice(&all);
                    RawRanges {
                        text: start..buf.len(),
                        prompt: None,
                        id: None,
                    }
                });
            }
            InputFormat::Jsonl => {
                let mut line = Vec::with_capacity(1 << 12);
                let mut number = 0u64;
                loop {
                    line.clear();
                    let n = decoded.read_until(b'\n', &mut line).map_err(io)?;
                    if n == 0 {
                        break;
                    }
                    number += 1;
                    let mut end = line.len();
                    while end > 0 && matches!(line[end - 1], b'\n' | b'\r') {
                        end -= 1;
                    }
                    if line[..end].iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    let more = sink.push(index, number, RawKind::JsonLine, &mut |buf| {
                        let start = buf.len();
                        buf.extend_from_slice(&line[..end]);
                        RawRanges {
                            text: start..buf.len(),
                            prompt: None,
                            id: None,
                        }
                    });
                    if !more {
                        break;
                    }
                }
            }
            InputFormat::Parquet => unreachable!("handled above"),
        }
    }
    hashing.finish().map_err(io)
}

/// A Parquet file whose readers fail once they keep reading at the end of the file.
///
/// The `parquet` crate skips an unknown page-header field of type double, UUID or binary by
/// copying its bytes into a sink and ignores a short copy, so a header claiming a list of 2^31
/// doubles right before the end of the file makes it read the exhausted file 2^31 times — hours
/// on one 426-byte file (found by fuzzing). A well-formed file is never read past its end more
/// than a few times, so the readers this file hands out give an error after
/// [`EofGuard::LIMIT`] empty reads.
struct EofGuardedFile(File);

/// A reader that turns endless reading at end-of-file into an error (see [`EofGuardedFile`]).
struct EofGuard<R> {
    inner: R,
    empty_reads: u32,
}

impl<R> EofGuard<R> {
    const LIMIT: u32 = 64;
}

impl<R: Read> Read for EofGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.empty_reads += 1;
            if self.empty_reads > Self::LIMIT {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the file ends inside a page (a corrupt page header keeps reading past it)",
                ));
            }
        }
        Ok(n)
    }
}

impl parquet::file::reader::Length for EofGuardedFile {
    fn len(&self) -> u64 {
        parquet::file::reader::Length::len(&self.0)
    }
}

impl parquet::file::reader::ChunkReader for EofGuardedFile {
    type T = EofGuard<<File as parquet::file::reader::ChunkReader>::T>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(EofGuard {
            inner: self.0.get_read(start)?,
            empty_reads: 0,
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<bytes::Bytes> {
        self.0.get_bytes(start, length)
    }
}

fn read_parquet(
    index: u32,
    file: &InputFile,
    fields: &Fields,
    sink: &mut dyn RecordSink,
    progress: Option<Arc<AtomicU64>>,
) -> Result<FileDigest> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;
    use parquet::schema::types::Type;

    let path = &file.path;
    let io = |e| ScanError::io(path, e);
    let pq = |e: parquet::errors::ParquetError| ScanError::Parquet {
        path: path.clone(),
        reason: e.to_string(),
    };
    // Hash in a separate streaming pass (the record reader seeks around the file).
    let mut f = File::open(path).map_err(io)?;
    let digest = HashingReader {
        inner: &mut f,
        hasher: Sha256::new(),
        bytes: 0,
        progress,
    }
    .finish()
    .map_err(io)?;
    f.seek(SeekFrom::Start(0)).map_err(io)?;
    let reader = SerializedFileReader::new(EofGuardedFile(f)).map_err(pq)?;
    // The decoder trusts the footer's byte ranges (and panics on negative ones): check every
    // column chunk lies inside the file before reading a row. Found by fuzzing.
    for rg in reader.metadata().row_groups() {
        for c in rg.columns() {
            let start = c
                .dictionary_page_offset()
                .unwrap_or_else(|| c.data_page_offset());
            let len = c.compressed_size();
            let inside = start >= 0
                && len >= 0
                && start
                    .checked_add(len)
                    .is_some_and(|end| u64::try_from(end).is_ok_and(|e| e <= digest.bytes));
            if !inside {
                return Err(ScanError::Parquet {
                    path: path.clone(),
                    reason: format!(
                        "corrupt metadata: column chunk `{}` claims bytes outside the file",
                        c.column_path()
                    ),
                });
            }
        }
    }
    let schema = reader.metadata().file_metadata().schema();
    let wanted: Vec<&str> = std::iter::once(fields.text.as_str())
        .chain(fields.prompt.as_deref())
        .chain(fields.id.as_deref())
        .collect();
    let mut projected = Vec::new();
    for name in &wanted {
        if let Some(t) = schema.get_fields().iter().find(|t| t.name() == *name) {
            if !projected.iter().any(|p: &Arc<Type>| p.name() == t.name()) {
                projected.push(t.clone());
            }
        } else if *name == fields.text {
            return Err(ScanError::Input {
                path: path.clone(),
                reason: format!("parquet file has no top-level column `{name}` (use --field)"),
            });
        }
    }
    let projection = Type::group_type_builder(schema.name())
        .with_fields(projected)
        .build()
        .map_err(pq)?;
    // The `parquet` crate asserts (panics) on some corrupt pages instead of returning an error
    // (found by fuzzing: bit-packed runs longer than their buffer). A corrupt file must be a
    // clean error naming it, so the decoding is isolated here.
    let decode = std::panic::AssertUnwindSafe(|| -> Result<()> {
        // A dictionary page's header sets how many values the decoder allocates for, whatever the
        // page holds (found by fuzzing: a 30 GB allocation from a few hundred bytes, an abort no
        // unwinding can catch). Every value takes at least one bit of the page: check that first.
        for i in 0..reader.num_row_groups() {
            let rg = reader.get_row_group(i).map_err(pq)?;
            for j in 0..rg.num_columns() {
                // Only the columns this scan reads (a column it skips is never decoded).
                let parts = rg.metadata().column(j).column_path().parts();
                if parts.len() != 1 || !wanted.contains(&parts[0].as_str()) {
                    continue;
                }
                let mut pages = rg.get_column_page_reader(j).map_err(pq)?;
                if let Some(parquet::column::page::Page::DictionaryPage {
                    buf, num_values, ..
                }) = pages.get_next_page().map_err(pq)?
                {
                    if u64::from(num_values) > 8 * buf.len() as u64 + 8 {
                        return Err(ScanError::Parquet {
                            path: path.clone(),
                            reason: format!(
                                "corrupt dictionary page: {num_values} values claimed in {} bytes",
                                buf.len()
                            ),
                        });
                    }
                }
            }
        }
        let rows = reader.get_row_iter(Some(projection)).map_err(pq)?;
        for (row_number, row) in rows.enumerate() {
            let row = row.map_err(pq)?;
            let mut text: Option<Option<&String>> = None; // None: null/absent; Some(None): not a string
            let mut prompt = None;
            let mut id: Option<String> = None;
            for (name, value) in row.get_column_iter() {
                if name == &fields.text {
                    text = match value {
                        Field::Str(s) => Some(Some(s)),
                        Field::Null => None,
                        _ => Some(None),
                    };
                }
                if fields.prompt.as_deref() == Some(name.as_str()) {
                    if let Field::Str(s) = value {
                        prompt = Some(s);
                    }
                }
                if fields.id.as_deref() == Some(name.as_str()) {
                    id = match value {
                        Field::Str(s) => Some(s.clone()),
                        Field::Null => None,
                        other => Some(other.to_string()),
                    };
                }
            }
            let kind = match text {
                None => RawKind::RowMissing,
                Some(None) => RawKind::RowNotText,
                Some(Some(_)) => RawKind::Row,
            };
            let more = sink.push(index, row_number as u64, kind, &mut |buf| {
                let put = |buf: &mut Vec<u8>, s: &str| {
                    let start = buf.len();
                    buf.extend_from_slice(s.as_bytes());
                    start..buf.len()
                };
                let t = match text {
                    Some(Some(s)) => put(buf, s),
                    _ => buf.len()..buf.len(),
                };
                RawRanges {
                    text: t,
                    prompt: prompt.map(|s| put(buf, s)),
                    id: id.as_deref().map(|s| put(buf, s)),
                }
            });
            if !more {
                break;
            }
        }
        Ok(())
    });
    match std::panic::catch_unwind(decode) {
        Ok(r) => r?,
        Err(_) => {
            return Err(ScanError::Parquet {
                path: path.clone(),
                reason: "the decoder failed on corrupt data in the file".into(),
            })
        }
    }
    Ok(digest)
}
