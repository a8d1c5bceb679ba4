//! TLS for the mock terminal (`s301 mock --tls`): a throw-away PKI made with
//! rcgen at start (a CA, the terminal's server certificate for `127.0.0.1`
//! and `localhost`, a client certificate for the harness and a certificate
//! for the harness's push receiver), written as PEM files to a private
//! temporary directory so the printed declaration can name them.
//!
//! The mock can require the harness's client certificate (mutual TLS). It
//! uses rustls with the `ring` provider.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{RootCertStore, ServerConfig};

/// How the mock serves TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TlsMode {
    /// Refuse a client that shows no certificate signed by the mock's CA.
    pub require_client_cert: bool,
}

/// One certificate and its key, as PEM text.
#[derive(Debug, Clone)]
pub struct PemPair {
    /// The certificate.
    pub cert: String,
    /// Its private key (PKCS#8).
    pub key: String,
}

/// A generated test PKI.
#[derive(Debug, Clone)]
pub struct TestPki {
    /// The CA certificate.
    pub ca: String,
    /// The terminal's server certificate (SANs `127.0.0.1`, `localhost`).
    pub server: PemPair,
    /// The harness's client certificate.
    pub client: PemPair,
    /// The harness's push receiver certificate (SANs `127.0.0.1`, `localhost`).
    pub receiver: PemPair,
}

fn io_err(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

fn leaf(
    cn: &str,
    sans: &[&str],
    usage: ExtendedKeyUsagePurpose,
    issuer: &rcgen::Issuer<'_, KeyPair>,
) -> std::io::Result<PemPair> {
    let key = KeyPair::generate().map_err(io_err)?;
    let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
    let mut params = CertificateParams::new(sans).map_err(io_err)?;
    params.distinguished_name.push(DnType::CommonName, cn);
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, issuer).map_err(io_err)?;
    Ok(PemPair {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

impl TestPki {
    /// Generates a fresh CA and the three leaf certificates (`cn` names the CA).
    pub fn generate(cn: &str) -> std::io::Result<TestPki> {
        let ca_key = KeyPair::generate().map_err(io_err)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(io_err)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, cn);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(params, ca_key).map_err(io_err)?;
        let hosts = ["127.0.0.1", "localhost"];
        Ok(TestPki {
            ca: ca.pem(),
            server: leaf(
                "s301 mock terminal",
                &hosts,
                ExtendedKeyUsagePurpose::ServerAuth,
                &ca,
            )?,
            client: leaf(
                "s301 harness",
                &[],
                ExtendedKeyUsagePurpose::ClientAuth,
                &ca,
            )?,
            receiver: leaf(
                "s301 push receiver",
                &hosts,
                ExtendedKeyUsagePurpose::ServerAuth,
                &ca,
            )?,
        })
    }

    /// Writes the PEM files into `dir` (`ca.pem`, `terminal.pem`,
    /// `terminal.key`, `client.pem`, `client.key`, `receiver.pem`,
    /// `receiver.key`).
    ///
    /// The directory is created owner-only (0700) when missing; the `.key`
    /// files are created owner-only (0600) from the start, never widened
    /// and narrowed afterwards, so no other user can read a key at any
    /// moment.
    pub fn write_to(&self, dir: &Path) -> std::io::Result<()> {
        private_dir_builder().recursive(true).create(dir)?;
        for (name, text) in [
            ("ca.pem", &self.ca),
            ("terminal.pem", &self.server.cert),
            ("terminal.key", &self.server.key),
            ("client.pem", &self.client.cert),
            ("client.key", &self.client.key),
            ("receiver.pem", &self.receiver.cert),
            ("receiver.key", &self.receiver.key),
        ] {
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            if name.ends_with(".key") {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts.open(dir.join(name))?;
            std::io::Write::write_all(&mut f, text.as_bytes())?;
        }
        Ok(())
    }

    /// The `[tls]` section naming the files [`Self::write_to`] wrote in `dir`.
    pub fn declaration_section(dir: &Path, with_receiver: bool) -> String {
        let q = |f: &str| {
            let p = dir.join(f).display().to_string();
            format!("{:?}", p)
        };
        let mut s = String::from("\n[tls]\n");
        s.push_str(&format!("ca = {}\n", q("ca.pem")));
        s.push_str(&format!("client_cert = {}\n", q("client.pem")));
        s.push_str(&format!("client_key = {}\n", q("client.key")));
        if with_receiver {
            s.push_str(&format!("receiver_cert = {}\n", q("receiver.pem")));
            s.push_str(&format!("receiver_key = {}\n", q("receiver.key")));
        }
        s
    }

    /// The mock's server configuration: its certificate, and client
    /// certificates verified against the CA (required when `mode` says so).
    pub fn server_config(&self, mode: TlsMode) -> std::io::Result<Arc<ServerConfig>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certs: Result<Vec<CertificateDer<'static>>, _> =
            CertificateDer::pem_slice_iter(self.server.cert.as_bytes()).collect();
        let certs = certs.map_err(io_err)?;
        let key = PrivateKeyDer::from_pem_slice(self.server.key.as_bytes()).map_err(io_err)?;
        let mut roots = RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(self.ca.as_bytes()) {
            roots.add(c.map_err(io_err)?).map_err(io_err)?;
        }
        let builder = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        );
        let builder = if mode.require_client_cert {
            builder
        } else {
            builder.allow_unauthenticated()
        };
        let verifier = builder.build().map_err(io_err)?;
        let cfg = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io_err)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs, key)
            .map_err(io_err)?;
        Ok(Arc::new(cfg))
    }

    /// A client configuration trusting the CA (the mock's pusher uses it
    /// towards an https receiver).
    pub fn client_config(&self) -> std::io::Result<Arc<rustls::ClientConfig>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(self.ca.as_bytes()) {
            roots.add(c.map_err(io_err)?).map_err(io_err)?;
        }
        let cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io_err)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(cfg))
    }
}

/// A directory builder making owner-only (0700) directories on Unix.
fn private_dir_builder() -> std::fs::DirBuilder {
    #[allow(unused_mut)] // only Unix sets a mode
    let mut b = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b
}

/// A private directory for the PEM files (owner-only), removed on drop.
#[derive(Debug)]
pub struct PemDir {
    path: PathBuf,
}

impl PemDir {
    /// Creates a fresh directory under the system temporary directory.
    pub fn create() -> std::io::Result<PemDir> {
        let unique = format!(
            "s301-mock-tls-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        );
        let path = std::env::temp_dir().join(unique);
        // A fresh name: refuse to reuse anything already there.
        private_dir_builder().create(&path)?;
        Ok(PemDir { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PemDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A hyper connector for the pusher: plain TCP for `http://`, TLS
/// (verified against the mock's CA) for `https://`.
#[derive(Clone)]
pub struct PushConnector {
    http: hyper_util::client::legacy::connect::HttpConnector,
    tls: Option<tokio_rustls::TlsConnector>,
}

impl PushConnector {
    /// A connector over `http`, with `tls` for https receivers.
    pub fn new(
        mut http: hyper_util::client::legacy::connect::HttpConnector,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> PushConnector {
        http.enforce_http(false);
        PushConnector {
            http,
            tls: tls.map(tokio_rustls::TlsConnector::from),
        }
    }
}

/// A connection made by [`PushConnector`].
pub enum PushStream {
    /// Plain TCP.
    Plain(hyper_util::rt::TokioIo<tokio::net::TcpStream>),
    /// TLS over TCP.
    Tls(Box<hyper_util::rt::TokioIo<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>>),
}

impl hyper_util::client::legacy::connect::Connection for PushStream {
    fn connected(&self) -> hyper_util::client::legacy::connect::Connected {
        hyper_util::client::legacy::connect::Connected::new()
    }
}

impl hyper::rt::Read for PushStream {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            PushStream::Plain(s) => std::pin::Pin::new(s).poll_read(cx, buf),
            PushStream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl hyper::rt::Write for PushStream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            PushStream::Plain(s) => std::pin::Pin::new(s).poll_write(cx, buf),
            PushStream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            PushStream::Plain(s) => std::pin::Pin::new(s).poll_flush(cx),
            PushStream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            PushStream::Plain(s) => std::pin::Pin::new(s).poll_shutdown(cx),
            PushStream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower_service::Service<hyper::Uri> for PushConnector {
    type Response = PushStream;
    type Error = BoxError;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<PushStream, BoxError>> + Send>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: hyper::Uri) -> Self::Future {
        let https = uri.scheme_str() == Some("https");
        let host = uri.host().unwrap_or_default().to_string();
        let tcp = self.http.call(uri);
        let tls = self.tls.clone();
        Box::pin(async move {
            let tcp = tcp.await.map_err(|e| Box::new(e) as BoxError)?;
            if !https {
                return Ok(PushStream::Plain(tcp));
            }
            let Some(tls) = tls else {
                return Err("https push_to needs the mock in TLS mode".into());
            };
            let host = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            let name = rustls::pki_types::ServerName::try_from(host).map_err(io_err)?;
            let stream = tls.connect(name, tcp.into_inner()).await?;
            Ok(PushStream::Tls(Box::new(hyper_util::rt::TokioIo::new(
                stream,
            ))))
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn generated_pki_builds_a_server_config_and_writes_files() {
        let pki = TestPki::generate("test CA").unwrap();
        assert!(pki.ca.contains("BEGIN CERTIFICATE"));
        pki.server_config(TlsMode {
            require_client_cert: true,
        })
        .unwrap();
        let dir = PemDir::create().unwrap();
        pki.write_to(dir.path()).unwrap();
        assert!(dir.path().join("client.key").exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(dir.path()), 0o700);
            for key in ["terminal.key", "client.key", "receiver.key"] {
                assert_eq!(mode(&dir.path().join(key)), 0o600, "{key}");
            }
        }
        let section = TestPki::declaration_section(dir.path(), true);
        assert!(section.contains("receiver_key"), "{section}");
        let kept = dir.path().to_path_buf();
        drop(dir);
        assert!(!kept.exists(), "the PEM directory is removed on drop");
    }
}
