//! Runs a function's compiled binary as a real Lambda process for one invocation: a small
//! Runtime API emulator hands it an event and collects its answer. The tests drive every
//! function through it; `local-api invoke` (and so `make purge`) runs one by hand.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::Notify;

/// The request id the emulator gives the invocation.
pub const REQUEST_ID: &str = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";

/// How long the invocation may run, as Lambda's deadline.
const TIMEOUT: Duration = Duration::from_secs(300);

/// What an invocation came to.
#[derive(Debug)]
pub struct Invocation {
    /// `("response" | "error" | "init_error", body)`, or `None` if the process exited (or
    /// hung) without answering.
    pub outcome: Option<(String, String)>,
    /// Everything the process printed, stdout then stderr.
    pub logs: String,
    /// From the spawn to the process's first poll for an event: its init, as Lambda's
    /// `Init Duration` counts it.
    pub init: Option<Duration>,
    /// From handing out the event to its answer: the first invocation's `Duration`.
    pub first_invoke: Option<Duration>,
    /// The process's peak resident memory once it answered (`VmHWM`), in KiB.
    pub peak_rss_kib: Option<u64>,
    /// CPU time the process (all its threads) had used once it answered: init and the first
    /// invoke. Lambda gives a function CPU in proportion to its memory, so this is what a
    /// smaller `MemorySize` stretches (docs/performance.md, "Memory sizes").
    pub cpu: Option<Duration>,
}

#[derive(Default)]
struct Emulator {
    /// The event waiting to be handed out, and the wake-up of a poll waiting for one.
    event: Mutex<Option<String>>,
    offered: Notify,
    /// The process's first poll for an event: the end of its init.
    polled: Mutex<Option<Instant>>,
    /// When the current event was handed out.
    handed_out: Mutex<Option<Instant>>,
    /// The current invocation's answer: when it came, `(kind, body)`.
    answer: Mutex<Option<(Instant, (String, String))>>,
    done: Notify,
}

fn header(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

async fn next(State(emu): State<Arc<Emulator>>) -> Response {
    if let Ok(mut polled) = emu.polled.lock() {
        polled.get_or_insert_with(Instant::now);
    }
    let event = loop {
        if let Some(event) = emu.event.lock().ok().and_then(|mut e| e.take()) {
            break event;
        }
        // No event yet: the poll waits, as Lambda's does, until one is offered.
        emu.offered.notified().await;
    };
    if let Ok(mut handed_out) = emu.handed_out.lock() {
        *handed_out = Some(Instant::now());
    }
    let deadline = (SystemTime::now() + TIMEOUT)
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let mut headers = HeaderMap::new();
    headers.insert("lambda-runtime-aws-request-id", header(REQUEST_ID));
    headers.insert("lambda-runtime-deadline-ms", header(&deadline.to_string()));
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        header("arn:aws:lambda:us-east-1:123456789012:function:local"),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        header("Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"),
    );
    (headers, event).into_response()
}

fn record(emu: &Emulator, kind: &str, body: String) -> impl IntoResponse + use<> {
    if let Ok(mut answer) = emu.answer.lock() {
        *answer = Some((Instant::now(), (kind.to_owned(), body)));
    }
    emu.done.notify_one();
    (StatusCode::ACCEPTED, r#"{"status":"OK"}"#)
}

/// Runs `binary` for one invocation of `event`, with exactly the environment `env` plus the
/// variables Lambda sets.
pub async fn invoke(binary: &Path, event: String, env: &[(String, String)]) -> Invocation {
    let mut process = match Process::start(binary, env).await {
        Ok(process) => process,
        Err(logs) => return Invocation::failed(logs),
    };
    let answered = process.invoke(event).await;
    let init = process.init();
    let ended = process.end().await;
    Invocation {
        first_invoke: answered
            .as_ref()
            .filter(|(_, (kind, _))| kind != "init_error")
            .map(|(took, _)| *took),
        outcome: answered.map(|(_, outcome)| outcome),
        logs: ended.logs,
        init,
        peak_rss_kib: ended.peak_rss_kib,
        cpu: ended.cpu,
    }
}

/// A function's process, started as Lambda starts one, invoked as many times as wanted: the
/// cold-start bench times its first invocation against a later, warm one.
pub struct Process {
    emu: Arc<Emulator>,
    child: tokio::process::Child,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    started: Instant,
    name: String,
    stdout: tokio::task::JoinHandle<String>,
    stderr: tokio::task::JoinHandle<String>,
}

/// What a process left once ended.
pub struct Ended {
    /// Everything it printed, stdout then stderr.
    pub logs: String,
    /// Its peak resident memory (`VmHWM`), in KiB.
    pub peak_rss_kib: Option<u64>,
    /// The CPU time all its threads used.
    pub cpu: Option<Duration>,
}

impl Process {
    /// Spawns `binary` with exactly the environment `env` plus the variables Lambda sets; what
    /// went wrong otherwise.
    pub async fn start(binary: &Path, env: &[(String, String)]) -> Result<Process, String> {
        let emu = Arc::new(Emulator::default());
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(
                    |State(emu): State<Arc<Emulator>>, body: String| async move {
                        record(&emu, "response", body)
                    },
                ),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                post(
                    |State(emu): State<Arc<Emulator>>, body: String| async move {
                        record(&emu, "error", body)
                    },
                ),
            )
            .route(
                "/2018-06-01/runtime/init/error",
                post(
                    |State(emu): State<Arc<Emulator>>, body: String| async move {
                        record(&emu, "init_error", body)
                    },
                ),
            )
            .with_state(emu.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("cannot listen for the Runtime API: {e}"))?;
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let name = binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let started = Instant::now();
        let spawned = tokio::process::Command::new(binary)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", &addr)
            .env("AWS_LAMBDA_FUNCTION_NAME", &name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/11/26/[$LATEST]0123456789abcdef",
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                server.abort();
                return Err(format!("cannot start {}: {e}", binary.display()));
            }
        };
        // Drained as the process writes, so a chatty function never blocks on a full pipe.
        let drain = |pipe: Option<Box<dyn tokio::io::AsyncRead + Send + Unpin>>| {
            tokio::spawn(async move {
                let mut text = Vec::new();
                if let Some(mut pipe) = pipe {
                    use tokio::io::AsyncReadExt;
                    pipe.read_to_end(&mut text).await.ok();
                }
                String::from_utf8_lossy(&text).into_owned()
            })
        };
        let stdout = drain(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        );
        let stderr = drain(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        );
        Ok(Process {
            emu,
            child,
            server,
            started,
            name,
            stdout,
            stderr,
        })
    }

    /// Offers `event` to the process's poll and waits for its answer: how long it took from
    /// the hand-out (the invocation's `Duration`) and `(kind, body)`. `None` if the process
    /// exited or hung past the timeout instead.
    pub async fn invoke(&mut self, event: String) -> Option<(Duration, (String, String))> {
        if let Ok(mut slot) = self.emu.event.lock() {
            *slot = Some(event);
        }
        self.emu.offered.notify_one();
        let answered = tokio::select! {
            _ = self.emu.done.notified() => true,
            _ = self.child.wait() => false,
            _ = tokio::time::sleep(TIMEOUT) => false,
        };
        if !answered {
            return None;
        }
        let (at, outcome) = self.emu.answer.lock().ok()?.take()?;
        let handed_out = self.emu.handed_out.lock().ok()?.take();
        // An init error comes before any event is handed out: it took no invocation time.
        Some((handed_out.map(|h| at - h).unwrap_or_default(), outcome))
    }

    /// The CPU time all the process's threads have used so far.
    pub fn cpu(&self) -> Option<Duration> {
        self.child.id().and_then(cpu_time)
    }

    /// From the spawn to the process's first poll for an event: its init, as Lambda's `Init
    /// Duration` counts it.
    pub fn init(&self) -> Option<Duration> {
        let polled = self.emu.polled.lock().ok().and_then(|p| *p);
        polled.map(|p| p - self.started)
    }

    /// Ends the process: what it printed, its peak memory and its CPU time.
    pub async fn end(mut self) -> Ended {
        let peak_rss_kib = self.child.id().and_then(peak_rss_kib);
        let cpu = self.child.id().and_then(cpu_time);
        self.child.start_kill().ok();
        self.child.wait().await.ok();
        self.server.abort();
        let logs = format!(
            "{}{}",
            self.stdout.await.unwrap_or_default(),
            self.stderr.await.unwrap_or_default()
        );
        keep_logs(&self.name, &logs);
        Ended {
            logs,
            peak_rss_kib,
            cpu,
        }
    }
}

impl Invocation {
    fn failed(logs: String) -> Self {
        Invocation {
            outcome: None,
            logs,
            init: None,
            first_invoke: None,
            peak_rss_kib: None,
            cpu: None,
        }
    }
}

/// The peak resident set of process `pid` so far, from Linux's `/proc/{pid}/status`.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The CPU time of every thread of process `pid` so far, in nanoseconds from Linux's
/// `/proc/{pid}/task/*/schedstat` (the clock-tick counts of `stat` are too coarse here).
fn cpu_time(pid: u32) -> Option<Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}

/// Appends a process's output to `$LOG_CAPTURE_DIR/lambda-{name}.log` when the variable is
/// set: `make test` checks every line its runs wrote (docs/testing.md, "Log safety").
fn keep_logs(name: &str, logs: &str) {
    use std::io::Write;
    let Some(dir) = std::env::var_os("LOG_CAPTURE_DIR") else {
        return;
    };
    let path = std::path::Path::new(&dir).join(format!("lambda-{name}.log"));
    let kept = std::fs::create_dir_all(&dir).and_then(|()| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?
            .write_all(logs.as_bytes())
    });
    if let Err(e) = kept {
        panic!("cannot keep the logs of {name} in {}: {e}", path.display());
    }
}
