//! Command-line arguments (clap derive).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use s301_mocks::hostile::{Hostile, HostileData};
use s301_mocks::{Exclusivity, Fault, PointerSprite, ScreenMode};

/// Conformance harness for S3-01 dedicated terminals: stands in for the fire
/// dispatch system and checks screen transfer, operation, data exchange and
/// data requests (conditions 1-2-1, 1-2-2, 1-3-1, 1-3-2).
#[derive(Debug, Parser)]
#[command(
    name = "s301",
    version,
    propagate_version = true,
    after_help = "Exit status: 0 every applicable condition passed; 1 a condition failed; \
2 usage or declaration error (nothing ran); 3 inconclusive or aborted."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// More log output on stderr (-v info, -vv debug; RUST_LOG overrides).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// `s301 checks`.
#[derive(Debug, clap::Args)]
pub struct ChecksArgs {
    /// Print the catalog as the Markdown of docs/checks.md: each check's
    /// condition, prerequisites and requirement in Japanese and English.
    #[arg(long)]
    pub markdown: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the checks against a terminal (default: the built-in conforming mock).
    Run(RunArgs),
    /// Run the mock terminal on its own; prints its declaration and serves until Ctrl-C.
    Mock(MockArgs),
    /// List the check catalog (--markdown: the table in docs/checks.md).
    Checks(ChecksArgs),
    /// Check a run directory against its manifest (and signature).
    Verify(VerifyArgs),
    /// Make an Ed25519 key pair for signing run records.
    Keygen(KeygenArgs),
    /// Produce a run directory's HTML, JUnit or 適合宣言 output again from report.json.
    Report(ReportArgs),
    /// List the run directories under DIR (default runs/), newest first, with verdicts and seals.
    Runs(crate::runs_cmd::RunsArgs),
    /// Compare two run directories: verdicts (regressions first), declaration, figures, screenshots.
    Diff(crate::diff_cmd::DiffArgs),
    /// Write a commented declaration template for a new terminal (never overwrites).
    Init(InitArgs),
    /// Capture the terminal's whole screen once, as PNG, through the checks' binding.
    #[command(
        after_help = "Exit status: 0 the PNG was written; 1 the capture failed (refused, \
authentication failed, protocol violation, timeout, or the file could not be written); \
2 usage error (nothing was connected)."
    )]
    Capture(CaptureArgs),
}

/// `s301 capture`.
#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// The terminal's screen: ws://HOST:PORT/PATH, wss://HOST:PORT/PATH (with --ca) or
    /// rfb://HOST:PORT.
    #[arg(value_name = "URL")]
    pub url: String,
    /// Where the PNG goes; it is replaced whole or left untouched.
    #[arg(value_name = "OUT.png")]
    pub out: PathBuf,
    /// VNC Authentication password from this environment variable.
    #[arg(long, value_name = "VAR")]
    pub password_env: Option<String>,
    /// The pixel format asked for: rgb888, rgb565, colour-map-8 or native (the terminal's own).
    #[arg(long, value_name = "FORMAT", default_value = "rgb888",
          value_parser = crate::capture_cmd::parse_pixel_format)]
    pub pixel_format: s301_harness::config::declaration::PixelFormatChoice,
    /// How long opening the console may take, and then the full update (ms each).
    /// Default: ST-01's connect and update timeouts in the default scenario.
    #[arg(long, value_name = "N")]
    pub timeout_ms: Option<u64>,
    /// For wss://: the CA certificate (PEM) that signed the terminal's certificate.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// For wss:// with mutual TLS: the certificate chain (PEM) the console presents.
    #[arg(long, value_name = "FILE", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// The private key (PEM) of --client-cert.
    #[arg(long, value_name = "FILE", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// For wss://: the name to verify the terminal's certificate against, if not the URL's host.
    #[arg(long, value_name = "NAME")]
    pub server_name: Option<String>,
}

/// `s301 init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where the template goes; an existing file is never overwritten.
    #[arg(value_name = "FILE", default_value = "terminal.toml")]
    pub file: PathBuf,
    /// Ask for the essentials (identity, URLs, declarant, date, department) on the terminal.
    #[arg(long)]
    pub interactive: bool,
}

/// `s301 report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run directory (holding report.json and evidence/).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// html (report.html), junit (junit.xml), md (declaration.md), csv (declaration.csv),
    /// xlsx (declaration.xlsx) or declaration-html (declaration.html).
    #[arg(long, value_name = "FORMAT")]
    pub format: String,
    /// Write here instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `s301 verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The run directory (holding manifest.json).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Public key file (from `s301 keygen`): also check manifest.sig.
    #[arg(long, value_name = "FILE")]
    pub pubkey: Option<PathBuf>,
}

/// `s301 keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Writes PREFIX.key (secret, owner-only) and PREFIX.pub; never overwrites.
    #[arg(long, value_name = "PREFIX")]
    pub out: PathBuf,
}

/// `s301 run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Terminal declaration (TOML). Without it the built-in mock terminal runs in process.
    #[arg(long, value_name = "FILE")]
    pub terminal: Option<PathBuf>,
    /// Scenario with durations and bounds: a built-in one by name (default, ci, acceptance,
    /// witness) or a TOML file. Default: the built-in default.
    #[arg(long, value_name = "NAME|FILE")]
    pub scenario: Option<PathBuf>,
    /// Run directory for report.json. Default: runs/<run-id>/. Must be empty or missing.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// With --out: first clear the directory of an earlier run (one holding report.json or
    /// manifest.json); everything in it is removed.
    #[arg(long, requires = "out")]
    pub force: bool,
    /// Seed for every random choice (recorded in the report; reuse it to replay).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Run only these checks or conditions (comma-separated, e.g. ST-01,EX-01 or 1-2-1).
    #[arg(long, value_name = "IDS", value_delimiter = ',')]
    pub only: Vec<String>,
    /// Leave out these checks or conditions (comma-separated).
    #[arg(long, value_name = "IDS", value_delimiter = ',')]
    pub skip: Vec<String>,
    /// Sign the record's manifest with this Ed25519 secret key (from `s301 keygen`).
    #[arg(long, value_name = "FILE")]
    pub sign_key: Option<PathBuf>,
    /// The vendor's test operator (試験実施者) who runs the test; recorded in report.json.
    #[arg(long, value_name = "NAME")]
    pub operator: Option<String>,
    /// The department's witness (立会者) who answers the witness questions; recorded in
    /// report.json and with each answer. Without it, answers are recorded as the operator's.
    #[arg(long, value_name = "NAME")]
    pub witness: Option<String>,
    /// The fire department (消防本部) the run is made for; recorded in report.json.
    #[arg(long, value_name = "NAME")]
    pub department: Option<String>,
    /// Language of the summary, progress lines and prompts (en or ja). Records always
    /// carry both.
    #[arg(long, value_name = "LANG", default_value = "en")]
    pub lang: s301_harness::model::lang::Lang,
    /// Serve the live witness console (the screen, the progress, the questions
    /// with their evidence) to a browser at ADDR (default 127.0.0.1:8301).
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:8301")]
    pub witness_ui: Option<String>,
    /// Make TLS-01 (2-2-1, informational) fail on a plaintext transport or a
    /// cipher suite that is not on CRYPTREC's recommended list.
    #[arg(long)]
    pub require_encryption: bool,
}

/// `s301 mock`.
#[derive(Debug, Args)]
pub struct MockArgs {
    /// HTTP address: screen at ws://ADDR/s3-01/v1/screen, data API under http://ADDR/s3-01/v1.
    /// Port 0 picks a free port; the printed declaration holds the real one.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Also serve RFB directly over TCP on this address (rfb://).
    #[arg(long, value_name = "ADDR")]
    pub rfb_listen: Option<SocketAddr>,
    /// Carry a fault (repeatable), e.g. share-screen.
    #[arg(long = "fault", value_name = "NAME", value_parser = parse_fault)]
    pub faults: Vec<Fault>,
    /// What happens to a second console.
    #[arg(long, value_name = "POLICY", default_value = "refuse", value_parser = parse_exclusivity)]
    pub exclusivity: Exclusivity,
    /// Delay before each input event is applied to the screen (ms).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub input_delay_ms: u64,
    /// With --fault stall-after: how long each session is served before it
    /// stops answering update requests (ms).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub stall_after_ms: u64,
    /// Where to push reports: the harness's reports URL
    /// (http://HOST:PORT/s3-01/v1/reports). Default: a free port on
    /// 127.0.0.1, which the printed declaration's [harness] listen names.
    #[arg(long, value_name = "URL")]
    pub push_to: Option<String>,
    /// Screen width in pixels (the mock's desktop, or a hostile screen that
    /// serves one such as rre-flood).
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub width: u16,
    /// Screen height in pixels.
    #[arg(long, value_name = "N", default_value_t = 768)]
    pub height: u16,
    /// Require VNC Authentication with the password held in this environment variable.
    #[arg(long, value_name = "VAR")]
    pub password_env: Option<String>,
    /// Serve TLS (wss://, https://) with test certificates generated at start;
    /// the printed declaration's [tls] section names the PEM files.
    #[arg(long)]
    pub tls: bool,
    /// With --tls: refuse clients without a certificate from the mock's CA (mutual TLS).
    #[arg(long, requires = "tls")]
    pub tls_client_auth: bool,
    /// Serve a hostile screen instead of the mock terminal (on --listen), e.g.
    /// zlib-bomb; for testing the harness's robustness, never a conformance run.
    #[arg(long, value_name = "NAME", value_parser = parse_hostile)]
    pub hostile: Option<Hostile>,
    /// Run the mock terminal with a hostile data side, e.g. slowloris-push
    /// (every push is that hostile push) or
    /// wrong-content-type (every GET of reports is answered that way);
    /// plain HTTP only. For testing the harness's robustness.
    #[arg(long, value_name = "NAME", value_parser = parse_hostile_data, conflicts_with_all = ["hostile", "tls"])]
    pub hostile_data: Option<HostileData>,
    /// Blink the text cursor: one text cell toggles every 250 ms with no input.
    #[arg(long)]
    pub blink: bool,
    /// What the click pad shows: counter (a marker and a count per click) or
    /// pointer-follow (a crosshair at the pointer; clicks change nothing).
    #[arg(long, value_name = "MODE", default_value = "counter")]
    pub screen_mode: ScreenMode,
    /// Where the pointer rests at start (default: the click probe's point).
    #[arg(long, value_name = "X,Y", value_parser = parse_point)]
    pub pointer_start: Option<(u16, u16)>,
    /// Draw a pointer sprite into the image: off, unless-cursor-encoding
    /// (consoles asking for the Cursor pseudo-encoding get its shape
    /// instead), always, or shape-and-drawn (the shape is sent and the sprite
    /// drawn anyway).
    #[arg(long, value_name = "WHEN", default_value = "off")]
    pub pointer_sprite: PointerSprite,
    /// Answer a console's first full request with the pointer's shape alone
    /// (as TigerVNC can), the image following on its next request. Needs a
    /// pointer sprite sent as a Cursor shape (--pointer-sprite
    /// unless-cursor-encoding).
    #[arg(long)]
    pub cursor_shape_first: bool,
}

/// `X,Y` as two screen coordinates.
fn parse_point(s: &str) -> Result<(u16, u16), String> {
    let (x, y) = s
        .split_once(',')
        .ok_or_else(|| format!("expected X,Y, got {s:?}"))?;
    let coord = |v: &str| {
        v.trim()
            .parse::<u16>()
            .map_err(|e| format!("{v:?} in {s:?}: {e}"))
    };
    Ok((coord(x)?, coord(y)?))
}

fn parse_hostile_data(s: &str) -> Result<HostileData, String> {
    HostileData::parse(s).ok_or_else(|| {
        let known: Vec<&str> = HostileData::ALL.iter().map(HostileData::name).collect();
        format!(
            "unknown hostile data case \"{s}\"; known cases: {}",
            known.join(", ")
        )
    })
}

fn parse_hostile(s: &str) -> Result<Hostile, String> {
    Hostile::parse(s).ok_or_else(|| {
        let known: Vec<&str> = Hostile::ALL.iter().map(Hostile::name).collect();
        format!(
            "unknown hostile case \"{s}\"; known cases: {}",
            known.join(", ")
        )
    })
}

fn parse_fault(s: &str) -> Result<Fault, String> {
    Fault::parse(s).ok_or_else(|| {
        let known: Vec<&str> = Fault::ALL.iter().map(Fault::name).collect();
        format!("unknown fault \"{s}\"; known faults: {}", known.join(", "))
    })
}

fn parse_exclusivity(s: &str) -> Result<Exclusivity, String> {
    s.parse::<Exclusivity>().map_err(|e| e.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn only_and_skip_split_on_commas_and_repeat() {
        let cli = Cli::parse_from(["s301", "run", "--only", "ST-01,EX-01", "--only", "1-3-2"]);
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        assert_eq!(args.only, ["ST-01", "EX-01", "1-3-2"]);
        assert!(args.skip.is_empty());
    }

    #[test]
    fn hostile_data_parses_its_cases_and_lists_them_when_unknown() {
        let cli = Cli::parse_from(["s301", "mock", "--hostile-data", "http10-answer"]);
        let Command::Mock(args) = cli.command else {
            panic!("not mock")
        };
        assert_eq!(args.hostile_data.map(|h| h.name()), Some("http10-answer"));
        let err = parse_hostile_data("melt").unwrap_err();
        assert!(
            err.contains("slowloris-push") && err.contains("wrong-content-type"),
            "{err}"
        );
        assert!(
            Cli::try_parse_from(["s301", "mock", "--hostile-data", "huge-push", "--tls"]).is_err()
        );
    }

    #[test]
    fn mock_screen_mode_flags_parse_and_default_to_the_classic_screen() {
        let Command::Mock(args) = Cli::parse_from(["s301", "mock"]).command else {
            panic!("not mock")
        };
        assert!(!args.blink);
        assert_eq!(args.screen_mode, ScreenMode::Counter);
        assert_eq!(args.pointer_start, None);
        assert_eq!(args.pointer_sprite, PointerSprite::Off);
        let Command::Mock(args) = Cli::parse_from([
            "s301",
            "mock",
            "--blink",
            "--screen-mode",
            "pointer-follow",
            "--pointer-start",
            "10,20",
            "--pointer-sprite",
            "unless-cursor-encoding",
        ])
        .command
        else {
            panic!("not mock")
        };
        assert!(args.blink);
        assert_eq!(args.screen_mode, ScreenMode::PointerFollow);
        assert_eq!(args.pointer_start, Some((10, 20)));
        assert_eq!(args.pointer_sprite, PointerSprite::UnlessCursorEncoding);
        assert!(Cli::try_parse_from(["s301", "mock", "--pointer-start", "10"]).is_err());
        assert!(Cli::try_parse_from(["s301", "mock", "--pointer-sprite", "sometimes"]).is_err());
        assert!(parse_point("1,70000").is_err());
    }

    #[test]
    fn unknown_fault_lists_the_known_ones() {
        let err = parse_fault("melt").unwrap_err();
        assert!(err.contains("share-screen"), "{err}");
        assert_eq!(parse_fault("share-screen"), Ok(Fault::ShareScreen));
    }
}
