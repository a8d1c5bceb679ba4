//! The `s301` command line: runs the conformance checks against a dedicated
//! terminal (or the built-in mock), runs the mock terminal on its own, and
//! lists the check catalog.
//!
//! Exit status: 0 every applicable condition passed, 1 a condition failed,
//! 2 usage or declaration error (nothing ran), 3 inconclusive or aborted.

mod checks_cmd;
mod cli;
mod keygen_cmd;
mod mock_cmd;
mod progress;
mod record;
mod report_cmd;
mod run_cmd;
mod summary;
mod text;
mod verify_cmd;

use std::process::ExitCode;

use clap::Parser;

/// Every applicable condition passed.
pub const EXIT_PASS: u8 = 0;
/// A condition failed.
pub const EXIT_FAIL: u8 = 1;
/// Usage or declaration error; nothing ran.
pub const EXIT_USAGE: u8 = 2;
/// Inconclusive (an error or a skipped prerequisite), or aborted.
pub const EXIT_INCONCLUSIVE: u8 = 3;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_tracing(cli.verbose);
    match cli.command {
        cli::Command::Checks => {
            out(&checks_cmd::table());
            ExitCode::from(EXIT_PASS)
        }
        cli::Command::Run(args) => block_on(run_cmd::run(args)),
        cli::Command::Mock(args) => block_on(mock_cmd::run(args)),
        cli::Command::Verify(args) => verify_cmd::run(&args),
        cli::Command::Keygen(args) => keygen_cmd::run(&args),
        cli::Command::Report(args) => report_cmd::run(&args),
    }
}

/// Writes to stdout, ignoring errors: a closed pipe (`s301 ... | head`) must
/// not turn into a panic, and the report is on disk anyway.
pub fn out(text: &str) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(text.as_bytes());
    let _ = o.flush();
}

fn block_on(fut: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(fut),
        Err(e) => {
            eprintln!("s301: error: cannot start the async runtime: {e}");
            ExitCode::from(EXIT_INCONCLUSIVE)
        }
    }
}

/// Logs go to stderr; `-v` shows info, `-vv` debug, `RUST_LOG` overrides.
fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
