//! `s301 run`: load the declaration and scenario, bring up the terminal
//! (a declared one, or the built-in mock in process), run the checks, write
//! the report, print the summary and choose the exit status.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use s301_harness::binding::rfb::RfbBinding;
use s301_harness::binding::ScreenBinding;
use s301_harness::catalog::{CheckId, ConditionId};
use s301_harness::checks::{catalog, CheckCtx, Shared};
use s301_harness::data::{DataChannel, DataError, REPORTS_PATH};
use s301_harness::declaration::Declaration;
use s301_harness::liveness::{self, LostTerminal, TerminalWatch};
use s301_harness::record::transcript::{Transcript, TRANSCRIPT_FILE};
use s301_harness::report::ReportWriter;
use s301_harness::runner::{self, AbortSignal, RunConfig, RunSink, Selection};
use s301_harness::scenario::Scenario;
use s301_mocks::{MockConfig, MockHandle, MockTerminal};

use crate::cli::RunArgs;
use crate::progress::Progress;
use crate::record;
use crate::{summary, EXIT_INCONCLUSIVE, EXIT_USAGE};

/// How often to try the in-process setup when a just-reserved port was taken.
const SETUP_ATTEMPTS: usize = 3;

/// The terminal under test and what runs alongside it.
struct Target {
    declaration: Declaration,
    data: Option<Arc<DataChannel>>,
    mock: Option<MockHandle>,
    label: String,
}

impl Target {
    async fn shutdown(self) {
        if let Some(d) = &self.data {
            d.shutdown().await;
        }
        if let Some(m) = self.mock {
            m.shutdown().await;
        }
    }
}

/// A setup problem: exit 2 (the user must fix something) or 3 (the
/// environment failed).
enum SetupError {
    Usage(String),
    Environment(String),
}

fn fail(e: SetupError) -> ExitCode {
    match e {
        SetupError::Usage(m) => {
            eprintln!("s301: error: {m}");
            eprintln!("nothing was run.");
            ExitCode::from(EXIT_USAGE)
        }
        SetupError::Environment(m) => {
            eprintln!("s301: error: {m}");
            ExitCode::from(EXIT_INCONCLUSIVE)
        }
    }
}

/// Runs `s301 run`.
pub async fn run(args: RunArgs) -> ExitCode {
    let selection = match Selection::from_lists(&args.only, &args.skip) {
        Ok(s) => s,
        Err(e) => return fail(SetupError::Usage(e.to_string())),
    };
    let scenario = match &args.scenario {
        Some(p) => Scenario::load(p),
        None => Scenario::default_embedded(),
    };
    let scenario = match scenario {
        Ok(s) => s,
        Err(e) => return fail(SetupError::Usage(e.to_string())),
    };
    let sign_key = match &args.sign_key {
        Some(p) => match s301_harness::integrity::keys::load_signing_key(p) {
            Ok(k) => Some(k),
            Err(e) => return fail(SetupError::Usage(e.to_string())),
        },
        None => None,
    };
    let wants_data = CheckId::ALL.iter().any(|id| {
        selection.includes(*id)
            && matches!(id.condition(), ConditionId::C1_3_1 | ConditionId::C1_3_2)
    });
    let target = match &args.terminal {
        Some(path) => declared_terminal(path, &scenario, wants_data).await,
        None => built_in_mock(&scenario, wants_data).await,
    };
    let target = match target {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    let tls = match target.declaration.tls_settings() {
        Ok(t) => t,
        Err(e) => {
            target.shutdown().await;
            return fail(SetupError::Usage(e.to_string()));
        }
    };
    // transcript.jsonl: every console's messages, queued until the run
    // directory is known (s301_harness::record::transcript).
    let (transcript, transcript_queue) = Transcript::pending();
    // The data channel's HTTP exchanges go to the same transcript.
    if let Some(d) = &target.data {
        d.set_transcript(Some(transcript.clone()));
    }
    let screen: Arc<dyn ScreenBinding> = match RfbBinding::from_decl(&target.declaration.screen) {
        Ok(b) => Arc::new(
            b.with_tls(tls)
                .with_transcript(Some(transcript))
                .with_max_pixels(scenario.screen.max_pixels),
        ),
        Err(e) => {
            let origin = args
                .terminal
                .as_ref()
                .map_or("built-in mock declaration".to_string(), |p| {
                    p.display().to_string()
                });
            target.shutdown().await;
            return fail(SetupError::Usage(format!("{origin}: {e}")));
        }
    };

    let seed = args.seed.unwrap_or_else(runner::random_seed);
    let run_id = runner::fresh_run_id();
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(&run_id));
    let ctx = Arc::new(CheckCtx {
        declaration: Arc::new(target.declaration.clone()),
        scenario: Arc::new(scenario.clone()),
        seed,
        screen,
        data: target.data.clone(),
        shared: Mutex::new(shared_values(args.require_encryption)),
    });
    let abort = AbortSignal::new();
    let transcript_writer = {
        let a = abort.clone();
        let path = out_dir.join(TRANSCRIPT_FILE);
        match transcript_queue.start(&path, move |r| a.abort_because(r)) {
            Ok(w) => Some(w),
            Err(e) => {
                abort.abort_because(format!("cannot write {}: {e}", path.display()));
                None
            }
        }
    };
    let ctrl_c = tokio::spawn(watch_ctrl_c(abort.clone()));
    // A terminal that dies mid-run aborts the run (see s301_harness::liveness).
    let mut watch = TerminalWatch::new(&target.declaration, abort.clone());
    let lost = watch.finding();
    let abort_handle = abort.clone();

    crate::out(&format!(
        "s301 run {run_id}: {} | scenario {} | seed {seed} | {} check(s)\n",
        target.label,
        scenario.name,
        CheckId::ALL
            .iter()
            .filter(|id| selection.includes(**id))
            .count()
    ));
    let mut progress = Progress::for_stdout();
    let mut writer = ReportWriter::new(&out_dir);
    let mut screenshots = s301_harness::record::ScreenshotSink::new(&out_dir, ctx.clone());
    let cfg = RunConfig {
        run_id,
        selection,
        abort,
        time_limit: None,
    };
    let outcome = {
        // The record first: a progress line on screen means the check's
        // result and screenshots are on disk already.
        let mut sinks: [&mut dyn RunSink; 4] =
            [&mut writer, &mut screenshots, &mut progress, &mut watch];
        runner::run(catalog(), ctx.clone(), cfg, &mut sinks).await
    };
    if let Some(d) = &target.data {
        d.set_transcript(None);
    }
    if let Some(w) = transcript_writer {
        if let Err(e) = w.finish().await {
            tracing::warn!("transcript incomplete: {e}");
        }
    }
    // Screenshots went to evidence/<CHECK-ID>/*.png as each check finished;
    // any left (a write that failed then, a check cut short) go now.
    let images = std::mem::take(&mut ctx.shared.lock().unwrap_or_else(|p| p.into_inner()).images);
    let derive = move |d: &Path, r: &s301_harness::report::Report| {
        s301_harness::record::write_derived(d, &images, r)
    };
    let mut outcome = outcome;
    let lost = lost.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if let Some(l) = &lost {
        liveness::blame(&mut outcome, l);
    }
    // Witness questions are asked while the terminal is still up; the final
    // report.json is written and the directory sealed last.
    let finished = record::finish(
        &out_dir,
        &outcome,
        &scenario,
        &record::Finish {
            operator: args.operator.as_deref(),
            department: args.department.as_deref(),
            abort_reason: lost
                .as_ref()
                .map(LostTerminal::reason)
                .or_else(|| abort_handle.reason()),
            sign_key: sign_key.as_ref(),
            abort: &abort_handle,
            derived: Some(&derive),
        },
    );
    // Ctrl-C stays watched through the witness questions.
    ctrl_c.abort();
    let label = target.label.clone();
    target.shutdown().await;

    let written = writer.take_result();
    let report: Result<PathBuf, String> = match (written, &finished) {
        (_, Ok(f)) => Ok(f.path.clone()),
        (Some(Err(e)), Err(_)) => Err(format!("{}: {e}", out_dir.display())),
        (_, Err(e)) => Err(e.clone()),
    };
    crate::out(&summary::render(
        &outcome,
        &label,
        report
            .as_ref()
            .map(PathBuf::as_path)
            .map_err(String::as_str),
    ));
    let finished = match finished {
        Ok(f) => f,
        Err(e) => {
            eprintln!("s301: error: the record was not completed: {e}");
            return ExitCode::from(EXIT_INCONCLUSIVE);
        }
    };
    crate::out(&record::epilogue(&finished));
    ExitCode::from(record::exit_code(&finished.report))
}

/// The run's shared values before any check: the encryption policy TLS-01 reads.
fn shared_values(require_encryption: bool) -> Shared {
    let mut shared = Shared::default();
    shared.values.insert(
        s301_harness::checks::c2_2_1::REQUIRE_ENCRYPTION_KEY.to_string(),
        serde_json::Value::Bool(require_encryption),
    );
    shared
}

/// First Ctrl-C (or SIGTERM): abort the run (checks are cancelled, the
/// report is still written). Second Ctrl-C: leave at once.
async fn watch_ctrl_c(abort: AbortSignal) {
    if !interrupted().await {
        return;
    }
    eprintln!("\ns301: interrupted: stopping the running checks and writing the report (Ctrl-C again to quit now)");
    abort.abort_because("interrupted by Ctrl-C or SIGTERM");
    if tokio::signal::ctrl_c().await.is_ok() {
        eprintln!("s301: quit without a report");
        std::process::exit(i32::from(EXIT_INCONCLUSIVE));
    }
}

/// Waits for Ctrl-C, or on Unix also SIGTERM (what CI runners send on a
/// timeout). False if no signal can be watched.
async fn interrupted() -> bool {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                r = tokio::signal::ctrl_c() => r.is_ok(),
                _ = term.recv() => true,
            };
        }
    }
    tokio::signal::ctrl_c().await.is_ok()
}

async fn declared_terminal(
    path: &Path,
    scenario: &Scenario,
    wants_data: bool,
) -> Result<Target, SetupError> {
    let declaration = Declaration::load(path).map_err(|e| SetupError::Usage(e.to_string()))?;
    let tls = declaration
        .tls_settings()
        .map_err(|e| SetupError::Usage(format!("{}: {e}", path.display())))?;
    let data = match (&declaration.data, wants_data) {
        (Some(d), true) => Some(
            DataChannel::start_with_tls(
                d,
                &scenario.data,
                declaration.harness.listen.as_deref(),
                s301_harness::data::ReceiverLimits::default(),
                tls,
            )
            .await
            .map_err(|e| SetupError::Usage(format!("{}: {e}", path.display())))?,
        ),
        _ => None,
    };
    let label = declaration.screen.url.clone();
    Ok(Target {
        declaration,
        data,
        mock: None,
        label,
    })
}

/// Starts the built-in conforming mock in process. When data checks run, a
/// port is reserved for the harness's push receiver first, so the mock can
/// be told where to push before the receiver (which needs the mock's data
/// URL) starts; if another process grabs the port in between, try again.
async fn built_in_mock(scenario: &Scenario, wants_data: bool) -> Result<Target, SetupError> {
    let mut last_err = String::new();
    for _ in 0..SETUP_ATTEMPTS {
        let receiver = if wants_data {
            Some(reserve_local_port().map_err(|e| {
                SetupError::Environment(format!("cannot reserve a local port: {e}"))
            })?)
        } else {
            None
        };
        let cfg = MockConfig {
            push_to: receiver.map(|a| format!("http://{a}{REPORTS_PATH}")),
            ..MockConfig::default()
        };
        let mock = MockTerminal::start(cfg).await.map_err(|e| {
            SetupError::Environment(format!("cannot start the built-in mock terminal: {e}"))
        })?;
        let listen = receiver.map(|a| a.to_string());
        let toml = mock.declaration_toml(listen.as_deref());
        let declaration = match Declaration::parse(&toml, "built-in mock declaration") {
            Ok(d) => d,
            Err(e) => {
                mock.shutdown().await;
                return Err(SetupError::Environment(format!(
                    "the built-in mock's declaration does not parse (a bug): {e}"
                )));
            }
        };
        let data = match (&declaration.data, wants_data) {
            (Some(d), true) => {
                match DataChannel::start(d, &scenario.data, listen.as_deref()).await {
                    Ok(ch) => Some(ch),
                    Err(e @ DataError::Listen { .. }) => {
                        last_err = e.to_string();
                        mock.shutdown().await;
                        continue;
                    }
                    Err(e) => {
                        mock.shutdown().await;
                        return Err(SetupError::Environment(format!(
                            "cannot start the data channel: {e}"
                        )));
                    }
                }
            }
            _ => None,
        };
        let label = format!("built-in mock terminal at {}", mock.addr());
        return Ok(Target {
            declaration,
            data,
            mock: Some(mock),
            label,
        });
    }
    Err(SetupError::Environment(format!(
        "cannot start the data channel: {last_err}"
    )))
}

/// A free port on 127.0.0.1, released for the caller to bind.
fn reserve_local_port() -> std::io::Result<SocketAddr> {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    l.local_addr()
}
