//! `s301 keygen --out PREFIX`: makes an Ed25519 key pair for signing run
//! records (`PREFIX.key`, owner-only, and `PREFIX.pub`; formats in
//! `s301_harness::sinks::integrity::keys`).

use std::process::ExitCode;

use s301_harness::sinks::integrity::keys;

use crate::cli::KeygenArgs;
use crate::{EXIT_PASS, EXIT_USAGE};

/// Runs `s301 keygen`.
pub fn run(args: &KeygenArgs) -> ExitCode {
    match keys::keygen(&args.out) {
        Ok((secret, public)) => {
            crate::out(&format!(
                "secret key: {} (keep it private; sign runs with `s301 run --sign-key {}`)\npublic key: {} (give it to whoever verifies: `s301 verify DIR --pubkey {}`)\n",
                secret.display(),
                secret.display(),
                public.display(),
                public.display()
            ));
            ExitCode::from(EXIT_PASS)
        }
        Err(e) => {
            eprintln!("s301: error: {e}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}
