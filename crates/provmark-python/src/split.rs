//! The scan split for map-reduce engines ([`provmark_scan::split`]): a map over record columns
//! (NumPy arrays from Arrow buffers, no Python object per record or pair), a fold over the
//! deduplicated pairs of one reduce partition, and the finish call on the driver. Used by
//! `provmark.spark`; any engine that can group rows by a 64-bit key can drive it.

use std::path::Path;

use numpy::{PyArray1, PyReadonlyArray1};
use provmark_core::Profile as CoreProfile;
use provmark_scan::report::RunInfo;
use provmark_scan::split::{
    finish, CorpusPieces, Folder, MapPairs, MapRecord, Mapper, Piece, RecordResults, SplitSettings,
};
use provmark_scan::InputSummary;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::{value_err, Profile};

fn settings(json: &str) -> PyResult<SplitSettings> {
    serde_json::from_str(json).map_err(|e| value_err(format!("bad split settings: {e}")))
}

/// A profile from the JSON bytes a task received (errors never quote the bytes).
fn profile_from(bytes: &[u8]) -> PyResult<CoreProfile> {
    let text = std::str::from_utf8(bytes).map_err(|_| value_err("profile bytes are not UTF-8"))?;
    CoreProfile::from_json(text, Path::new("<broadcast profile>")).map_err(value_err)
}

/// The profile as JSON bytes, secret included: what a driver broadcasts to its executors (in
/// memory; never write it to a file name, a log or a job description).
#[pyfunction]
pub(crate) fn _split_profile_bytes<'py>(py: Python<'py>, profile: &Profile) -> Bound<'py, PyBytes> {
    PyBytes::new(py, profile.inner.to_json().as_bytes())
}

/// Byte ranges of an Arrow-style string column: `offsets` (n + 1) into `data`; `valid` (n) or
/// None when no value is null.
struct Column<'a> {
    data: &'a [u8],
    offsets: &'a [i64],
    valid: Option<&'a [bool]>,
}

impl<'a> Column<'a> {
    fn check(&self, n: usize, name: &str) -> PyResult<()> {
        if self.offsets.len() != n + 1 || self.valid.is_some_and(|v| v.len() != n) {
            return Err(value_err(format!(
                "{name}: {} offsets / {:?} validity flags for {n} records",
                self.offsets.len(),
                self.valid.map(<[bool]>::len)
            )));
        }
        Ok(())
    }

    fn get(&self, i: usize) -> PyResult<Option<&'a [u8]>> {
        if self.valid.is_some_and(|v| !v[i]) {
            return Ok(None);
        }
        let (a, b) = (self.offsets[i], self.offsets[i + 1]);
        let bad = || value_err(format!("bad offsets {a}..{b} at record {i}"));
        let a = usize::try_from(a).map_err(|_| bad())?;
        let b = usize::try_from(b).map_err(|_| bad())?;
        self.data.get(a..b).map(Some).ok_or_else(bad)
    }
}

/// The map side of a split scan (one per task; reuse across tasks is fine).
#[pyclass(module = "provmark._provmark")]
pub struct SplitMapper {
    inner: Mapper,
}

type MapOut<'py> = (
    Bound<'py, PyArray1<u64>>,
    Bound<'py, PyArray1<u64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<u8>>,
    Bound<'py, PyArray1<u64>>,
    Bound<'py, PyArray1<u64>>,
    Bound<'py, PyArray1<f64>>,
);

#[pymethods]
impl SplitMapper {
    /// `profile`: the profile's JSON bytes; `settings`: [`SplitSettings`] as JSON.
    #[new]
    fn new(py: Python<'_>, profile: &[u8], settings_json: &str) -> PyResult<Self> {
        let p = profile_from(profile)?;
        let s = settings(settings_json)?;
        let inner = py
            .allow_threads(|| Mapper::new(&p, &s))
            .map_err(value_err)?;
        Ok(SplitMapper { inner })
    }

    /// Ids per pair in the `ids` output (context width + 1 with accounts, else 0).
    #[getter]
    fn stride(&self) -> usize {
        self.inner.stride()
    }

    /// Maps records. `kind`: `jsonl` (text = whole JSON lines, no prompt column), `rows` (text
    /// and prompt columns) or `not_text` (a text column that is not a string: its non-null
    /// values are skipped as `not_text`). `ordinals`: each record's global input ordinal.
    ///
    /// Returns (pair fingerprint, pair ordinal, pair score, pair ids flat, record status,
    /// record tokens, record scored tokens, record log10 p) as NumPy arrays.
    #[pyo3(signature = (kind, ordinals, text_data, text_offsets, text_valid=None, prompt_data=None, prompt_offsets=None, prompt_valid=None))]
    #[allow(clippy::too_many_arguments)]
    fn map<'py>(
        &mut self,
        py: Python<'py>,
        kind: &str,
        ordinals: PyReadonlyArray1<'py, i64>,
        text_data: PyReadonlyArray1<'py, u8>,
        text_offsets: PyReadonlyArray1<'py, i64>,
        text_valid: Option<PyReadonlyArray1<'py, bool>>,
        prompt_data: Option<PyReadonlyArray1<'py, u8>>,
        prompt_offsets: Option<PyReadonlyArray1<'py, i64>>,
        prompt_valid: Option<PyReadonlyArray1<'py, bool>>,
    ) -> PyResult<MapOut<'py>> {
        let ords = ordinals.as_slice()?;
        let n = ords.len();
        let text = Column {
            data: text_data.as_slice()?,
            offsets: text_offsets.as_slice()?,
            valid: text_valid.as_ref().map(|v| v.as_slice()).transpose()?,
        };
        text.check(n, "text")?;
        let prompt = match (&prompt_data, &prompt_offsets) {
            (Some(d), Some(o)) => Some(Column {
                data: d.as_slice()?,
                offsets: o.as_slice()?,
                valid: prompt_valid.as_ref().map(|v| v.as_slice()).transpose()?,
            }),
            (None, None) => None,
            _ => return Err(value_err("prompt_data and prompt_offsets go together")),
        };
        if let Some(p) = &prompt {
            p.check(n, "prompt")?;
        }
        #[derive(Clone, Copy)]
        enum Kind {
            Jsonl,
            Rows,
            NotText,
        }
        let kind = match kind {
            "jsonl" => Kind::Jsonl,
            "rows" => Kind::Rows,
            "not_text" => Kind::NotText,
            other => return Err(value_err(format!("unknown record kind {other:?}"))),
        };
        let mapper = &mut self.inner;
        let (pairs, results) = py.allow_threads(|| -> PyResult<(MapPairs, RecordResults)> {
            let mut pairs = MapPairs::default();
            let mut results = RecordResults::default();
            for (i, &ord) in ords.iter().enumerate() {
                let ord =
                    u64::try_from(ord).map_err(|_| value_err(format!("negative ordinal {ord}")))?;
                let t = text.get(i)?;
                let rec = match kind {
                    Kind::Jsonl => match t {
                        Some(line) => MapRecord::JsonLine(line),
                        None => return Err(value_err(format!("null JSON line at record {i}"))),
                    },
                    Kind::Rows => MapRecord::Row {
                        text: t,
                        prompt: match &prompt {
                            Some(p) => p.get(i)?,
                            None => None,
                        },
                    },
                    Kind::NotText => match t {
                        Some(_) => MapRecord::RowNotText,
                        None => MapRecord::Row {
                            text: None,
                            prompt: None,
                        },
                    },
                };
                mapper
                    .map(rec, ord, &mut pairs, &mut results)
                    .map_err(value_err)?;
            }
            Ok((pairs, results))
        })?;
        Ok((
            PyArray1::from_vec(py, pairs.fp),
            PyArray1::from_vec(py, pairs.ord),
            PyArray1::from_vec(py, pairs.score),
            PyArray1::from_vec(py, pairs.ids),
            PyArray1::from_vec(py, results.status),
            PyArray1::from_vec(py, results.tokens),
            PyArray1::from_vec(py, results.scored_tokens),
            PyArray1::from_vec(py, results.log10_p),
        ))
    }

    /// The record sums since the last call, as (counter index, value) arrays (non-zero only);
    /// then reset.
    fn take_counters<'py>(
        &mut self,
        py: Python<'py>,
    ) -> (Bound<'py, PyArray1<u32>>, Bound<'py, PyArray1<u64>>) {
        let (i, v): (Vec<u32>, Vec<u64>) = self.inner.take_counts().counters().into_iter().unzip();
        (PyArray1::from_vec(py, i), PyArray1::from_vec(py, v))
    }
}

/// The fold side of a split scan: one per reduce partition.
#[pyclass(module = "provmark._provmark")]
pub struct SplitFolder {
    inner: Folder,
}

#[pymethods]
impl SplitFolder {
    /// `profile`: the profile's JSON bytes; `settings`: [`SplitSettings`] as JSON;
    /// `records_total`: records of the pass (counted before the map).
    #[new]
    fn new(profile: &[u8], settings_json: &str, records_total: u64) -> PyResult<Self> {
        let p = profile_from(profile)?;
        let s = settings(settings_json)?;
        Ok(SplitFolder {
            inner: Folder::new(&p, &s, records_total).map_err(value_err)?,
        })
    }

    /// Adds deduplicated pairs: each one's smallest ordinal, its score and (with accounts) its
    /// ids, `stride` per pair.
    #[pyo3(signature = (ordinals, scores, ids=None))]
    fn add_pairs(
        &mut self,
        py: Python<'_>,
        ordinals: PyReadonlyArray1<'_, i64>,
        scores: PyReadonlyArray1<'_, f64>,
        ids: Option<PyReadonlyArray1<'_, u32>>,
    ) -> PyResult<()> {
        let ords = ordinals.as_slice()?;
        let scores = scores.as_slice()?;
        let ids = ids
            .as_ref()
            .map(|a| a.as_slice())
            .transpose()?
            .unwrap_or(&[]);
        let stride = self.inner.stride();
        if scores.len() != ords.len() || ids.len() != stride * ords.len() {
            return Err(value_err(format!(
                "{} ordinals, {} scores, {} ids (stride {stride})",
                ords.len(),
                scores.len(),
                ids.len()
            )));
        }
        let folder = &mut self.inner;
        py.allow_threads(|| -> PyResult<()> {
            for (i, (&ord, &score)) in ords.iter().zip(scores).enumerate() {
                let ord =
                    u64::try_from(ord).map_err(|_| value_err(format!("negative ordinal {ord}")))?;
                folder
                    .add_pair(ord, score, &ids[i * stride..(i + 1) * stride])
                    .map_err(value_err)?;
            }
            Ok(())
        })
    }

    /// Adds record counters (as [`SplitMapper::take_counters`] gives them).
    fn add_counters(
        &mut self,
        index: PyReadonlyArray1<'_, i64>,
        values: PyReadonlyArray1<'_, i64>,
    ) -> PyResult<()> {
        let (index, values) = (index.as_slice()?, values.as_slice()?);
        if index.len() != values.len() {
            return Err(value_err("counter indexes and values differ in length"));
        }
        for (&i, &v) in index.iter().zip(values) {
            let i = u32::try_from(i).map_err(|_| value_err(format!("bad counter {i}")))?;
            let v = u64::try_from(v).map_err(|_| value_err(format!("negative counter {v}")))?;
            self.inner.add_counter(i, v).map_err(value_err)?;
        }
        Ok(())
    }

    /// The piece folded so far (bytes for [`_split_finish`]; counts and sums, no secret).
    fn piece<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let p = self.inner.piece().map_err(value_err)?;
        Ok(PyBytes::new(py, &p.to_bytes().map_err(value_err)?))
    }
}

fn corpus(records_total: u64, inputs_json: &str, pieces: Vec<Vec<u8>>) -> PyResult<CorpusPieces> {
    let inputs: Vec<InputSummary> = serde_json::from_str(inputs_json)
        .map_err(|e| value_err(format!("bad inputs list: {e}")))?;
    let pieces = pieces
        .iter()
        .map(|b| Piece::from_bytes(b))
        .collect::<Result<Vec<_>, _>>()
        .map_err(value_err)?;
    Ok(CorpusPieces {
        records_total,
        inputs,
        pieces,
    })
}

/// The sealed report (JSON text) of a split scan from its pieces: `main` and `control` are
/// (records_total, inputs as JSON, pieces).
#[pyfunction]
#[pyo3(signature = (profile, settings_json, main, control=None, threads=1, elapsed_seconds=0.0))]
pub(crate) fn _split_finish(
    py: Python<'_>,
    profile: &Profile,
    settings_json: &str,
    main: (u64, String, Vec<Vec<u8>>),
    control: Option<(u64, String, Vec<Vec<u8>>)>,
    threads: usize,
    elapsed_seconds: f64,
) -> PyResult<String> {
    let s = settings(settings_json)?;
    let main = corpus(main.0, &main.1, main.2)?;
    let control = control.map(|c| corpus(c.0, &c.1, c.2)).transpose()?;
    let inner = &profile.inner;
    py.allow_threads(|| {
        let run = RunInfo {
            threads,
            memory_budget_bytes: 0,
            spilled_runs: 0,
            elapsed_seconds,
        };
        let mut report = finish(inner, &s, main, control, run).map_err(|e| e.to_string())?;
        let sealed = report.seal(inner).map_err(|e| e.to_string())?;
        String::from_utf8(sealed).map_err(|e| e.to_string())
    })
    .map_err(value_err)
}

/// Registers the split classes and functions.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<SplitMapper>()?;
    m.add_class::<SplitFolder>()?;
    m.add_function(wrap_pyfunction!(_split_finish, m)?)?;
    m.add_function(wrap_pyfunction!(_split_profile_bytes, m)?)?;
    Ok(())
}
