//! `provmark serve`: an OpenAI-compatible chat endpoint that watermarks every answer with the key
//! of the account it is served to, and remembers what it served.
//!
//! * [`accounts`] — API keys → account ids; the file stores only keyed hashes of the keys.
//! * [`served_log`] — one synced JSON line per answer with the keyed context fingerprints served
//!   (read directly by `provmark scan --filter-from`).
//! * [`api`] — the OpenAI subset: `POST /v1/chat/completions` (JSON and server-sent events),
//!   `GET /v1/models`, errors in OpenAI's shape.
//! * [`engine`] — the model worker: requests wait in a bounded queue for one model instance;
//!   every token is chosen by [`provmark_embed::Embedder`] under the account's subkey.
//!
//! The HTTP side runs on tokio with axum; the model runs on its own thread (a forward pass is
//! seconds of CPU work that must not block the async runtime). Shutdown on SIGTERM or Ctrl-C:
//! the listener closes, the answer being generated finishes, requests still queued get 503.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod accounts;
pub mod api;
pub mod engine;
mod error;
pub mod served_log;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use provmark_core::Profile;
use provmark_model::{ChatTemplate, Llama, Sampling};
use provmark_tokenize::Tokenizer;
use serde_json::json;
use tokio::sync::mpsc;

pub use accounts::Accounts;
pub use api::{ApiError, ChatRequest};
pub use engine::Quota;
pub use error::{Result, ServeError};

use engine::{Event, Job, QuotaBook, Worker};

/// Temperature used for a request's `temperature: 0` (near-greedy: the watermark then has almost
/// no room, as with any keyed sampler).
pub const NEAR_GREEDY: f32 = 1e-3;

/// Everything `provmark serve` needs.
pub struct ServeConfig {
    /// The model (loaded).
    pub model: Llama,
    /// Its tokenizer.
    pub tokenizer: Tokenizer,
    /// The watermark profile (made for this tokenizer).
    pub profile: Profile,
    /// The accounts.
    pub accounts: Accounts,
    /// The name clients give as `model`.
    pub model_id: String,
    /// Where to listen (loopback unless the operator says otherwise).
    pub listen: SocketAddr,
    /// False for `--no-watermark` (the baseline).
    pub watermark: bool,
    /// The served log.
    pub served_log: PathBuf,
    /// Also log each answer's text.
    pub log_text: bool,
    /// Rotate the served log past this many bytes.
    pub rotate_bytes: u64,
    /// Requests that may wait for the model (beyond it: 503).
    pub queue: usize,
    /// Largest request body (beyond it: 413).
    pub max_body_bytes: usize,
    /// `max_tokens` when the request gives none.
    pub default_max_tokens: usize,
    /// Largest `max_tokens` accepted.
    pub max_tokens_limit: usize,
    /// `temperature` when the request gives none.
    pub default_temperature: f32,
    /// Per-account token quota.
    pub quota: Option<Quota>,
}

struct AppState {
    accounts: Accounts,
    tok: Arc<Tokenizer>,
    template: ChatTemplate,
    model_id: String,
    context_length: usize,
    watermark: bool,
    default_max_tokens: usize,
    max_tokens_limit: usize,
    default_temperature: f32,
    quota: Option<Quota>,
    book: Arc<QuotaBook>,
    draining: Arc<AtomicBool>,
    generating: Arc<AtomicBool>,
    jobs: mpsc::Sender<Job>,
    queue: usize,
}

/// Runs the server until SIGTERM or Ctrl-C, then shuts down gracefully. Prints
/// `provmark serve: listening on http://ADDR` on standard output once `GET /health` answers.
pub fn run(cfg: ServeConfig) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(ServeError::Net)?;
    rt.block_on(serve(cfg, shutdown_signal()))
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Serves until `shutdown` completes (see [`run`]).
pub async fn serve(
    cfg: ServeConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    if cfg.queue == 0 {
        return Err(ServeError::Config(
            "the queue must hold at least one request".into(),
        ));
    }
    if cfg.accounts.is_empty() {
        return Err(ServeError::Config(
            "the accounts file has no accounts: add one with `provmark accounts add --accounts FILE NAME`".into(),
        ));
    }
    let tok = Arc::new(cfg.tokenizer);
    let template = ChatTemplate::for_tokenizer(&tok)?;
    let log = served_log::ServedLog::open(&cfg.served_log, cfg.rotate_bytes)?;
    let draining = Arc::new(AtomicBool::new(false));
    let book = Arc::new(QuotaBook::default());
    let generating = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel::<Job>(cfg.queue);
    let context_length = cfg.model.config().context_length;
    let worker = Worker {
        model: cfg.model,
        tok: tok.clone(),
        template: template.clone(),
        profile: cfg.profile,
        watermark: cfg.watermark,
        log,
        log_text: cfg.log_text,
        quota: cfg.quota,
        book: book.clone(),
        draining: draining.clone(),
        generating: generating.clone(),
    };
    let worker = std::thread::Builder::new()
        .name("provmark-model".into())
        .spawn(move || worker.run(rx))
        .map_err(ServeError::Net)?;
    let state = Arc::new(AppState {
        accounts: cfg.accounts,
        tok,
        template,
        model_id: cfg.model_id,
        context_length,
        watermark: cfg.watermark,
        default_max_tokens: cfg.default_max_tokens,
        max_tokens_limit: cfg.max_tokens_limit,
        default_temperature: cfg.default_temperature,
        quota: cfg.quota,
        book,
        draining: draining.clone(),
        generating,
        jobs: tx,
        queue: cfg.queue,
    });
    let app = router(state, cfg.max_body_bytes);
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(ServeError::Net)?;
    let addr = listener.local_addr().map_err(ServeError::Net)?;
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "provmark serve: listening on http://{addr}");
        let _ = out.flush();
    }
    let drain = draining.clone();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            drain.store(true, Ordering::SeqCst);
            eprintln!("provmark serve: shutting down: finishing the answer in flight");
        })
        .await
        .map_err(ServeError::Net);
    // The router (and with it the queue's sender) is gone: the worker ends after its last job.
    let _ = tokio::task::spawn_blocking(move || worker.join()).await;
    eprintln!("provmark serve: stopped");
    result
}

fn router(state: Arc<AppState>, max_body: usize) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/v1/models", get(models))
        .route("/v1/models/{id}", get(model_one))
        .route("/v1/chat/completions", post(chat))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        Some("unknown_url"),
        "unknown URL",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request_error",
        Some("method_not_allowed"),
        "method not allowed for this URL",
    )
}

async fn health(State(s): State<Arc<AppState>>) -> Json<serde_json::Value> {
    Json(json!({
        "status": if s.draining.load(Ordering::SeqCst) { "draining" } else { "ok" },
        "model": s.model_id,
        "watermark": s.watermark,
        "generating": s.generating.load(Ordering::SeqCst),
        "queued": s.queue - s.jobs.capacity(),
    }))
}

/// The account of the request's bearer key, or 401.
fn authenticate<'a>(s: &'a AppState, headers: &HeaderMap) -> Result<&'a str, ApiError> {
    let unauthorized = |msg: &str| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            Some("invalid_api_key"),
            msg,
        )
    };
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Err(unauthorized("no API key: send `Authorization: Bearer KEY`"));
    };
    let key = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| unauthorized("the Authorization header must be `Bearer KEY`"))?;
    s.accounts
        .lookup(key)
        .ok_or_else(|| unauthorized("incorrect API key"))
}

fn model_object(id: &str) -> serde_json::Value {
    json!({"id": id, "object": "model", "created": 0, "owned_by": "provmark"})
}

async fn models(State(s): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    match authenticate(&s, &headers) {
        Ok(_) => {
            Json(json!({"object": "list", "data": [model_object(&s.model_id)]})).into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn model_one(
    State(s): State<Arc<AppState>>,
    axum::extract::Path(id): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = authenticate(&s, &headers) {
        return e.into_response();
    }
    if id == s.model_id {
        Json(model_object(&s.model_id)).into_response()
    } else {
        unknown_model(&id).into_response()
    }
}

fn unknown_model(id: &str) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        message: format!("the model {id:?} does not exist on this server"),
        kind: "invalid_request_error",
        code: Some("model_not_found"),
        param: Some("model".into()),
    }
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    // Without OS randomness the seed falls back to the clock (sampling stays valid).
    if getrandom::getrandom(&mut b).is_err() {
        return std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
    }
    u64::from_le_bytes(b)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn chat(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match chat_inner(s, headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn chat_inner(
    s: Arc<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let account = authenticate(&s, &headers)?.to_string();
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                Some("request_too_large"),
                "the request body is larger than this server accepts",
            )
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                None,
                e.body_text(),
            )
        }
    })?;
    let req = ChatRequest::parse(&body)?;
    if req.model != s.model_id {
        return Err(unknown_model(&req.model));
    }
    let max_tokens = req.max_tokens.unwrap_or(s.default_max_tokens);
    if max_tokens > s.max_tokens_limit {
        return Err(ApiError::bad(
            "max_tokens",
            format!(
                "max_tokens is at most {} on this server",
                s.max_tokens_limit
            ),
        ));
    }
    let messages: Vec<(&str, &str)> = req
        .messages
        .iter()
        .map(|(r, c)| (r.as_str(), c.as_str()))
        .collect();
    let prompt_ids = s.template.conversation(&s.tok, &messages);
    if prompt_ids.len() >= s.context_length {
        return Err(ApiError {
            code: Some("context_length_exceeded"),
            ..ApiError::bad(
                "messages",
                format!(
                    "the conversation is {} tokens; the model's context is {}",
                    prompt_ids.len(),
                    s.context_length
                ),
            )
        });
    }
    let temperature = match req.temperature.unwrap_or(s.default_temperature) {
        t if t <= 0.0 => NEAR_GREEDY,
        t => t,
    };
    let top_p = match req.top_p {
        Some(p) if p <= 0.0 => return Err(ApiError::bad("top_p", "top_p must be above 0")),
        Some(p) => p,
        None => 1.0,
    };
    if let Some(q) = &s.quota {
        if s.book.remaining(q, &account) == 0 {
            return Err(engine::quota_error());
        }
    }
    if s.draining.load(Ordering::SeqCst) {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            Some("shutting_down"),
            "the server is shutting down",
        ));
    }
    let request_id = format!("chatcmpl-{:016x}{:08x}", random_u64(), random_u64() as u32);
    let (etx, mut erx) = mpsc::unbounded_channel();
    let job = Job {
        account,
        request_id: request_id.clone(),
        prompt_ids,
        sampling: Sampling {
            max_tokens,
            temperature,
            top_p,
            top_k: 0,
            seed: req.seed.unwrap_or_else(random_u64),
        },
        stop: req.stop.clone(),
        events: etx,
    };
    s.jobs.try_send(job).map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            Some("server_busy"),
            format!(
                "the server is busy ({} requests waiting); retry later",
                s.queue
            ),
        )
    })?;
    match erx.recv().await {
        Some(Event::Started) => {}
        Some(Event::Failed(e)) => return Err(e),
        _ => {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                None,
                "the model worker stopped",
            ))
        }
    }
    let created = unix_now();
    if !req.stream {
        let mut text = String::new();
        loop {
            match erx.recv().await {
                Some(Event::Text(t)) => text.push_str(&t),
                Some(Event::Done { finish, usage }) => return Ok(Json(json!({
                    "id": request_id, "object": "chat.completion", "created": created,
                    "model": s.model_id, "system_fingerprint": null,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                 "logprobs": null, "finish_reason": api::finish_reason(finish)}],
                    "usage": usage,
                }))
                .into_response()),
                Some(Event::Failed(e)) => return Err(e),
                Some(Event::Started) | None => {
                    return Err(ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "server_error",
                        None,
                        "the model worker stopped",
                    ))
                }
            }
        }
    }
    let chunk = {
        let id = request_id.clone();
        let model = s.model_id.clone();
        move |delta: serde_json::Value, finish: Option<&str>| {
            json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                   "system_fingerprint": null,
                   "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
        }
    };
    let first = SseEvent::default()
        .data(chunk(json!({"role": "assistant", "content": ""}), None).to_string());
    let include_usage = req.include_usage;
    let usage_chunk = {
        let id = request_id.clone();
        let model = s.model_id.clone();
        move |usage: api::Usage| {
            json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                   "system_fingerprint": null, "choices": [], "usage": usage})
        }
    };
    struct St {
        rx: mpsc::UnboundedReceiver<Event>,
        pending: std::collections::VecDeque<SseEvent>,
        done: bool,
    }
    let st = St {
        rx: erx,
        pending: std::collections::VecDeque::from([first]),
        done: false,
    };
    let stream = futures_util::stream::unfold(st, move |mut st| {
        let chunk = chunk.clone();
        let usage_chunk = usage_chunk.clone();
        async move {
            loop {
                if let Some(e) = st.pending.pop_front() {
                    return Some((Ok::<_, std::convert::Infallible>(e), st));
                }
                if st.done {
                    return None;
                }
                let data = |v: serde_json::Value| SseEvent::default().data(v.to_string());
                match st.rx.recv().await {
                    Some(Event::Text(t)) => st
                        .pending
                        .push_back(data(chunk(json!({"content": t}), None))),
                    Some(Event::Done { finish, usage }) => {
                        st.pending
                            .push_back(data(chunk(json!({}), Some(api::finish_reason(finish)))));
                        if include_usage {
                            st.pending.push_back(data(usage_chunk(usage)));
                        }
                        st.pending.push_back(SseEvent::default().data("[DONE]"));
                        st.done = true;
                    }
                    Some(Event::Failed(e)) => {
                        st.pending.push_back(data(e.body()));
                        st.done = true;
                    }
                    Some(Event::Started) => {}
                    None => st.done = true,
                }
            }
        }
    });
    Ok(Sse::new(stream).into_response())
}
