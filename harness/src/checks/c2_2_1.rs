//! Condition 2-2-1 伝送データの暗号化 (encryption of transmitted data),
//! reported for information: check TLS-01.
//!
//! TLS-01 looks at every transport the run uses: the screen (a console of
//! its own, opened and closed cleanly), the terminal's data API (one
//! `GET /reports`, so a TLS handshake is on record) and the harness's push
//! receiver. Each is either TLS, with its version and suite judged against
//! CRYPTREC's recommended list ([`crate::tls::cryptrec`]), or plaintext.
//!
//! Verdict: `pass` when every transport is TLS with a listed suite. Anything
//! else is `not_applicable` with the reason, unless the run requires
//! encryption (`s301 run --require-encryption`), which makes it a `fail`.
//! 2-2-1 is outside [`ConditionId::ALL`](crate::catalog::ConditionId::ALL),
//! so this verdict never moves a condition or the exit status.

use serde_json::{json, Value};

use super::{budget, CheckCtx, CheckDef, Lane, Outcome, Phase, Requirement};
use crate::binding::{BoxFuture, CloseHow};
use crate::catalog::{CheckId, ConditionId};
use crate::declaration::Declaration;
use crate::scenario::Scenario;
use crate::tls::cryptrec;
use crate::verdict::Verdict;

/// The key in [`Shared::values`](super::Shared) that holds `true` when the
/// run requires encryption (set by `s301 run --require-encryption`).
pub const REQUIRE_ENCRYPTION_KEY: &str = "run.require_encryption";

/// TLS-01: Encryption (informational): the screen and data transports use TLS with a suite on CRYPTREC's e-Government Recommended Ciphers List.
pub const TLS01: CheckDef = CheckDef {
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
    budget: tls01_budget,
    run: tls01,
};

fn tls01_budget(sc: &Scenario, _decl: &Declaration) -> u64 {
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

fn judge_tls(name: &'static str, url: &str, tls: Option<crate::tls::TlsInfo>) -> Seen {
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

fn tls01(ctx: &CheckCtx) -> BoxFuture<'_, Outcome> {
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
            let client = dc.client();
            let base = client.base().to_string();
            let https = base
                .get(..8)
                .is_some_and(|p| p.eq_ignore_ascii_case("https://"));
            if https {
                if let Err(e) = client.list_reports().await {
                    return Outcome::error(
                        format!("data API: GET /reports over https failed: {e}"),
                        json!({ "base_url": base, "error": e }),
                    );
                }
            }
            seen.push(judge_tls("data API", &base, client.last_tls()));
            let receiver = dc.receiver_url();
            let receiver_tls = receiver.starts_with("https://");
            seen.push(Seen {
                name: "push receiver",
                evidence: json!({
                    "transport": "push receiver",
                    "url": receiver,
                    "encrypted": receiver_tls,
                    "note": "the harness serves this with [tls] receiver_cert; the suite of each push is chosen by the terminal from the harness's rustls defaults, all of which are AEAD suites",
                }),
                problem: (!receiver_tls).then(|| format!("push receiver: plaintext ({receiver})")),
            });
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
        let info = |suite: &str| crate::tls::TlsInfo {
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
