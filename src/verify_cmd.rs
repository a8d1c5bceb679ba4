//! `s301 verify DIR [--pubkey FILE]`: checks a run directory against its
//! manifest and, with a public key, the manifest's signature.
//!
//! Exit status: 0 the directory matches its manifest (and the signature is
//! valid when a key was given); 1 any file added, removed or changed, a
//! missing or unreadable manifest, or a missing or bad signature; 2 a
//! usage error (the key file cannot be used).

use std::fmt::Write as _;
use std::process::ExitCode;

use s301_harness::sinks::integrity::{self, keys, SignatureCheck};

use crate::cli::VerifyArgs;
use crate::{EXIT_FAIL, EXIT_PASS, EXIT_USAGE};

/// Runs `s301 verify`.
pub fn run(args: &VerifyArgs) -> ExitCode {
    let key = match &args.pubkey {
        Some(p) => match keys::load_verifying_key(p) {
            Ok(k) => Some(k),
            Err(e) => {
                eprintln!("s301: error: {e}");
                return ExitCode::from(EXIT_USAGE);
            }
        },
        None => None,
    };
    let dir = &args.dir;
    let v = match integrity::verify(dir, key.as_ref()) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("s301 verify: FAILED: {e}");
            return ExitCode::from(EXIT_FAIL);
        }
    };
    let mut s = String::new();
    for d in &v.differences {
        let _ = writeln!(s, "  {d}");
    }
    let sig = match &v.signature {
        SignatureCheck::Valid => "signature: valid (Ed25519, key given)".to_string(),
        SignatureCheck::NotChecked { present: true } => {
            "signature: present, not checked (give --pubkey FILE to check it)".to_string()
        }
        SignatureCheck::NotChecked { present: false } => "signature: none".to_string(),
        SignatureCheck::Missing => format!(
            "signature: MISSING ({} not found; the record is not signed)",
            integrity::SIGNATURE_FILE
        ),
        SignatureCheck::Malformed(why) => format!("signature: MALFORMED: {why}"),
        SignatureCheck::Invalid(why) => format!("signature: INVALID: {why}"),
    };
    let _ = writeln!(s, "{sig}");
    if let Some(id) = identity(dir) {
        let _ = writeln!(s, "{id}");
    }
    if v.is_ok() {
        let _ = writeln!(
            s,
            "s301 verify: OK: {} matches its manifest ({} files)",
            dir.display(),
            v.files
        );
        crate::out(&s);
        ExitCode::from(EXIT_PASS)
    } else {
        let _ = writeln!(
            s,
            "s301 verify: FAILED: {}: {} difference(s) from the manifest{}",
            dir.display(),
            v.differences.len(),
            if v.signature.is_ok() {
                ""
            } else {
                ", signature not valid"
            }
        );
        crate::out(&s);
        ExitCode::from(EXIT_FAIL)
    }
}

/// One line naming the run the record holds, from its `report.json`
/// (nothing if it is missing or unreadable: the verdict above stands).
fn identity(dir: &std::path::Path) -> Option<String> {
    let bytes = s301_harness::config::declaration::read_regular(
        &dir.join("report.json"),
        256 * 1024 * 1024,
    )
    .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let run = v.get("run")?;
    let field = |k: &str| {
        run.get(k)
            .and_then(|x| x.as_str())
            .unwrap_or("-")
            .to_string()
    };
    let mut line = format!(
        "record: run {} ({}), scenario {}, status {}",
        field("id"),
        field("started_at"),
        field("scenario"),
        field("status")
    );
    for (key, label) in [("operator", "operator"), ("department", "department")] {
        if let Some(x) = run.get(key).and_then(|x| x.as_str()) {
            let _ = write!(line, ", {label} {x}");
        }
    }
    Some(line)
}
