//! The stop signals of `s301 run` and `s301 mock`: Ctrl-C (SIGINT), SIGTERM
//! (what CI runners and service managers send) and SIGHUP (the SSH session
//! of an installation test closed). All three mean the same: stop, and
//! leave a sealed record.
//!
//! [`install`] registers the handlers at once, so that a signal arriving
//! while the rest of the setup is still loading is not lost (the default
//! action would kill the process and leave no record).

use std::io::Write;

use s301_harness::run::runner::AbortSignal;
use s301_harness::sinks::integrity::hook;
use s301_harness::sinks::report::json;

use crate::EXIT_INCONCLUSIVE;

/// A stop signal, by the name the operator knows it by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Ctrl-C.
    Interrupt,
    /// SIGTERM.
    Terminate,
    /// SIGHUP: the controlling terminal went away.
    HangUp,
}

impl Stop {
    /// The signal's name.
    pub fn name(self) -> &'static str {
        match self {
            Stop::Interrupt => "Ctrl-C (SIGINT)",
            Stop::Terminate => "SIGTERM",
            Stop::HangUp => "SIGHUP (the terminal session closed)",
        }
    }
}

/// The registered stop signals.
pub struct StopSignals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hup: tokio::signal::unix::Signal,
}

/// Registers the handlers now (inside the runtime). From here on these
/// signals no longer end the process by themselves.
pub fn install() -> std::io::Result<StopSignals> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(StopSignals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }
    #[cfg(not(unix))]
    {
        Ok(StopSignals {})
    }
}

impl StopSignals {
    /// The next stop signal; `None` if none can arrive any more.
    pub async fn recv(&mut self) -> Option<Stop> {
        #[cfg(unix)]
        {
            let got = tokio::select! {
                s = self.int.recv() => s.map(|_| Stop::Interrupt),
                s = self.term.recv() => s.map(|_| Stop::Terminate),
                s = self.hup.recv() => s.map(|_| Stop::HangUp),
            };
            if got.is_some() {
                hook::signalled();
            }
            got
        }
        #[cfg(not(unix))]
        {
            let got = tokio::signal::ctrl_c().await.ok().map(|_| Stop::Interrupt);
            if got.is_some() {
                hook::signalled();
            }
            got
        }
    }
}

/// Writes one line to stderr, ignoring errors: after SIGHUP the terminal
/// may be gone, and the record matters more than the message.
fn say(line: &str) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "{line}");
    let _ = e.flush();
}

/// For `s301 run`: the first stop signal aborts the run (the running
/// checks are cancelled, the rest never run, the record is still written
/// and sealed); a second one quits at once, removing the temporary files
/// of writes in flight, and leaves `report.json` as it stood (marked
/// aborted, never completed, see `docs/integrity.md`).
pub async fn watch_run(mut signals: StopSignals, abort: AbortSignal) {
    let Some(first) = signals.recv().await else {
        return;
    };
    abort.abort_because(format!("interrupted by {}", first.name()));
    say(&format!(
        "\ns301: interrupted by {}: stopping the running checks and sealing the record \
         (Ctrl-C again to quit now)",
        first.name()
    ));
    if let Some(second) = signals.recv().await {
        say(&format!(
            "s301: {} as well: quitting now; report.json stays as it was, marked aborted and not sealed",
            second.name()
        ));
        json::exit_removing_temps(i32::from(EXIT_INCONCLUSIVE));
    }
}
