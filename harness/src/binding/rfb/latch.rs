//! The authentication latch: credentials are sent to a terminal until they
//! fail once, never again.
//!
//! A VNC server counts failed authentications per client address and locks
//! the client out after a few (TigerVNC: five, then "Too many security
//! failures" for a growing time). A dispatch console locked out of its
//! terminal is real harm, and a wrong password does not get right by
//! trying again. So once an open of a binding fails at authentication,
//! every later open of that binding fails at once with the same error,
//! without connecting.
//!
//! What counts as an authentication failure, while no console of the
//! binding has passed security yet:
//! - SecurityResult "failed" after the VNC Authentication response went out;
//! - a refusal at the security stage itself (no security type, a reason).
//!
//! Once a console has passed security, the credentials are known good, and
//! a later failure at those stages is the terminal refusing a console
//! (a mock under `refuse` answers a second console with SecurityResult
//! "failed, terminal busy" after its password): nothing is latched then. A
//! console passing security while another open's failure is latched (they
//! were in flight together) clears the latch for the same reason.

use std::sync::{Arc, Mutex};

use super::handshake::AuthStep;
use crate::binding::OpenError;

/// The first authentication failure of a binding and the console it
/// happened to.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthFailure {
    /// The open error, replayed to every later open.
    pub error: OpenError,
    /// The label of the console that failed (`"ST-01"`).
    pub label: String,
    /// The scope that opened it, if any (the run's name for it, `"ST-01"`).
    pub scope: Option<&'static str>,
}

impl AuthFailure {
    /// Why a later open was not attempted, for the record.
    pub fn explain(&self) -> String {
        let by = match self.scope {
            Some(scope) => format!("console {} of {scope}", self.label),
            None => format!("console {}", self.label),
        };
        format!(
            "not connected: authentication already failed in this run ({by}: {}); \
             credentials are never sent again, so the terminal does not lock the console out",
            self.error
        )
    }
}

#[derive(Debug, Default)]
struct State {
    /// A console has passed security: the credentials are good.
    passed: bool,
    /// The latched failure.
    failed: Option<AuthFailure>,
}

/// The latch, shared by every clone of a binding.
#[derive(Debug, Clone, Default)]
pub struct AuthLatch(Arc<Mutex<State>>);

impl AuthLatch {
    /// The latched failure, if any: an open must then fail with its error
    /// without connecting.
    pub fn latched(&self) -> Option<AuthFailure> {
        self.lock().failed.clone()
    }

    /// Records how the security stage of one open ended: `step` as the
    /// handshake left it, `result` the open's error if it failed. Returns
    /// the failure when this open latched it.
    pub fn record(
        &self,
        label: &str,
        step: AuthStep,
        result: Option<&OpenError>,
    ) -> Option<AuthFailure> {
        let mut st = self.lock();
        match (step, result) {
            (AuthStep::Passed, _) => {
                st.passed = true;
                st.failed = None;
                None
            }
            (
                AuthStep::CredentialsRefused | AuthStep::RefusedBeforeCredentials,
                Some(error @ OpenError::Refused { .. }),
            ) if !st.passed && st.failed.is_none() => {
                let f = AuthFailure {
                    error: error.clone(),
                    label: label.to_string(),
                    scope: crate::binding::transcript::current_scope(),
                };
                st.failed = Some(f.clone());
                Some(f)
            }
            _ => None,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use crate::binding::rfb::RfbBinding;
    use crate::binding::{ScreenBinding, Stage};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn refused(stage: Stage, reason: &str) -> OpenError {
        OpenError::Refused {
            stage,
            reason: reason.into(),
        }
    }

    #[test]
    fn a_refusal_after_credentials_latches_until_a_console_passes() {
        let l = AuthLatch::default();
        let e = refused(Stage::AuthenticationResult, "Authentication failure");
        assert!(l.record("x", AuthStep::CredentialsSent, Some(&e)).is_none());
        let f = l
            .record("ST-01", AuthStep::CredentialsRefused, Some(&e))
            .unwrap();
        assert_eq!(f.error, e);
        assert_eq!(l.latched().unwrap().label, "ST-01");
        // The first failure stays the recorded one.
        let other = refused(Stage::Authentication, "Too many security failures");
        assert!(l
            .record("B", AuthStep::RefusedBeforeCredentials, Some(&other))
            .is_none());
        assert_eq!(l.latched().unwrap().error, e);
        // A console that was in flight and passed proves the credentials.
        l.record("A", AuthStep::Passed, None);
        assert!(l.latched().is_none());
    }

    #[test]
    fn after_a_console_passed_refusals_are_busy_terminals_not_auth_failures() {
        let l = AuthLatch::default();
        l.record("A", AuthStep::Passed, None);
        let busy = refused(Stage::AuthenticationResult, "terminal busy");
        assert!(l
            .record("B", AuthStep::CredentialsRefused, Some(&busy))
            .is_none());
        assert!(l.latched().is_none());
    }

    #[test]
    fn closes_and_timeouts_never_latch() {
        let l = AuthLatch::default();
        let closed = refused(Stage::Authentication, "connection closed by terminal");
        assert!(l.record("A", AuthStep::NotReached, Some(&closed)).is_none());
        let t = OpenError::Timeout {
            stage: Stage::AuthenticationResult,
            after_ms: 5,
        };
        assert!(l.record("A", AuthStep::CredentialsSent, Some(&t)).is_none());
        assert!(l.latched().is_none());
    }

    /// A terminal asking for VNC Authentication that refuses every
    /// response, counting its connections.
    async fn refusing_terminal(reason: &'static str) -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("rfb://{}", listener.local_addr().unwrap());
        let count = Arc::new(AtomicUsize::new(0));
        let c = count.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                c.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = [0u8; 16];
                    s.write_all(b"RFB 003.008\n").await?;
                    s.read_exact(&mut buf[..12]).await?;
                    s.write_all(&[1, 2]).await?; // one type: VNC Authentication
                    s.read_exact(&mut buf[..1]).await?;
                    s.write_all(&[7; 16]).await?; // challenge
                    s.read_exact(&mut buf).await?; // response
                    let mut out = 1u32.to_be_bytes().to_vec();
                    out.extend_from_slice(&(reason.len() as u32).to_be_bytes());
                    out.extend_from_slice(reason.as_bytes());
                    s.write_all(&out).await?;
                    Ok::<_, std::io::Error>(())
                });
            }
        });
        (url, count)
    }

    #[tokio::test]
    async fn after_one_failed_authentication_no_open_connects_again() {
        let (url, count) = refusing_terminal("Authentication failure").await;
        let b = RfbBinding::new(&url, Some("wrong")).unwrap();
        let first = b.open("ST-01", Duration::from_secs(5)).await.err().unwrap();
        assert_eq!(
            first,
            refused(Stage::AuthenticationResult, "Authentication failure")
        );
        assert_eq!(count.load(Ordering::SeqCst), 1);
        // Clones share the latch (a run hands its binding around in an Arc,
        // but a clone must not reopen the door either).
        let clone = b.clone();
        for i in 0..10 {
            let which = if i % 2 == 0 { &b } else { &clone };
            let e = which
                .open(&format!("again-{i}"), Duration::from_secs(5))
                .await
                .err()
                .unwrap();
            assert_eq!(e, first, "the same recorded reason");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(count.load(Ordering::SeqCst), 1, "no further connection");
    }

    #[tokio::test]
    async fn a_busy_refusal_after_the_password_worked_latches_nothing() {
        use crate::binding::CloseHow;
        use s301_mocks::{MockConfig, MockTerminal};
        let mock = MockTerminal::start(MockConfig {
            password: Some("pw-301".into()),
            ..MockConfig::default()
        })
        .await
        .unwrap();
        let b = RfbBinding::new(&mock.screen_url(), Some("pw-301")).unwrap();
        let wait = Duration::from_secs(5);
        let a = b.open("A", wait).await.unwrap();
        // Under `refuse` the mock answers a second console's (right)
        // password with SecurityResult "failed: terminal busy".
        let busy = b.open("B", wait).await.err().unwrap();
        assert!(
            matches!(&busy, OpenError::Refused { stage: Stage::AuthenticationResult, reason } if reason.contains("busy")),
            "{busy:?}"
        );
        assert!(b.auth_failure().is_none());
        a.close(CloseHow::Clean).await;
        let mut lock = mock.lock_view();
        tokio::time::timeout(wait, lock.wait_for(|v| v.holder.is_none()))
            .await
            .unwrap()
            .unwrap();
        let c = b.open("C", wait).await.unwrap();
        c.close(CloseHow::Clean).await;
        mock.shutdown().await;
    }
}
