//! Ed25519 key files for signing run records.
//!
//! Both files are two lines of ASCII text:
//! - secret key (`PREFIX.key`, mode 0600 on Unix): the line
//!   `s301-ed25519-secret-key/1`, then the 32-byte seed as 64 hex digits;
//! - public key (`PREFIX.pub`): the line `s301-ed25519-public-key/1`, then
//!   the 32-byte public key as 64 hex digits.
//!
//! Blank lines, surrounding spaces and a final newline are ignored. Any
//! other content is a [`KeyError`] naming the file.

use std::path::{Path, PathBuf};

use ed25519_dalek::{SigningKey, VerifyingKey};
use rand::TryRngCore;

use super::{hex, unhex};

/// First line of a secret key file.
pub const SECRET_HEADER: &str = "s301-ed25519-secret-key/1";
/// First line of a public key file.
pub const PUBLIC_HEADER: &str = "s301-ed25519-public-key/1";
/// Largest key file read.
const MAX_KEY_FILE: u64 = 4096;

/// A key file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or writing failed.
    #[error("{path}: {}", crate::config::declaration::io_reason(source))]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The key file could not be read (missing, not a regular file ...).
    #[error("{0}")]
    Read(crate::config::declaration::InputFileError),
    /// The contents are not an s301 key of the expected kind.
    #[error("{path}: not an s301 {kind} key file: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// `secret` or `public`.
        kind: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// `keygen` would overwrite an existing file.
    #[error("{path}: already exists; refusing to overwrite a key")]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The system random source failed.
    #[error("cannot get random bytes for a key: {0}")]
    Random(String),
}

fn read_key_text(path: &Path) -> Result<String, KeyError> {
    use crate::config::declaration::InputFileError;
    match crate::config::declaration::read_regular_text(path, MAX_KEY_FILE) {
        Ok(text) => Ok(text),
        Err(InputFileError::TooLarge { .. }) => Err(KeyError::Malformed {
            path: path.to_path_buf(),
            kind: "key",
            reason: format!("larger than {MAX_KEY_FILE} bytes"),
        }),
        Err(InputFileError::NotUtf8 { .. }) => Err(KeyError::Malformed {
            path: path.to_path_buf(),
            kind: "key",
            reason: "not UTF-8 text".to_string(),
        }),
        Err(e) => Err(KeyError::Read(e)),
    }
}

fn parse(text: &str, header: &str, kind: &'static str, path: &Path) -> Result<[u8; 32], KeyError> {
    let bad = |reason: String| KeyError::Malformed {
        path: path.to_path_buf(),
        kind,
        reason,
    };
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    match lines.as_slice() {
        [h, body] if *h == header => {
            unhex::<32>(body).ok_or_else(|| bad("the key line must be 64 hex digits".to_string()))
        }
        [h, ..] if *h != header => Err(bad(format!("first line must be \"{header}\""))),
        _ => Err(bad(format!(
            "expected two lines: \"{header}\" and 64 hex digits"
        ))),
    }
}

/// Reads a secret key file.
pub fn load_signing_key(path: &Path) -> Result<SigningKey, KeyError> {
    let text = read_key_text(path)?;
    let seed = parse(&text, SECRET_HEADER, "secret", path)?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Reads a public key file.
pub fn load_verifying_key(path: &Path) -> Result<VerifyingKey, KeyError> {
    let text = read_key_text(path)?;
    let raw = parse(&text, PUBLIC_HEADER, "public", path)?;
    VerifyingKey::from_bytes(&raw).map_err(|_| KeyError::Malformed {
        path: path.to_path_buf(),
        kind: "public",
        reason: "not a valid Ed25519 public key".to_string(),
    })
}

/// The text of a secret key file.
pub fn secret_key_text(key: &SigningKey) -> String {
    format!("{SECRET_HEADER}\n{}\n", hex(&key.to_bytes()))
}

/// The text of a public key file.
pub fn public_key_text(key: &VerifyingKey) -> String {
    format!("{PUBLIC_HEADER}\n{}\n", hex(key.as_bytes()))
}

/// A fresh key from the operating system's random source.
pub fn generate() -> Result<SigningKey, KeyError> {
    let mut seed = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut seed)
        .map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Writes `text` to a new file at `path`, atomically and without ever
/// replacing an existing file: a temporary file beside it is written,
/// flushed and then hard-linked to `path` (which fails if `path` exists).
/// A secret key's file is created owner-only from the start.
fn create_new(path: &Path, text: &str, secret: bool) -> Result<(), KeyError> {
    use std::io::Write;
    let io = |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp_name);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let written = opts.open(&tmp).and_then(|mut f| {
        f.write_all(text.as_bytes())?;
        f.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    linked.map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            KeyError::Exists {
                path: path.to_path_buf(),
            }
        } else {
            io(source)
        }
    })
}

/// Writes a new key pair to `PREFIX.key` (secret, owner-only) and
/// `PREFIX.pub`; refuses to overwrite either. Returns both paths.
pub fn keygen(prefix: &Path) -> Result<(PathBuf, PathBuf), KeyError> {
    let mut secret = prefix.as_os_str().to_owned();
    secret.push(".key");
    let mut public = prefix.as_os_str().to_owned();
    public.push(".pub");
    let (secret, public) = (PathBuf::from(secret), PathBuf::from(public));
    for p in [&secret, &public] {
        if p.exists() {
            return Err(KeyError::Exists { path: p.clone() });
        }
    }
    let key = generate()?;
    create_new(&secret, &secret_key_text(&key), true)?;
    if let Err(e) = create_new(&public, &public_key_text(&key.verifying_key()), false) {
        let _ = std::fs::remove_file(&secret);
        return Err(e);
    }
    Ok((secret, public))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("s301-keys-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn keygen_writes_a_loadable_pair_and_refuses_to_overwrite() {
        let d = scratch("gen");
        let (sk, pk) = keygen(&d.join("lab")).unwrap();
        assert!(sk.ends_with("lab.key") && pk.ends_with("lab.pub"));
        let s = load_signing_key(&sk).unwrap();
        let p = load_verifying_key(&pk).unwrap();
        assert_eq!(s.verifying_key(), p);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&sk).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "secret key readable by others: {mode:o}");
        }
        assert!(matches!(
            keygen(&d.join("lab")),
            Err(KeyError::Exists { .. })
        ));
        let mut names: Vec<String> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["lab.key", "lab.pub"], "no temporary file is left");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn bad_key_files_are_errors_naming_the_file() {
        let d = scratch("bad");
        let cases: [(&str, &[u8]); 5] = [
            ("empty", b""),
            ("header-only", b"s301-ed25519-secret-key/1\n"),
            ("short", b"s301-ed25519-secret-key/1\nabcd\n"),
            ("binary", b"\xff\xfe\x00"),
            ("public-as-secret", b"s301-ed25519-public-key/1\n0000000000000000000000000000000000000000000000000000000000000000\n"),
        ];
        for (name, bytes) in cases {
            let p = d.join(name);
            std::fs::write(&p, bytes).unwrap();
            let e = load_signing_key(&p).unwrap_err();
            assert!(e.to_string().contains(name), "{name}: {e}");
        }
        let missing = load_verifying_key(&d.join("nope.pub")).unwrap_err();
        assert!(missing.to_string().contains("nope.pub"));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn key_text_tolerates_blank_lines_and_spaces() {
        let d = scratch("ws");
        let key = SigningKey::from_bytes(&[7; 32]);
        let p = d.join("k.pub");
        let text = format!("\n  {}  \r\n", public_key_text(&key.verifying_key()));
        std::fs::write(&p, text).unwrap();
        assert_eq!(load_verifying_key(&p).unwrap(), key.verifying_key());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
