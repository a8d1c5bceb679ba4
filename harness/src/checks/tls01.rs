//! Condition 2-2-1 伝送データの暗号化 (encryption of transmitted data),
//! reported for information: check TLS-01.
//!
//! TLS-01 looks at every transport the run uses: the screen (a console of
//! its own, opened and closed cleanly) and the data binding's transports
//! (over HTTP: the terminal's data API, asked once so a TLS handshake is on
//! record, and the harness's push receiver). Each is either TLS, with its version and suite judged against
//! CRYPTREC's recommended list ([`crate::binding::tls::cryptrec`]), or plaintext.
//!
//! Verdict: `pass` when every transport is TLS with a listed suite. Anything
//! else is `not_applicable` with the reason, unless the run requires
//! encryption (`s301 run --require-encryption`), which makes it a `fail`.
//! 2-2-1 is outside [`ConditionId::ALL`](crate::model::ids::ConditionId::ALL),
//! so this verdict never moves a condition or the exit status.

use serde_json::{json, Value};

use super::{budget, CheckCtx, CheckDef, Lane, Outcome, Phase, Requirement};
use crate::binding::data::Security;
use crate::binding::tls::cryptrec;
use crate::binding::{BoxFuture, CloseHow};
use crate::config::declaration::Declaration;
use crate::config::scenario::Scenario;
use crate::model::ids::{CheckId, ConditionId};
use crate::model::verdict::Verdict;

/// The key in [`Shared::values`](super::Shared) that holds `true` when the
/// run requires encryption (set by `s301 run --require-encryption`).
pub const REQUIRE_ENCRYPTION_KEY: &str = "run.require_encryption";

/// TLS-01: Encryption (informational): the screen and data transports use TLS with a suite on CRYPTREC's e-Government Recommended Ciphers List.
pub const DEF: CheckDef = CheckDef {
    id: CheckId::Tls01,
    condition: ConditionId::C2_2_1,
    title: "Encryption (informational): the screen and data transports use TLS with a suite on CRYPTREC's e-Government Recommended Ciphers List",
    requirement: Requirement {
        ja: "（参考）画面、データ API、通報の受信の各経路が TLS を用い、暗号スイートが CRYPTREC 電子政府推奨暗号リストに載っていること。平文の場合は理由を付けて対象外とし、--require-encryption の指定時は不適合とする。",
        en: "For information: the screen, the data API and the push receiver all use TLS with a cipher suite on CRYPTREC's e-Government Recommended Ciphers List; otherwise not applicable with the reason, or fail under --require-encryption.",
    },
    needs: &[],
    lane: Lane::Screen,
    phase: Phase::Transfer,
    budget: time_budget,
    run,
};

fn time_budget(sc: &Scenario, _decl: &Declaration) -> u64 {
    budget::add(sc.screen.connect_timeout_ms, sc.data.request_timeout_ms)
}

/// Whether the run requires encryption (see [`REQUIRE_ENCRYPTION_KEY`]).
pub fn require_encryption(ctx: &CheckCtx) -> bool {
    let shared = ctx.shared.lock().unwrap_or_else(|p| p.into_inner());
    shared
        .values
        .get(REQUIRE_ENCRYPTION_KEY)
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// One transport as seen by TLS-01.
struct Seen {
    name: &'static str,
    evidence: Value,
    /// `None` when it is TLS with a listed suite; else why not.
    problem: Option<String>,
}

fn judge_tls(name: &'static str, url: &str, tls: Option<crate::binding::tls::TlsInfo>) -> Seen {
    match tls {
        Some(info) => {
            let problem = (!info.cryptrec.listed).then(|| {
                format!(
                    "{name}: {} with {} is not on the recommended list ({})",
                    info.version, info.suite, info.cryptrec.reason
                )
            });
            Seen {
                name,
                evidence: json!({ "transport": name, "url": url, "encrypted": true, "tls": info }),
                problem,
            }
        }
        None => Seen {
            name,
            evidence: json!({ "transport": name, "url": url, "encrypted": false }),
            problem: Some(format!("{name}: plaintext ({url})")),
        },
    }
}

fn run(ctx: &CheckCtx) -> BoxFuture<'_, Outcome> {
    Box::pin(async move {
        let require = require_encryption(ctx);
        let mut seen: Vec<Seen> = Vec::new();

        let timeout = CheckCtx::ms(ctx.scenario.screen.connect_timeout_ms);
        match ctx.screen.open("TLS-01", timeout).await {
            Ok(console) => {
                let info = console.info().clone();
                console.close(CloseHow::Clean).await;
                seen.push(judge_tls("screen", &info.url, info.tls));
            }
            Err(e) => {
                return Outcome::error(
                    format!("cannot open a console to see the screen transport: {e}"),
                    json!({ "target": ctx.screen.target() }),
                )
            }
        }

        if let Some(dc) = &ctx.data {
            let transports = match dc.transports().await {
                Ok(t) => t,
                Err(e) => return Outcome::error(e.detail, e.evidence),
            };
            for t in transports {
                seen.push(match t.security {
                    Security::Observed(tls) => judge_tls(t.name, &t.url, tls),
                    Security::Configured { encrypted, note } => Seen {
                        name: t.name,
                        evidence: json!({
                            "transport": t.name,
                            "url": t.url,
                            "encrypted": encrypted,
                            "note": note,
                        }),
                        problem: (!encrypted).then(|| format!("{}: plaintext ({})", t.name, t.url)),
                    },
                });
            }
        }

        let problems: Vec<String> = seen.iter().filter_map(|s| s.problem.clone()).collect();
        let names: Vec<&str> = seen.iter().map(|s| s.name).collect();
        let evidence = json!({
            "require_encryption": require,
            "list": cryptrec::LIST_NAME,
            "transports": seen.into_iter().map(|s| s.evidence).collect::<Vec<_>>(),
        });
        if problems.is_empty() {
            return Outcome::pass(
                format!(
                    "{} use TLS with suites on the CRYPTREC recommended list",
                    names.join(", ")
                ),
                evidence,
            );
        }
        let detail = problems.join("; ");
        if require {
            Outcome::fail(format!("encryption required: {detail}"), evidence)
        } else {
            Outcome {
                verdict: Verdict::NotApplicable,
                detail: format!(
                    "informational (use --require-encryption to make this a failure): {detail}"
                ),
                evidence,
            }
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;

    #[test]
    fn plaintext_and_unlisted_suites_are_problems() {
        let s = judge_tls("screen", "ws://x", None);
        assert_eq!(s.problem.as_deref(), Some("screen: plaintext (ws://x)"));
        let info = |suite: &str| crate::binding::tls::TlsInfo {
            version: "TLSv1_3".into(),
            suite: suite.into(),
            cryptrec: cryptrec::classify(suite),
            client_certificate: true,
            server_name: "127.0.0.1".into(),
        };
        let s = judge_tls("screen", "wss://x", Some(info("TLS13_AES_256_GCM_SHA384")));
        assert!(s.problem.is_none());
        assert_eq!(s.evidence["tls"]["cryptrec"]["listed"], true);
        let s = judge_tls(
            "data API",
            "https://x",
            Some(info("TLS13_CHACHA20_POLY1305_SHA256")),
        );
        assert!(s.problem.unwrap().contains("not on the recommended list"));
    }
}
