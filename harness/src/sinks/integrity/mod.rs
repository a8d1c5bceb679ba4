//! Integrity of a run directory: a manifest of SHA-256 digests of every file,
//! an optional Ed25519 signature over it, and the check that a directory
//! still matches its manifest.
//!
//! Files (all written atomically, the manifest after everything else):
//! - `manifest.json` ([`Manifest`], format `s301-manifest/1`): every regular
//!   file below the run directory except the manifest and its signature,
//!   keyed by its path relative to the directory (`/`-separated), with its
//!   SHA-256 (lower-case hex) and size in bytes.
//! - `manifest.sig` ([`SignatureFile`], format `s301-manifest-sig/1`), only
//!   for signed runs: an Ed25519 signature over the exact bytes of
//!   `manifest.json`, with the signer's public key and the manifest's
//!   SHA-256 alongside for the reader's convenience. The public key inside
//!   the file is informative only: verification uses the key the verifier
//!   trusts (`--pubkey`).
//!
//! Key files are described in [`keys`].

pub use crate::model::hook;
pub mod keys;
mod seal;

pub use seal::{seal, seal_staged};

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The manifest's file name inside the run directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The signature's file name inside the run directory.
pub const SIGNATURE_FILE: &str = "manifest.sig";
/// The `format` of `manifest.json`.
pub const MANIFEST_FORMAT: &str = "s301-manifest/1";
/// The `format` of `manifest.sig`.
pub const SIGNATURE_FORMAT: &str = "s301-manifest-sig/1";
/// Most files a run directory may hold.
pub const MAX_FILES: usize = 100_000;
/// Deepest directory nesting walked.
pub const MAX_DEPTH: usize = 32;
/// Largest `manifest.json` / `manifest.sig` read back.
pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024 * 1024;

/// One file's entry in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// SHA-256 of the contents, lower-case hex.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`MANIFEST_FORMAT`].
    pub format: String,
    /// Digest algorithm of every entry: always `"sha256"`.
    pub algorithm: String,
    /// Every file, by relative path.
    pub files: BTreeMap<String, FileEntry>,
}

/// `manifest.sig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureFile {
    /// Always [`SIGNATURE_FORMAT`].
    pub format: String,
    /// Always `"ed25519"`.
    pub algorithm: String,
    /// The file signed: always [`MANIFEST_FILE`].
    pub signed_file: String,
    /// SHA-256 of the signed bytes, hex (informative).
    pub signed_sha256: String,
    /// The signer's public key, hex (informative; not trusted by verify).
    pub public_key: String,
    /// The 64-byte signature, hex.
    pub signature: String,
}

/// Why a manifest could not be made or checked.
#[derive(Debug, thiserror::Error)]
pub enum IntegrityError {
    /// A file or directory could not be read or written.
    #[error("{path}: {}", crate::config::declaration::io_reason(source))]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A seal file could not be read (not a regular file, permission ...).
    #[error("{0}")]
    Read(crate::config::declaration::InputFileError),
    /// The directory holds more than [`MAX_FILES`] files or nests deeper than [`MAX_DEPTH`].
    #[error("{path}: too many files or too deep (limits: {MAX_FILES} files, depth {MAX_DEPTH})")]
    TooLarge {
        /// Where the limit was hit.
        path: PathBuf,
    },
    /// The directory has no manifest.
    #[error("{path}: no manifest (the run was not sealed, or the manifest was removed)")]
    NoManifest {
        /// The expected manifest path.
        path: PathBuf,
    },
    /// The manifest or signature file is not what s301 writes.
    #[error("{path}: not a valid {what}: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// `manifest` or `signature`.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> IntegrityError + '_ {
    move |source| IntegrityError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Decodes hex into exactly `N` bytes; `None` on a wrong length or digit.
pub fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let s = s.trim().as_bytes();
    if s.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        let hi = char::from(*pair.first()?).to_digit(16)?;
        let lo = char::from(*pair.get(1)?).to_digit(16)?;
        *o = u8::try_from(hi * 16 + lo).ok()?;
    }
    Some(out)
}

/// SHA-256 of a file's contents and its size, read in chunks.
pub fn hash_file(path: &Path) -> Result<FileEntry, IntegrityError> {
    let mut f = std::fs::File::open(path).map_err(io_err(path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        h.update(buf.get(..n).unwrap_or_default());
        bytes = bytes.saturating_add(n as u64);
    }
    Ok(FileEntry {
        sha256: hex(&h.finalize()),
        bytes,
    })
}

/// Whether a relative path is the manifest or its signature (never listed).
fn is_seal(rel: &str) -> bool {
    rel == MANIFEST_FILE || rel == SIGNATURE_FILE
}

/// Every entry below `dir` except the seal files: regular files with their
/// digest, anything else (symbolic links, sockets ...) as `Err(kind)`.
fn walk(dir: &Path) -> Result<BTreeMap<String, Result<FileEntry, String>>, IntegrityError> {
    let mut out = BTreeMap::new();
    let mut stack: Vec<(PathBuf, String, usize)> = vec![(dir.to_path_buf(), String::new(), 0)];
    while let Some((path, prefix, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return Err(IntegrityError::TooLarge { path });
        }
        let entries = std::fs::read_dir(&path).map_err(io_err(&path))?;
        for entry in entries {
            let entry = entry.map_err(io_err(&path))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let p = entry.path();
            let kind = entry.file_type().map_err(io_err(&p))?;
            if kind.is_dir() {
                stack.push((p, rel, depth + 1));
                continue;
            }
            if depth == 0 && is_seal(&rel) {
                continue;
            }
            if out.len() >= MAX_FILES {
                return Err(IntegrityError::TooLarge { path: p });
            }
            let value = if kind.is_file() {
                Ok(hash_file(&p)?)
            } else if kind.is_symlink() {
                Err("symbolic link".to_string())
            } else {
                Err("not a regular file".to_string())
            };
            out.insert(rel, value);
        }
    }
    Ok(out)
}

impl Manifest {
    /// The manifest of `dir` as it is now. A symbolic link or other
    /// non-regular file is refused: a record holds plain files only.
    pub fn build(dir: &Path) -> Result<Manifest, IntegrityError> {
        let mut files = BTreeMap::new();
        for (rel, entry) in walk(dir)? {
            match entry {
                Ok(e) => {
                    files.insert(rel, e);
                }
                Err(kind) => {
                    return Err(IntegrityError::Malformed {
                        path: dir.join(&rel),
                        what: "run directory entry",
                        reason: format!("{kind}: a record holds regular files only"),
                    })
                }
            }
        }
        Ok(Manifest {
            format: MANIFEST_FORMAT.to_string(),
            algorithm: "sha256".to_string(),
            files,
        })
    }

    /// Pretty JSON with a trailing newline: the exact bytes that are signed.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s.into_bytes()
    }
}

/// How a file differs from the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// In the directory, not in the manifest.
    Added(String),
    /// In the manifest, not in the directory.
    Removed(String),
    /// In both, with other contents.
    Changed(String),
    /// Present but not a regular file (a link, a socket ...).
    NotRegular(String, String),
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Difference::Added(p) => write!(f, "added:   {p}"),
            Difference::Removed(p) => write!(f, "removed: {p}"),
            Difference::Changed(p) => write!(f, "changed: {p}"),
            Difference::NotRegular(p, kind) => write!(f, "added:   {p} ({kind})"),
        }
    }
}

/// What verification found out about the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureCheck {
    /// No key was given; `present` says whether `manifest.sig` exists.
    NotChecked {
        /// Whether the directory holds a signature.
        present: bool,
    },
    /// The signature over `manifest.json` is valid for the given key.
    Valid,
    /// A key was given but there is no `manifest.sig`.
    Missing,
    /// `manifest.sig` is unreadable or not in the s301 format.
    Malformed(String),
    /// The signature does not verify with the given key (the manifest was
    /// changed, or it was signed with another key).
    Invalid(String),
}

impl SignatureCheck {
    /// Whether this outcome is acceptable (valid, or not asked for).
    pub fn is_ok(&self) -> bool {
        matches!(
            self,
            SignatureCheck::Valid | SignatureCheck::NotChecked { .. }
        )
    }
}

/// The result of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Files that differ from the manifest, by path.
    pub differences: Vec<Difference>,
    /// Number of files in the manifest.
    pub files: usize,
    /// The signature outcome.
    pub signature: SignatureCheck,
}

impl Verification {
    /// No difference and an acceptable signature.
    pub fn is_ok(&self) -> bool {
        self.differences.is_empty() && self.signature.is_ok()
    }
}

fn read_bounded(path: &Path) -> Result<Option<Vec<u8>>, IntegrityError> {
    use crate::config::declaration::InputFileError;
    match crate::config::declaration::read_regular(path, MAX_MANIFEST_BYTES) {
        Ok(buf) => Ok(Some(buf)),
        Err(InputFileError::Open { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            Ok(None)
        }
        Err(InputFileError::TooLarge { .. }) => Err(IntegrityError::Malformed {
            path: path.to_path_buf(),
            what: "manifest",
            reason: format!("larger than {MAX_MANIFEST_BYTES} bytes"),
        }),
        Err(e) => Err(IntegrityError::Read(e)),
    }
}

/// Checks `dir` against its `manifest.json` and, when `key` is given, the
/// signature in `manifest.sig`.
pub fn verify(dir: &Path, key: Option<&VerifyingKey>) -> Result<Verification, IntegrityError> {
    let mpath = dir.join(MANIFEST_FILE);
    let Some(bytes) = read_bounded(&mpath)? else {
        return Err(IntegrityError::NoManifest { path: mpath });
    };
    let manifest: Manifest =
        serde_json::from_slice(&bytes).map_err(|e| IntegrityError::Malformed {
            path: mpath.clone(),
            what: "manifest",
            reason: e.to_string(),
        })?;
    if manifest.format != MANIFEST_FORMAT || manifest.algorithm != "sha256" {
        return Err(IntegrityError::Malformed {
            path: mpath,
            what: "manifest",
            reason: format!(
                "format \"{}\" / algorithm \"{}\" (expected \"{MANIFEST_FORMAT}\" / \"sha256\")",
                manifest.format, manifest.algorithm
            ),
        });
    }
    let now = walk(dir)?;
    let mut differences = Vec::new();
    for (rel, entry) in &now {
        match (entry, manifest.files.get(rel)) {
            (Err(kind), _) => differences.push(Difference::NotRegular(rel.clone(), kind.clone())),
            (Ok(_), None) => differences.push(Difference::Added(rel.clone())),
            (Ok(e), Some(m)) if e != m => differences.push(Difference::Changed(rel.clone())),
            (Ok(_), Some(_)) => {}
        }
    }
    for rel in manifest.files.keys() {
        if !now.contains_key(rel) {
            differences.push(Difference::Removed(rel.clone()));
        }
    }
    let spath = dir.join(SIGNATURE_FILE);
    let signature = match key {
        None => SignatureCheck::NotChecked {
            present: spath.exists(),
        },
        Some(key) => check_signature(&spath, &bytes, key)?,
    };
    Ok(Verification {
        differences,
        files: manifest.files.len(),
        signature,
    })
}

fn check_signature(
    spath: &Path,
    manifest: &[u8],
    key: &VerifyingKey,
) -> Result<SignatureCheck, IntegrityError> {
    let Some(text) = read_bounded(spath)? else {
        return Ok(SignatureCheck::Missing);
    };
    let sig: SignatureFile = match serde_json::from_slice(&text) {
        Ok(s) => s,
        Err(e) => return Ok(SignatureCheck::Malformed(e.to_string())),
    };
    if sig.format != SIGNATURE_FORMAT || sig.algorithm != "ed25519" {
        return Ok(SignatureCheck::Malformed(format!(
            "format \"{}\" / algorithm \"{}\" (expected \"{SIGNATURE_FORMAT}\" / \"ed25519\")",
            sig.format, sig.algorithm
        )));
    }
    let Some(raw) = unhex::<64>(&sig.signature) else {
        return Ok(SignatureCheck::Malformed(
            "signature: expected 128 hex digits".to_string(),
        ));
    };
    let signature = Signature::from_bytes(&raw);
    match key.verify(manifest, &signature) {
        Ok(()) => Ok(SignatureCheck::Valid),
        Err(_) => {
            let why = if sig.public_key.trim() != hex(key.as_bytes()) {
                "signed with a different key than the one given (or the manifest was changed)"
            } else {
                "manifest.json was changed after it was signed"
            };
            Ok(SignatureCheck::Invalid(why.to_string()))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("s301-integrity-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("evidence/ST-02")).unwrap();
        std::fs::write(d.join("report.json"), b"{}\n").unwrap();
        std::fs::write(d.join("evidence/ST-02/frame.png"), b"\x89PNG....").unwrap();
        d
    }

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    #[test]
    fn hex_round_trips_and_rejects_bad_digits() {
        assert_eq!(hex(&[0, 0xab, 0xff]), "00abff");
        assert_eq!(unhex::<3>("00abff"), Some([0, 0xab, 0xff]));
        assert_eq!(unhex::<3>("00abf"), None);
        assert_eq!(unhex::<2>("zz00"), None);
        assert_eq!(unhex::<1>("é"), None);
    }

    #[test]
    fn sealed_directory_verifies_and_lists_nested_files() {
        let d = scratch("clean");
        seal(&d, None).unwrap();
        let m: Manifest =
            serde_json::from_slice(&std::fs::read(d.join(MANIFEST_FILE)).unwrap()).unwrap();
        assert_eq!(
            m.files.keys().collect::<Vec<_>>(),
            ["evidence/ST-02/frame.png", "report.json"]
        );
        assert_eq!(m.files["report.json"].sha256, hex(&Sha256::digest(b"{}\n")));
        let v = verify(&d, None).unwrap();
        assert!(v.is_ok(), "{v:?}");
        assert_eq!(v.signature, SignatureCheck::NotChecked { present: false });
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn verify_names_added_removed_and_changed_files() {
        let d = scratch("diff");
        seal(&d, None).unwrap();
        std::fs::write(d.join("report.json"), b"{}\r\n").unwrap();
        std::fs::remove_file(d.join("evidence/ST-02/frame.png")).unwrap();
        std::fs::write(d.join("extra.txt"), b"x").unwrap();
        let v = verify(&d, None).unwrap();
        assert!(!v.is_ok());
        assert_eq!(
            v.differences,
            [
                Difference::Added("extra.txt".into()),
                Difference::Changed("report.json".into()),
                Difference::Removed("evidence/ST-02/frame.png".into()),
            ]
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn signature_verifies_only_with_the_signing_key_and_unchanged_manifest() {
        let d = scratch("sig");
        seal(&d, Some(&key(1))).unwrap();
        let good = key(1).verifying_key();
        assert_eq!(
            verify(&d, Some(&good)).unwrap().signature,
            SignatureCheck::Valid
        );
        let other = key(2).verifying_key();
        assert!(matches!(
            verify(&d, Some(&other)).unwrap().signature,
            SignatureCheck::Invalid(_)
        ));
        // Rewriting the manifest to hide a change breaks the signature.
        std::fs::write(d.join("report.json"), b"[]\n").unwrap();
        let forged = Manifest::build(&d).unwrap();
        std::fs::write(d.join(MANIFEST_FILE), forged.to_bytes()).unwrap();
        let v = verify(&d, Some(&good)).unwrap();
        assert!(v.differences.is_empty());
        assert!(matches!(v.signature, SignatureCheck::Invalid(_)), "{v:?}");
        assert!(!v.is_ok());
        std::fs::remove_file(d.join(SIGNATURE_FILE)).unwrap();
        assert_eq!(
            verify(&d, Some(&good)).unwrap().signature,
            SignatureCheck::Missing
        );
        std::fs::write(d.join(SIGNATURE_FILE), b"not json").unwrap();
        assert!(matches!(
            verify(&d, Some(&good)).unwrap().signature,
            SignatureCheck::Malformed(_)
        ));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn resealing_without_a_key_drops_a_stale_signature() {
        let d = scratch("reseal");
        seal(&d, Some(&key(3))).unwrap();
        seal(&d, None).unwrap();
        assert!(!d.join(SIGNATURE_FILE).exists());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn missing_or_foreign_manifest_is_an_error() {
        let d = scratch("nomanifest");
        assert!(matches!(
            verify(&d, None),
            Err(IntegrityError::NoManifest { .. })
        ));
        std::fs::write(d.join(MANIFEST_FILE), b"{\"format\": 1}").unwrap();
        assert!(matches!(
            verify(&d, None),
            Err(IntegrityError::Malformed { .. })
        ));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn symbolic_links_are_refused_and_reported() {
        let d = scratch("link");
        std::os::unix::fs::symlink("/etc/hostname", d.join("link")).unwrap();
        assert!(Manifest::build(&d).is_err());
        std::fs::remove_file(d.join("link")).unwrap();
        seal(&d, None).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", d.join("link")).unwrap();
        let v = verify(&d, None).unwrap();
        assert!(matches!(&v.differences[..], [Difference::NotRegular(p, _)] if p == "link"));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
