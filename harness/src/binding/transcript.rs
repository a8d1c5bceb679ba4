//! `transcript.jsonl`: one JSON line per RFB message and HTTP exchange, both
//! ways, written as the run goes.
//!
//! A [`Transcript`] is a cheap handle (clone it into bindings and channels);
//! every entry goes through a bounded queue to one writer task, which writes
//! and flushes lines as they come. Logging never blocks the exchange it
//! describes: when the queue is full the entry is counted as dropped and the
//! count is written once the queue drains. A write failure (a full disk)
//! is reported once through the `on_fail` callback — the run uses it to
//! abort — and later entries are discarded.
//!
//! Each line: `t_ms` (monotonic, ms since the transcript started, 3
//! decimals), `wall` (RFC 3339 UTC), `check` (the check the entry was made
//! for, when known), `channel` (console label or data channel), `dir`
//! (`send`/`recv`, seen from the harness), `type` (message type) and
//! `fields` (its key fields; pixel data only summarised).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use crate::model::files::EVIDENCE_DIR;
use crate::model::ids::CheckId;

/// The file name inside the run directory (and inside each evidence folder).
pub const TRANSCRIPT_FILE: &str = "transcript.jsonl";

/// Entries queued for the writer at most; more are dropped and counted.
pub const QUEUE: usize = 8192;

/// Direction of an entry, seen from the harness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The harness sent it to the terminal.
    Send,
    /// The harness received it from the terminal.
    Recv,
}

impl Direction {
    /// `"send"` / `"recv"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Direction::Send => "send",
            Direction::Recv => "recv",
        }
    }
}

/// One entry before it is stamped.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscriptEntry {
    /// Console label (`A`, `B` ...) or data channel (`data-client`, `data-receiver`).
    pub channel: String,
    /// Send or receive.
    pub dir: Direction,
    /// Message type (`FramebufferUpdate`, `GET /reports/{id}` ...).
    pub kind: String,
    /// Key fields of the message.
    pub fields: Value,
}

/// The logging handle.
#[derive(Clone)]
pub struct Transcript {
    tx: mpsc::Sender<String>,
    start: Instant,
    dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for Transcript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transcript").finish_non_exhaustive()
    }
}

/// The queue of a [`Transcript::pending`] transcript, waiting for its file.
pub struct PendingWriter {
    rx: mpsc::Receiver<String>,
    dropped: Arc<AtomicU64>,
}

impl PendingWriter {
    /// Creates (truncates) `path` (and its directory) and starts the writer
    /// task. `on_fail` is called once, with a reason, if a write fails.
    pub fn start(
        self,
        path: &Path,
        on_fail: impl FnOnce(String) + Send + 'static,
    ) -> std::io::Result<TranscriptWriter> {
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent)?;
            }
        }
        let file = std::fs::File::create(path)?;
        let (close_tx, close_rx) = oneshot::channel();
        let task = tokio::spawn(write_loop(
            file,
            path.to_path_buf(),
            self.rx,
            close_rx,
            self.dropped,
            Box::new(on_fail),
        ));
        Ok(TranscriptWriter {
            close: close_tx,
            task,
        })
    }
}

/// The writer task; [`TranscriptWriter::finish`] writes what is queued and
/// closes the file.
pub struct TranscriptWriter {
    close: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<u64, String>>,
}

/// A [`Transcript`] bound to the scope it was made in ([`Transcript::scoped`]).
#[derive(Clone)]
pub struct ScopedTranscript {
    transcript: Transcript,
    check: Option<CheckId>,
}

impl ScopedTranscript {
    /// Logs an entry in this scope.
    pub fn log(&self, channel: &str, dir: Direction, kind: &str, fields: Value) {
        self.transcript
            .log_for(self.check, channel, dir, kind, fields);
    }
}

impl Transcript {
    /// Creates (truncates) `path` and starts the writer task. `on_fail` is
    /// called once, with a reason, if a write fails.
    pub fn start(
        path: &Path,
        on_fail: impl FnOnce(String) + Send + 'static,
    ) -> std::io::Result<(Transcript, TranscriptWriter)> {
        let (t, pending) = Transcript::pending();
        Ok((t, pending.start(path, on_fail)?))
    }

    /// A transcript whose file is not chosen yet: entries queue (up to
    /// [`QUEUE`]) until [`PendingWriter::start`]. Timestamps count from now.
    pub fn pending() -> (Transcript, PendingWriter) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        (
            Transcript {
                tx,
                start: Instant::now(),
                dropped: dropped.clone(),
            },
            PendingWriter { rx, dropped },
        )
    }

    /// This transcript bound to the scope of the current task (the check it
    /// runs for, see [`current_check`]): a binding logging from a
    /// task of its own takes it along without knowing what the scope is.
    pub fn scoped(&self) -> ScopedTranscript {
        ScopedTranscript {
            transcript: self.clone(),
            check: current_check(),
        }
    }

    /// Logs an entry for the current check (see [`super::current_check`]).
    pub fn log(&self, channel: &str, dir: Direction, kind: &str, fields: Value) {
        self.log_for(current_check(), channel, dir, kind, fields);
    }

    /// Logs an entry for `check`.
    pub fn log_for(
        &self,
        check: Option<CheckId>,
        channel: &str,
        dir: Direction,
        kind: &str,
        fields: Value,
    ) {
        let t_ms = (self.start.elapsed().as_micros() as f64) / 1000.0;
        let wall = crate::model::time::rfc3339_ms(time::OffsetDateTime::now_utc());
        let mut line = json!({
            "t_ms": t_ms,
            "wall": wall,
            "channel": channel,
            "dir": dir.as_str(),
            "type": kind,
            "fields": fields,
        });
        if let Some(id) = check {
            line["check"] = json!(id.as_str());
        }
        let text = line.to_string();
        if self.tx.try_send(text).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Logs an [`TranscriptEntry`] for the current check.
    pub fn log_entry(&self, e: TranscriptEntry) {
        self.log(&e.channel, e.dir, &e.kind, e.fields);
    }
}

impl TranscriptWriter {
    /// Writes every queued entry, closes the file and returns the number of
    /// lines written, or why writing stopped.
    pub async fn finish(self) -> Result<u64, String> {
        let _ = self.close.send(());
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(format!("transcript writer task failed: {e}")),
        }
    }
}

type OnFail = Box<dyn FnOnce(String) + Send>;

async fn write_loop(
    file: std::fs::File,
    path: PathBuf,
    mut rx: mpsc::Receiver<String>,
    mut close: oneshot::Receiver<()>,
    dropped: Arc<AtomicU64>,
    on_fail: OnFail,
) -> Result<u64, String> {
    let mut out = std::io::BufWriter::new(file);
    let mut lines: u64 = 0;
    let mut failed: Option<String> = None;
    let mut on_fail = Some(on_fail);
    let mut reported_drops = 0u64;
    let mut closing = false;
    loop {
        let next = if closing {
            rx.try_recv().ok()
        } else {
            tokio::select! {
                l = rx.recv() => l,
                _ = &mut close => { closing = true; continue; }
            }
        };
        let Some(line) = next else { break };
        if failed.is_some() {
            continue;
        }
        let mut batch = vec![line];
        while let Ok(l) = rx.try_recv() {
            batch.push(l);
            if batch.len() >= 256 {
                break;
            }
        }
        let d = dropped.load(Ordering::Relaxed);
        if d > reported_drops {
            batch.push(
                json!({"type": "transcript-dropped", "fields": {"entries": d - reported_drops}})
                    .to_string(),
            );
            reported_drops = d;
        }
        let res = (|| -> std::io::Result<()> {
            for l in &batch {
                out.write_all(l.as_bytes())?;
                out.write_all(b"\n")?;
            }
            out.flush()
        })();
        match res {
            Ok(()) => lines += batch.len() as u64,
            Err(e) => {
                let reason = format!("{}: {e}", path.display());
                if let Some(f) = on_fail.take() {
                    f(format!("cannot write the transcript: {reason}"));
                }
                failed = Some(reason);
            }
        }
    }
    match failed {
        Some(r) => Err(r),
        None => Ok(lines),
    }
}

/// Where the HTTP side of a data channel (its client and its push
/// receiver, shared by every check) finds the run's transcript. Empty until
/// the run sets it; each channel has its own, so runs in one process (tests)
/// never log into each other's transcript.
#[derive(Clone, Default)]
pub struct TranscriptSlot(std::sync::Arc<std::sync::RwLock<Option<Transcript>>>);

impl TranscriptSlot {
    /// Makes `t` the transcript exchanges are logged to (`None`: stop).
    pub fn set(&self, t: Option<Transcript>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = t;
    }

    /// The transcript set, if any.
    pub fn get(&self) -> Option<Transcript> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl std::fmt::Debug for TranscriptSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.get().is_some() {
            "TranscriptSlot(set)"
        } else {
            "TranscriptSlot(empty)"
        })
    }
}

/// Longest transcript line [`split_by_check`] copies; longer ones (never
/// written by [`Transcript`]) are skipped.
const MAX_LINE: usize = 1 << 20;

/// Copies each line of `dir/transcript.jsonl` that names a check into
/// `dir/evidence/<CHECK-ID>/transcript.jsonl`; returns the files written.
pub fn split_by_check(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let src = match std::fs::File::open(dir.join(TRANSCRIPT_FILE)) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut outs: std::collections::BTreeMap<CheckId, std::io::BufWriter<std::fs::File>> =
        std::collections::BTreeMap::new();
    let mut r = std::io::BufReader::new(src);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = std::io::Read::take(&mut r, MAX_LINE as u64 + 1).read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        if buf.len() > MAX_LINE {
            // Skip the rest of an over-long line.
            let mut sink = Vec::new();
            r.read_until(b'\n', &mut sink)?;
            continue;
        }
        let Ok(v) = serde_json::from_slice::<Value>(&buf) else {
            continue;
        };
        let Some(id) = v
            .get("check")
            .and_then(Value::as_str)
            .and_then(CheckId::parse)
        else {
            continue;
        };
        let w = match outs.entry(id) {
            std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::btree_map::Entry::Vacant(slot) => {
                let folder = dir.join(EVIDENCE_DIR).join(id.as_str());
                std::fs::create_dir_all(&folder)?;
                let f = std::fs::File::create(folder.join(TRANSCRIPT_FILE))?;
                slot.insert(std::io::BufWriter::new(f))
            }
        };
        w.write_all(buf.trim_ascii_end())?;
        w.write_all(b"\n")?;
    }
    let mut written = Vec::new();
    for (id, mut w) in outs {
        w.flush()?;
        written.push(
            dir.join(EVIDENCE_DIR)
                .join(id.as_str())
                .join(TRANSCRIPT_FILE),
        );
    }
    Ok(written)
}

tokio::task_local! {
    static CURRENT_CHECK: CheckId;
}

/// Runs `fut` as the body of check `id`: [`current_check`] inside it (and
/// in everything it awaits on the same task) returns `id`.
pub async fn in_check<F: std::future::Future>(id: CheckId, fut: F) -> F::Output {
    CURRENT_CHECK.scope(id, fut).await
}

/// The check the current task runs for, if any.
pub fn current_check() -> Option<CheckId> {
    CURRENT_CHECK.try_with(|id| *id).ok()
}

/// The scope the current task works in, as a name for records (the check's
/// id, `"ST-01"`), if any: what a binding may say about who opened a console
/// without knowing checks.
pub fn current_scope() -> Option<&'static str> {
    current_check().map(|id| id.as_str())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use crate::model::files::tests::scratch_dir;

    #[tokio::test]
    async fn entries_are_stamped_tagged_and_split_by_check() {
        let dir = scratch_dir("transcript-split");
        std::fs::create_dir_all(&dir).unwrap();
        let (t, w) = Transcript::start(&dir.join(TRANSCRIPT_FILE), |_| {}).unwrap();
        let t2 = t.clone();
        in_check(CheckId::St01, async move {
            t2.log("A", Direction::Send, "ClientInit", json!({"shared": false}));
        })
        .await;
        t.log("data-client", Direction::Recv, "HTTP 200", json!({}));
        assert_eq!(w.finish().await.unwrap(), 2);
        let text = std::fs::read_to_string(dir.join(TRANSCRIPT_FILE)).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["check"], "ST-01");
        assert_eq!(lines[0]["dir"], "send");
        assert!(lines[0]["wall"].as_str().unwrap().ends_with('Z'));
        assert!(lines[1].get("check").is_none());
        assert!(lines[1]["t_ms"].as_f64().unwrap() >= lines[0]["t_ms"].as_f64().unwrap());
        let split = split_by_check(&dir).unwrap();
        assert_eq!(split, [dir.join("evidence/ST-01/transcript.jsonl")]);
        assert_eq!(
            std::fs::read_to_string(&split[0]).unwrap().lines().count(),
            1
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_failed_write_is_reported_once_and_does_not_panic() {
        // /dev/full accepts the open and fails every write with ENOSPC.
        if !Path::new("/dev/full").exists() {
            eprintln!("skipped: no /dev/full");
            return;
        }
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (t, w) = Transcript::start(Path::new("/dev/full"), move |r| {
            let _ = tx.send(r);
        })
        .unwrap();
        t.log("A", Direction::Send, "x", json!({}));
        t.log("A", Direction::Send, "y", json!({}));
        let err = w.finish().await.unwrap_err();
        assert!(err.contains("/dev/full"), "{err}");
        let reason = rx.recv().await.unwrap();
        assert!(reason.contains("cannot write the transcript"), "{reason}");
        assert!(rx.try_recv().is_err());
    }
}
