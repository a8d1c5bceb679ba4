//! The session's handshake: ProtocolVersion, security (None or VNC
//! Authentication), the exclusivity decision, SecurityResult, ClientInit and
//! ServerInit.

use rand::RngCore;
use s301_rfb::auth::vnc_auth_check;
use s301_rfb::handshake::{
    read_version, security, server_version_for, write_security_offer, write_security_result,
    ClientInit, SecurityOffer, SecurityResult, ServerInit, Version,
};
use s301_rfb::reader::Reader;
use s301_rfb::PixelFormat;

use super::{
    End, Mode, Session, BUSY_REASON, DESKTOP_NAME, MAX_HANDSHAKE_BUFFER, SUPERSEDED_REASON,
    TAKEOVER_WAIT,
};
use crate::lock::{wait_ended, Decision, Signal};
use crate::transport::Inbound;

impl Session {
    /// Reads exactly `n` handshake bytes.
    async fn read_exact(&mut self, n: usize) -> Result<Vec<u8>, End> {
        while self.inbuf.len() < n {
            match self.t.recv().await {
                Inbound::Data(d) => {
                    if self.inbuf.len() + d.len() > MAX_HANDSHAKE_BUFFER {
                        return Err(End::Violation(
                            "too many bytes sent ahead during the handshake".into(),
                        ));
                    }
                    self.inbuf.extend_from_slice(&d);
                }
                Inbound::Closed { clean } => return Err(End::Client { clean }),
                Inbound::Violation(v) => return Err(End::Violation(v)),
            }
        }
        let rest = self.inbuf.split_off(n);
        Ok(std::mem::replace(&mut self.inbuf, rest))
    }

    pub(super) async fn handshake(&mut self) -> Result<Mode, End> {
        self.t.out().extend_from_slice(Version::V3_8.wire());
        self.flush().await?;
        let raw = self.read_exact(12).await?;
        let (major, minor) = read_version(&mut Reader::new(&raw))
            .map_err(|e| End::Violation(format!("ProtocolVersion: {e:?}")))?;
        self.version = server_version_for((major, minor))
            .map_err(|e| End::Violation(format!("ProtocolVersion: {e}")))?;
        let v = self.version;
        let password = self.shared.cfg.password.clone();
        let sec = if password.is_some() {
            security::VNC_AUTH
        } else {
            security::NONE
        };
        write_security_offer(&SecurityOffer::Types(vec![sec]), v, self.t.out());
        self.flush().await?;
        if v != Version::V3_3 {
            let chosen = self.read_exact(1).await?;
            if chosen.first() != Some(&sec) {
                if v == Version::V3_8 {
                    let reason = format!("security type {} was not offered", security::name(sec));
                    self.send_failure(&reason).await?;
                }
                return Err(End::Violation(format!(
                    "console chose security type {:?}, not the offered {sec}",
                    chosen.first()
                )));
            }
        }
        if let Some(pw) = password {
            let mut challenge = [0u8; 16];
            rand::rng().fill_bytes(&mut challenge);
            self.t.out().extend_from_slice(&challenge);
            self.flush().await?;
            let resp = self.read_exact(16).await?;
            let mut response = [0u8; 16];
            response.copy_from_slice(resp.get(..16).unwrap_or(&[0u8; 16]));
            if !vnc_auth_check(pw.as_bytes(), &challenge, &response) {
                self.send_failure("authentication failed").await?;
                return Err(End::AuthFailed);
            }
        }
        let mode = self.admit().await?;
        if v == Version::V3_8 || sec == security::VNC_AUTH {
            write_security_result(&SecurityResult::Ok, v, self.t.out());
            self.flush().await?;
        }
        let init = self.read_exact(1).await?;
        let shared_flag = ClientInit::read(&mut Reader::new(&init))
            .map(|c| c.shared)
            .unwrap_or(false);
        let cfg = &self.shared.cfg;
        ServerInit {
            width: cfg.width,
            height: cfg.height,
            pixel_format: PixelFormat::RGB888,
            name: DESKTOP_NAME.as_bytes().to_vec(),
        }
        .write(self.t.out());
        self.flush().await?;
        tracing::info!(
            session = self.ctl.id,
            version = v.as_str(),
            shared_flag,
            mode = ?mode,
            "console admitted"
        );
        Ok(mode)
    }

    /// Sends SecurityResult "failed" with `reason` (the reason only in 3.8;
    /// before 3.8 a failure after security type None is just a close).
    async fn send_failure(&mut self, reason: &str) -> Result<(), End> {
        let with_result = self.version == Version::V3_8 || self.shared.cfg.password.is_some();
        if with_result {
            write_security_result(
                &SecurityResult::Failed {
                    reason: Some(reason.as_bytes().to_vec()),
                },
                self.version,
                self.t.out(),
            );
            self.flush().await?;
        }
        Ok(())
    }

    /// The exclusivity decision, taken after security and before the result.
    async fn admit(&mut self) -> Result<Mode, End> {
        let lock = &self.shared.lock;
        match lock.decide(&self.ctl) {
            Decision::Granted => Ok(Mode::Exclusive),
            Decision::Shared => Ok(Mode::Shared),
            Decision::InputOnly { until } => {
                tracing::warn!(
                    session = self.ctl.id,
                    "fault input-from-displaced: admitting a refused console"
                );
                Ok(Mode::InputOnly { until })
            }
            Decision::Refused => {
                if self.version == Version::V3_8 {
                    self.send_failure(BUSY_REASON).await?;
                }
                Err(End::Refused)
            }
            Decision::AwaitPrevious { ended } => {
                let mut signal = self.ctl.signal_rx.clone();
                tokio::select! {
                    _ = wait_ended(ended) => {}
                    _ = tokio::time::sleep(TAKEOVER_WAIT) => {
                        tracing::warn!(session = self.ctl.id, "old holder did not end in time");
                    }
                    _ = signal.wait_for(|s| *s != Signal::Run) => {}
                }
                if self.shared.lock.is_holder(self.ctl.id) {
                    Ok(Mode::Exclusive)
                } else {
                    if self.version == Version::V3_8 {
                        self.send_failure(SUPERSEDED_REASON).await?;
                    }
                    Err(End::Superseded)
                }
            }
        }
    }
}
