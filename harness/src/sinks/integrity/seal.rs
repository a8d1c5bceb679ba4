//! Sealing a run directory: `manifest.json`, then `manifest.sig` with a
//! key, and only then the files that were staged for the seal renamed
//! into place (see [`seal_staged`]).

use std::path::{Path, PathBuf};

use ed25519_dalek::{Signer, SigningKey};
use sha2::{Digest, Sha256};

use super::{
    hash_file, hex, hook, io_err, IntegrityError, Manifest, SignatureFile, MANIFEST_FILE,
    SIGNATURE_FILE, SIGNATURE_FORMAT,
};
use crate::sinks::report::json::{self, Staged};

/// Seals a finished run directory: writes `manifest.json` and, with a key,
/// `manifest.sig`, both atomically. Call it after every other file is written.
pub fn seal(dir: &Path, key: Option<&SigningKey>) -> Result<PathBuf, IntegrityError> {
    seal_staged(dir, key, Vec::new())
}

/// Seals `dir` as it will be once the `staged` files are in place, then
/// puts them there, in the order given.
///
/// The manifest lists each staged file under its destination with the
/// digest of its staged bytes, and no entry for its temporary name. So
/// until the last rename the directory does not verify (the staged files
/// are missing or differ), and after it, it does. A caller that stages the
/// file which declares the run finished (`report.json`) last makes that
/// declaration appear only in a directory that verifies. Test hook points:
/// `manifest`, `signature`, then `commit:NAME` after each rename.
pub fn seal_staged(
    dir: &Path,
    key: Option<&SigningKey>,
    staged: Vec<Staged>,
) -> Result<PathBuf, IntegrityError> {
    let mut manifest = Manifest::build(dir)?;
    for s in &staged {
        let tmp = relative(dir, s.temp_path())?;
        let dest = relative(dir, s.dest())?;
        let entry = match manifest.files.remove(&tmp) {
            Some(e) => e,
            None => hash_file(s.temp_path())?,
        };
        manifest.files.insert(dest, entry);
    }
    let bytes = manifest.to_bytes();
    let path = dir.join(MANIFEST_FILE);
    // A stale signature from an earlier seal must never sit beside a new manifest.
    let sig_path = dir.join(SIGNATURE_FILE);
    match std::fs::remove_file(&sig_path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(&sig_path)(e)),
    }
    json::write_atomic(&path, &bytes).map_err(io_err(&path))?;
    hook::point("manifest");
    if let Some(key) = key {
        let sig = SignatureFile {
            format: SIGNATURE_FORMAT.to_string(),
            algorithm: "ed25519".to_string(),
            signed_file: MANIFEST_FILE.to_string(),
            signed_sha256: hex(&Sha256::digest(&bytes)),
            public_key: hex(key.verifying_key().as_bytes()),
            signature: hex(&key.sign(&bytes).to_bytes()),
        };
        let mut text = serde_json::to_string_pretty(&sig).unwrap_or_default();
        text.push('\n');
        json::write_atomic(&sig_path, text.as_bytes()).map_err(io_err(&sig_path))?;
        hook::point("signature");
    }
    for s in staged {
        let dest = s.dest().to_path_buf();
        s.commit().map_err(io_err(&dest))?;
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        hook::point(&format!("commit:{name}"));
    }
    Ok(path)
}

/// `path` relative to `dir`, `/`-separated, as the manifest keys it.
fn relative(dir: &Path, path: &Path) -> Result<String, IntegrityError> {
    let rel = path
        .strip_prefix(dir)
        .map_err(|_| IntegrityError::Malformed {
            path: path.to_path_buf(),
            what: "staged file",
            reason: format!("not inside the run directory {}", dir.display()),
        })?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    Ok(parts.join("/"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::super::verify;
    use super::*;

    #[test]
    fn staged_files_verify_only_once_they_are_in_place() {
        let d = std::env::temp_dir().join(format!("s301-seal-staged-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("report.json"), b"{\"provisional\": true}\n").unwrap();
        std::fs::write(d.join("transcript.jsonl"), b"{}\n").unwrap();
        let out = json::stage(&d.join("junit.xml"), b"<testsuites/>").unwrap();
        let report = json::stage(&d.join("report.json"), b"{\"final\": true}\n").unwrap();
        // Sealing the directory as it will be: nothing renamed yet is
        // what a kill before the renames leaves, and it does not verify.
        let out_tmp = out.temp_path().to_path_buf();
        let before = {
            let m = Manifest::build(&d).unwrap();
            assert!(m.files.keys().any(|k| k.ends_with(".tmp")));
            m
        };
        seal_staged(&d, None, vec![out, report]).unwrap();
        assert!(!out_tmp.exists());
        let v = verify(&d, None).unwrap();
        assert!(v.is_ok(), "{v:?}");
        let m: Manifest =
            serde_json::from_slice(&std::fs::read(d.join(MANIFEST_FILE)).unwrap()).unwrap();
        assert_eq!(
            m.files.keys().collect::<Vec<_>>(),
            ["junit.xml", "report.json", "transcript.jsonl"]
        );
        assert_ne!(m.files["report.json"], before.files["report.json"]);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
