//! End-to-end tests of the run directory (`--out`): a directory holding an
//! earlier run is refused unless `--force` clears it, and a directory that
//! cannot be written is found before any check runs.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure

mod support;

use support::{read_report, s301, scratch, text};

use std::path::Path;
use std::process::{Command, Output};

const CI_SCENARIO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/ci.toml");

fn run_into(dir: &Path, only: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        "--scenario",
        CI_SCENARIO,
        "--seed",
        "4",
        "--only",
        only,
        "--out",
        dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    s301(&args)
}

fn all_output(o: &Output) -> String {
    format!("{}{}", text(&o.stdout), text(&o.stderr))
}

/// Nothing ran: exit 2, no progress line.
fn refused_before_any_check(o: &Output) -> String {
    let all = all_output(o);
    assert_eq!(o.status.code(), Some(2), "{all}");
    assert!(
        !all.lines().any(|l| l.starts_with('[')),
        "a check ran: {all}"
    );
    all
}

#[test]
fn a_reused_out_directory_is_refused_and_force_starts_it_afresh() {
    let base = scratch("run-dir", "reuse");
    let dir = base.join("run");
    let first = run_into(&dir, "ST-01,ST-02", &[]);
    assert_eq!(first.status.code(), Some(0), "{}", all_output(&first));
    assert!(dir.join("evidence/ST-02/full.png").is_file());
    let before = std::fs::read(dir.join("report.json")).unwrap();

    // The same directory again: refused, and the earlier record untouched.
    let again = run_into(&dir, "ST-01", &[]);
    let all = refused_before_any_check(&again);
    assert!(all.contains(&dir.display().to_string()), "{all}");
    assert!(all.contains("already holds"), "{all}");
    assert!(all.contains("--force"), "{all}");
    assert_eq!(std::fs::read(dir.join("report.json")).unwrap(), before);
    let v = s301(&["verify", dir.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(0), "{}", all_output(&v));

    // --force clears it first: nothing of the earlier run is sealed again.
    let forced = run_into(&dir, "ST-01", &["--force"]);
    assert_eq!(forced.status.code(), Some(0), "{}", all_output(&forced));
    assert!(!dir.join("evidence/ST-02").exists());
    let manifest = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    assert!(!manifest.contains("ST-02"), "{manifest}");
    let r = read_report(&dir);
    assert_eq!(r["run"]["status"], "completed");
    assert_ne!(std::fs::read(dir.join("report.json")).unwrap(), before);
    let v = s301(&["verify", dir.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(0), "{}", all_output(&v));
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn force_never_clears_a_directory_that_holds_no_run() {
    let base = scratch("run-dir", "force-foreign");
    std::fs::write(base.join("notes.txt"), b"not a run").unwrap();
    let o = run_into(&base, "ST-01", &["--force"]);
    let all = refused_before_any_check(&o);
    assert!(all.contains("nothing was removed"), "{all}");
    assert_eq!(std::fs::read(base.join("notes.txt")).unwrap(), b"not a run");
    // --force means nothing without --out.
    let o = s301(&["run", "--only", "ST-01", "--force"]);
    assert_eq!(o.status.code(), Some(2), "{}", all_output(&o));
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn an_out_directory_that_cannot_be_made_is_refused_before_any_check() {
    let base = scratch("run-dir", "unmakeable");
    let file = base.join("a-file");
    std::fs::write(&file, b"x").unwrap();
    // Below a regular file: the OS says "Not a directory".
    let below = file.join("run");
    let o = run_into(&below, "ST-01", &[]);
    let all = refused_before_any_check(&o);
    assert!(all.contains(&below.display().to_string()), "{all}");
    assert!(all.contains("Not a directory"), "{all}");
    // The file itself.
    let o = run_into(&file, "ST-01", &[]);
    let all = refused_before_any_check(&o);
    assert!(all.contains("is not a directory"), "{all}");
    let _ = std::fs::remove_dir_all(&base);
}

/// A directory that exists but takes no file: a read-only tmpfs (as root,
/// who ignores permission bits) or a directory without write permission.
#[test]
fn an_out_directory_that_takes_no_file_is_refused_before_any_check() {
    let base = scratch("run-dir", "read-only");
    let dir = base.join("ro");
    std::fs::create_dir_all(&dir).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "ro,size=64k", "tmpfs"])
        .arg(&dir)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !mounted {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        if std::fs::write(dir.join("probe"), b"x").is_ok() {
            eprintln!(
                "skipped: cannot mount a read-only tmpfs, and permission bits do not stop \
                 this user from writing"
            );
            let _ = std::fs::remove_dir_all(&base);
            return;
        }
    }
    let o = run_into(&dir, "ST-01", &[]);
    if mounted {
        let _ = Command::new("umount").arg(&dir).status();
    }
    let all = refused_before_any_check(&o);
    assert!(all.contains("cannot write into the run directory"), "{all}");
    assert!(all.contains(&dir.display().to_string()), "{all}");
    let reason = if mounted {
        "Read-only file system"
    } else {
        "Permission denied"
    };
    assert!(all.contains(reason), "{all}");
    let _ = std::fs::remove_dir_all(&base);
}
