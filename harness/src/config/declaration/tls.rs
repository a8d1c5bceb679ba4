//! The `[tls]` section of a declaration and the checks of the PEM files it
//! names, made when the declaration is loaded so a bad file is a usage
//! error with its key and line. Building the TLS configurations from them
//! is the binding's (`crate::binding::tls`).

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};

/// Largest PEM file read (certificates and keys are a few KiB).
pub const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// The `[tls]` section of a declaration: paths of PEM files (relative paths
/// are resolved beside the declaration when it is loaded from a file).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsDecl {
    /// The CA certificate(s) that signed the terminal's certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
    /// The certificate chain the harness presents (mutual TLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<String>,
    /// The private key of `client_cert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<String>,
    /// The certificate chain of the harness's push receiver (serves https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver_cert: Option<String>,
    /// The private key of `receiver_cert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver_key: Option<String>,
    /// The name to verify the terminal's certificate against, when it is not
    /// the URL's host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
}

impl TlsDecl {
    /// The file keys with their values, in declaration order.
    pub fn files(&self) -> [(&'static str, Option<&String>); 5] {
        [
            ("ca", self.ca.as_ref()),
            ("client_cert", self.client_cert.as_ref()),
            ("client_key", self.client_key.as_ref()),
            ("receiver_cert", self.receiver_cert.as_ref()),
            ("receiver_key", self.receiver_key.as_ref()),
        ]
    }

    /// Makes every relative file path relative to `dir`.
    pub fn resolve_beside(&mut self, dir: &Path) {
        for p in [
            &mut self.ca,
            &mut self.client_cert,
            &mut self.client_key,
            &mut self.receiver_cert,
            &mut self.receiver_key,
        ]
        .into_iter()
        .flatten()
        {
            if Path::new(p.as_str()).is_relative() {
                *p = dir.join(p.as_str()).display().to_string();
            }
        }
    }
}

/// A `[tls]` file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tls.{key}: {file}: {reason}")]
pub struct TlsFileError {
    /// The declaration key (`ca`, `client_cert` ...).
    pub key: &'static str,
    /// The file named.
    pub file: String,
    /// What is wrong.
    pub reason: String,
}

fn read_pem(key: &'static str, file: &str) -> Result<Vec<u8>, TlsFileError> {
    let err = |reason: String| TlsFileError {
        key,
        file: file.to_string(),
        reason,
    };
    super::read_regular(std::path::Path::new(file), MAX_PEM_BYTES).map_err(|e| err(e.reason()))
}

/// Reads the certificates of a PEM file (at least one).
pub fn load_certs(
    key: &'static str,
    file: &str,
) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    let pem = read_pem(key, file)?;
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&pem).collect();
    let certs = certs.map_err(|e| TlsFileError {
        key,
        file: file.to_string(),
        reason: format!("not a PEM certificate file: {e}"),
    })?;
    if certs.is_empty() {
        return Err(TlsFileError {
            key,
            file: file.to_string(),
            reason: "no CERTIFICATE block in the file".into(),
        });
    }
    Ok(certs)
}

/// Reads the private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn load_key(key: &'static str, file: &str) -> Result<PrivateKeyDer<'static>, TlsFileError> {
    let pem = read_pem(key, file)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| TlsFileError {
        key,
        file: file.to_string(),
        reason: format!("no usable PEM private key: {e}"),
    })
}

/// Reads every file `decl` names as what its key says (certificates or a
/// private key), and checks that certificates and keys come in pairs.
pub fn check_files(decl: &TlsDecl) -> Result<(), TlsFileError> {
    let pair =
        |cert: &Option<String>, key: &Option<String>, ck: &'static str, kk: &'static str| match (
            cert, key,
        ) {
            (Some(c), None) => Err(TlsFileError {
                key: kk,
                file: c.clone(),
                reason: format!("{ck} needs {kk}"),
            }),
            (None, Some(k)) => Err(TlsFileError {
                key: ck,
                file: k.clone(),
                reason: format!("{kk} needs {ck}"),
            }),
            _ => Ok(()),
        };
    pair(
        &decl.client_cert,
        &decl.client_key,
        "client_cert",
        "client_key",
    )?;
    pair(
        &decl.receiver_cert,
        &decl.receiver_key,
        "receiver_cert",
        "receiver_key",
    )?;
    for (key, file) in decl.files() {
        let Some(file) = file else { continue };
        if key.ends_with("_key") {
            load_key(key, file)?;
        } else {
            load_certs(key, file)?;
        }
    }
    Ok(())
}
