//! `s301 run`: watch the stop signals, make the run directory ready, load
//! the declaration and scenario, bring up the terminal (a declared one, or
//! the built-in mock in process), run the checks, finish and seal the
//! record, print the summary and choose the exit status.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use s301_harness::binding::http::{DataChannel, DataError, REPORTS_PATH};
use s301_harness::binding::tap::ScreenTap;
use s301_harness::binding::{screen_from_decl, DataBinding, ScreenBinding, ScreenOptions};
use s301_harness::checks::{catalog, CheckCtx, Lane, Shared};
use s301_harness::config::declaration::Declaration;
use s301_harness::config::scenario::{Scenario, ScenarioSource};
use s301_harness::model::ids::CheckId;
use s301_harness::model::lang::Lang;
use s301_harness::run::runner::{
    self, AbortSignal, RunConfig, RunEvent, RunInfo, RunOutcome, RunSink, Selection,
};
use s301_harness::sinks::integrity::hook;
use s301_harness::sinks::liveness::{self, LostTerminal, TerminalWatch};
use s301_harness::sinks::record::transcript::{Transcript, TRANSCRIPT_FILE};
use s301_harness::sinks::report::{json, ReportWriter};
use s301_harness::sinks::witness_ui::{UiConfig, WitnessUi};
use s301_mocks::{MockConfig, MockHandle, MockTerminal};

use crate::cli::RunArgs;
use crate::progress::Progress;
use crate::record;
use crate::{summary, EXIT_INCONCLUSIVE, EXIT_USAGE};

mod out_dir;
pub(crate) mod signals;

/// How often to try the in-process setup when a just-reserved port was taken.
const SETUP_ATTEMPTS: usize = 3;

/// The terminal under test and what runs alongside it.
struct Target {
    declaration: Declaration,
    data: Option<Arc<dyn DataBinding>>,
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
///
/// The stop signals are watched before anything else. The run directory
/// (`--out`, or `runs/<run-id>` with the id chosen first thing) is checked
/// and given a first record (every check not run, the run aborted) once
/// the command line, scenario, key and declaration file have been read,
/// and before the terminal is brought up: a signal at any moment after
/// the handlers are in ends in a sealed, aborted record there. An error in
/// what was read is a usage error with nothing written; a setup error
/// after the directory was made ready removes it again (nothing was run).
pub async fn run(args: RunArgs) -> ExitCode {
    let abort = AbortSignal::new();
    let signals = match signals::install() {
        Ok(s) => s,
        Err(e) => {
            return fail(SetupError::Environment(format!(
                "cannot watch for Ctrl-C, SIGTERM and SIGHUP: {e}"
            )))
        }
    };
    let watcher = tokio::spawn(signals::watch_run(signals, abort.clone()));
    hook::point("setup");
    let code = run_watched(args, abort).await;
    // The signals stay watched through the witness questions and the seal.
    watcher.abort();
    code
}

async fn run_watched(args: RunArgs, abort: AbortSignal) -> ExitCode {
    let run_id = runner::fresh_run_id();
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(&run_id));
    let selection = match Selection::from_lists(&args.only, &args.skip) {
        Ok(s) => s,
        Err(e) => return fail(SetupError::Usage(e.to_string())),
    };
    let source = match args.scenario.as_deref().map(ScenarioSource::from_arg) {
        Some(Ok(s)) => s,
        Some(Err(e)) => return fail(SetupError::Usage(e.to_string())),
        None => ScenarioSource::BuiltIn("default"),
    };
    let scenario = match source.load() {
        Ok(s) => s,
        Err(e) => return fail(SetupError::Usage(e.to_string())),
    };
    if let Err((key, message)) = s301_harness::checks::witness_steps_fit(&scenario.witness) {
        let origin = source.describe();
        return fail(SetupError::Usage(format!("{origin}: {key}: {message}")));
    }
    let sign_key = match &args.sign_key {
        Some(p) => match s301_harness::sinks::integrity::keys::load_signing_key(p) {
            Ok(k) => Some(k),
            Err(e) => return fail(SetupError::Usage(e.to_string())),
        },
        None => None,
    };
    let declaration = match &args.terminal {
        Some(p) => match Declaration::load(p) {
            Ok(d) => Some(d),
            Err(e) => return fail(SetupError::Usage(e.to_string())),
        },
        None => None,
    };
    // The live witness console listens before anything is written, so a
    // taken address is a usage error with nothing run.
    let witness_ui = match &args.witness_ui {
        Some(addr) => match start_witness_ui(addr, &out_dir, &scenario, &args) {
            Ok(ui) => Some(ui),
            Err(e) => return fail(SetupError::Usage(e)),
        },
        None => None,
    };
    let seed = args.seed.unwrap_or_else(runner::random_seed);
    let inputs: Vec<&Path> = [
        args.terminal.as_deref(),
        source.path(),
        args.sign_key.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let run_dir = match out_dir::prepare(&out_dir, args.force, &inputs) {
        Ok(d) => d,
        Err(e) => return fail(SetupError::Usage(e.to_string())),
    };
    let first = RunInfo {
        id: run_id.clone(),
        started_at: time::OffsetDateTime::now_utc(),
        seed,
        scenario: scenario.name.clone(),
        partial: selection.is_partial(),
        harness_version: env!("CARGO_PKG_VERSION").to_string(),
        // The built-in mock's declaration exists only once it has started.
        terminal: declaration
            .as_ref()
            .map_or(serde_json::Value::Null, Declaration::redacted),
        selected: CheckId::ALL
            .iter()
            .copied()
            .filter(|id| selection.includes(*id))
            .collect(),
        catalog: CheckId::ALL.to_vec(),
    };
    if let Err(e) = record::write_initial(&out_dir, &first) {
        run_dir.discard();
        return fail(SetupError::Usage(format!(
            "cannot write into the run directory {}: {e}",
            out_dir.display()
        )));
    }
    hook::point("initial");
    let target = match set_up(&args, declaration, &scenario, &selection).await {
        Ok(t) => t,
        Err(e) => {
            run_dir.discard();
            return fail(e);
        }
    };
    let (target, screen, transcript_queue) = target;
    let ctx = Arc::new(CheckCtx {
        declaration: Arc::new(target.declaration.clone()),
        scenario: Arc::new(scenario.clone()),
        seed,
        screen,
        data: target.data.clone(),
        shared: Mutex::new(shared_values(args.require_encryption)),
    });
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
    // A terminal that dies mid-run aborts the run (see s301_harness::sinks::liveness).
    let mut watch = TerminalWatch::new(&target.declaration, abort.clone());
    let lost = watch.finding();
    let abort_handle = abort.clone();

    let selected = CheckId::ALL
        .iter()
        .filter(|id| selection.includes(**id))
        .count();
    crate::out(&match args.lang {
        Lang::En => format!(
            "s301 run {run_id}: {} | scenario {} | seed {seed} | {selected} check(s)\n",
            target.label, scenario.name
        ),
        Lang::Ja => format!(
            "s301 試験 {run_id}: {} | シナリオ {} | シード {seed} | 確認項目 {selected} 件\n",
            target.label, scenario.name
        ),
    });
    if let Some(ui) = &witness_ui {
        crate::out(&format!(
            "{}: {}\n",
            args.lang.pick(
                "Witness console / 立会者コンソール",
                "立会者コンソール / Witness console"
            ),
            ui.url()
        ));
    }
    let mut progress = Progress::for_stdout(args.lang);
    // Provisional records only: the final report.json is written by
    // record::finish, in the order that keeps `completed` sealed.
    let mut writer = ProvisionalOnly(ReportWriter::new(&out_dir));
    let mut screenshots = s301_harness::sinks::record::ScreenshotSink::new(&out_dir, ctx.clone());
    let cfg = RunConfig {
        run_id,
        selection,
        abort,
        time_limit: None,
    };
    let mut ui_sink = witness_ui.as_ref().map(|u| u.sink());
    let outcome = {
        // The record first: a progress line on screen (or a question in
        // the witness console) means the check's result and screenshots
        // are on disk already.
        let mut sinks: Vec<&mut dyn RunSink> = vec![&mut writer, &mut screenshots];
        if let Some(u) = ui_sink.as_mut() {
            sinks.push(u);
        }
        sinks.push(&mut progress);
        sinks.push(&mut watch);
        runner::run(catalog(), ctx.clone(), cfg, &mut sinks).await
    };
    hook::point("checks-done");
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
    let evidence = move |d: &Path| s301_harness::sinks::record::write_evidence(d, &images);
    let mut outcome = outcome;
    let lost = lost.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if let Some(l) = &lost {
        liveness::blame(&mut outcome, l);
    }
    // Witness questions are asked while the terminal is still up; the final
    // report.json is put in place last, once the seal covers it.
    let finished = record::finish(
        &out_dir,
        &outcome,
        &scenario,
        &record::Finish {
            operator: args.operator.as_deref(),
            witness: args.witness.as_deref(),
            department: args.department.as_deref(),
            lang: args.lang,
            abort_reason: lost
                .as_ref()
                .map(LostTerminal::reason)
                .or_else(|| abort_handle.reason()),
            sign_key: sign_key.as_ref(),
            abort: &abort_handle,
            evidence: Some(&evidence),
            witness_ui: witness_ui.as_ref().map(|u| u.answers()),
        },
    );
    if let Some(ui) = witness_ui {
        ui.recorded(&finished.path.display().to_string());
        ui.stop();
    }
    let label = target.label.clone();
    target.shutdown().await;

    // The summary shows the record as report.json holds it.
    let shown = as_recorded(outcome, &finished.report);
    let report: Result<&Path, String> = match &finished.sealed {
        Ok(_) => Ok(finished.path.as_path()),
        Err(e) => Err(format!(
            "{e}; {} keeps the provisional record, marked aborted",
            json::REPORT_FILE
        )),
    };
    crate::out(&summary::render(
        &shown,
        &label,
        report.as_ref().map(|p| *p).map_err(String::as_str),
        args.lang,
    ));
    crate::out(&record::epilogue(&finished, args.lang));
    if let Err(e) = &finished.sealed {
        eprintln!("s301: error: the record was not completed: {e}");
    }
    ExitCode::from(record::exit_code(&finished.report))
}

/// Starts the live witness console at `addr` (`--witness-ui`) and installs
/// the screen tap that feeds it; a message for a usage error otherwise.
fn start_witness_ui(
    addr: &str,
    out_dir: &Path,
    scenario: &Scenario,
    args: &RunArgs,
) -> Result<WitnessUi, String> {
    let parsed: SocketAddr = addr
        .parse()
        .map_err(|e| format!("--witness-ui {addr:?}: not an address (IP:PORT): {e}"))?;
    let tap = s301_harness::binding::tap::installed().unwrap_or_else(|| {
        let t = Arc::new(ScreenTap::new());
        s301_harness::binding::tap::install(t.clone());
        t
    });
    let cfg = UiConfig {
        run_dir: out_dir.to_path_buf(),
        steps: scenario.witness.clone(),
        lang: args.lang,
        who: args.witness.clone().or_else(|| args.operator.clone()),
    };
    WitnessUi::start(parsed, cfg, tap).map_err(|e| e.to_string())
}

/// The terminal under test, its screen binding and the transcript queue.
type SetUp = (
    Target,
    Arc<dyn ScreenBinding>,
    s301_harness::sinks::record::transcript::PendingWriter,
);

/// Loads the declaration (or starts the built-in mock) and builds the
/// screen binding, its transcript queued until the run starts.
async fn set_up(
    args: &RunArgs,
    declaration: Option<Declaration>,
    scenario: &Scenario,
    selection: &Selection,
) -> Result<SetUp, SetupError> {
    let wants_data = CheckId::ALL
        .iter()
        .any(|id| selection.includes(*id) && Lane::of(*id) == Lane::Data);
    let target = match (&args.terminal, declaration) {
        (Some(path), Some(d)) => declared_terminal(path, d, scenario, wants_data).await?,
        _ => built_in_mock(scenario, wants_data).await?,
    };
    let tls = match s301_harness::binding::tls::settings(&target.declaration) {
        Ok(t) => t,
        Err(e) => {
            target.shutdown().await;
            return Err(SetupError::Usage(e.to_string()));
        }
    };
    // transcript.jsonl: every console's messages, queued until the run
    // directory is known (s301_harness::sinks::record::transcript).
    let (transcript, transcript_queue) = Transcript::pending();
    // The data channel's HTTP exchanges go to the same transcript.
    if let Some(d) = &target.data {
        d.set_transcript(Some(transcript.clone()));
    }
    let options = ScreenOptions {
        tls,
        transcript: Some(transcript),
        max_pixels: Some(scenario.screen.max_pixels),
    };
    match screen_from_decl(&target.declaration.screen, options) {
        Ok(screen) => Ok((target, screen, transcript_queue)),
        Err(e) => {
            let origin = args
                .terminal
                .as_ref()
                .map_or("built-in mock declaration".to_string(), |p| {
                    p.display().to_string()
                });
            target.shutdown().await;
            Err(SetupError::Usage(format!("{origin}: {e}")))
        }
    }
}

/// The run sink that writes the provisional `report.json` after every
/// finished check and leaves the final one to [`record::finish`].
struct ProvisionalOnly(ReportWriter);

impl RunSink for ProvisionalOnly {
    fn on_event(&mut self, event: &RunEvent<'_>) {
        if !matches!(event, RunEvent::RunFinished(_)) {
            self.0.on_event(event);
        }
    }
}

/// `outcome` with the status and condition verdicts of the record as
/// written (witness answers, an unsealed record marked aborted), so that
/// the summary says what report.json says.
fn as_recorded(
    mut outcome: RunOutcome,
    report: &s301_harness::sinks::report::Report,
) -> RunOutcome {
    outcome.status = report.run.status;
    for c in &mut outcome.conditions {
        if let Some(r) = report.conditions.iter().find(|r| r.id == c.id) {
            c.verdict = r.verdict;
        }
    }
    outcome
}

/// The run's shared values before any check: the encryption policy TLS-01 reads.
fn shared_values(require_encryption: bool) -> Shared {
    let mut shared = Shared::default();
    shared.values.insert(
        s301_harness::checks::tls01::REQUIRE_ENCRYPTION_KEY.to_string(),
        serde_json::Value::Bool(require_encryption),
    );
    shared
}

/// Brings up the data channel of a declared terminal (the declaration
/// loaded from `path` already).
async fn declared_terminal(
    path: &Path,
    declaration: Declaration,
    scenario: &Scenario,
    wants_data: bool,
) -> Result<Target, SetupError> {
    let tls = s301_harness::binding::tls::settings(&declaration)
        .map_err(|e| SetupError::Usage(format!("{}: {e}", path.display())))?;
    let data = match (&declaration.data, wants_data) {
        (Some(d), true) => Some(
            s301_harness::binding::data_from_decl(
                d,
                &scenario.data,
                declaration.harness.listen.as_deref(),
                s301_harness::binding::http::ReceiverLimits::default(),
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
                    Ok(ch) => Some(ch as Arc<dyn DataBinding>),
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
