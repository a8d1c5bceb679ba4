//! Reading the files a user names: declarations, scenarios, key files, PEM
//! files, report schemas, run records.
//!
//! Every such file goes through [`read_regular`] (or [`read_regular_text`]),
//! which accepts only a regular file (a symbolic link to one is fine) of
//! bounded size. The file type is looked at before the file is opened, so a
//! named pipe, which would block `open()` until some writer appears, or a
//! device such as `/dev/zero`, which never ends, is refused at once with a
//! message naming the path. The handle is checked again once open, in case
//! the path was swapped in between (only a swap to a pipe in that instant
//! could still block the open itself).

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Why a named input file could not be read. The display names the path
/// and says what to fix; it never shows an operating-system error code.
#[derive(Debug)]
pub enum InputFileError {
    /// The path could not be looked up or opened.
    Open {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The path is a pipe, a device, a directory or a socket.
    NotRegular {
        /// The file.
        path: PathBuf,
        /// What it is instead (`a named pipe (FIFO)` ...).
        kind: &'static str,
    },
    /// The file is larger than the caller accepts.
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size in bytes (at least; the read stops past the limit).
        size: u64,
        /// The most accepted.
        limit: u64,
    },
    /// Reading an opened file failed.
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not UTF-8 text.
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// 1-based line of the first bad byte.
        line: usize,
        /// 1-based column (in characters) of the first bad byte.
        column: usize,
        /// The first bad byte.
        byte: u8,
    },
}

impl InputFileError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            InputFileError::Open { path, .. }
            | InputFileError::NotRegular { path, .. }
            | InputFileError::TooLarge { path, .. }
            | InputFileError::Read { path, .. }
            | InputFileError::NotUtf8 { path, .. } => path,
        }
    }

    /// Line and column of a bad byte, when the error has a position.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            InputFileError::NotUtf8 { line, column, .. } => Some((*line, *column)),
            _ => None,
        }
    }

    /// What is wrong, without the path and position (for errors that put
    /// those in front themselves).
    pub fn reason(&self) -> String {
        match self {
            InputFileError::Open { source, .. } => format!("cannot read: {}", io_reason(source)),
            InputFileError::NotRegular { kind, .. } => {
                format!("is {kind}, not a regular file (s301 reads only regular files)")
            }
            InputFileError::TooLarge { size, limit, .. } => {
                format!("the file is {size} bytes or more; at most {limit} are accepted")
            }
            InputFileError::Read { source, .. } => format!("cannot read: {}", io_reason(source)),
            InputFileError::NotUtf8 { byte, .. } => format!(
                "byte 0x{byte:02X} is not UTF-8; the file must be UTF-8 text (save it as UTF-8)"
            ),
        }
    }
}

impl fmt::Display for InputFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path().display())?;
        if let Some((line, column)) = self.position() {
            write!(f, ":{line}:{column}")?;
        }
        write!(f, ": {}", self.reason())
    }
}

impl std::error::Error for InputFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InputFileError::Open { source, .. } | InputFileError::Read { source, .. } => {
                Some(source)
            }
            _ => None,
        }
    }
}

/// An I/O error in plain words: the common cases named, anything else as
/// the system describes it without the `(os error N)` suffix.
pub fn io_reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::NotFound => "no such file or directory".into(),
        ErrorKind::PermissionDenied => "permission denied".into(),
        ErrorKind::IsADirectory => "it is a directory".into(),
        ErrorKind::NotADirectory => "a part of the path is not a directory".into(),
        ErrorKind::AddrInUse => "address already in use".into(),
        ErrorKind::AddrNotAvailable => "the address is not available on this machine".into(),
        _ => {
            let s = e.to_string();
            let s = match s.find(" (os error ") {
                Some(i) => s[..i].to_string(),
                None => s,
            };
            // Mid-sentence: "cannot read: input/output error".
            let mut c = s.chars();
            match c.next() {
                Some(first) if c.clone().next().is_some_and(char::is_lowercase) => {
                    first.to_lowercase().chain(c).collect()
                }
                _ => s,
            }
        }
    }
}

/// What a file that is not regular is, in words.
fn kind_of(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a directory"
    } else {
        "not a file"
    }
}

/// Reads the regular file at `path`, at most `limit` bytes; anything else
/// (pipe, device, directory, socket) or anything larger is an error naming
/// the path. Never blocks on a named pipe that is there when it looks.
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, InputFileError> {
    let open_err = |source| InputFileError::Open {
        path: path.to_path_buf(),
        source,
    };
    let regular = |meta: &std::fs::Metadata| {
        if meta.is_file() {
            Ok(())
        } else {
            Err(InputFileError::NotRegular {
                path: path.to_path_buf(),
                kind: kind_of(&meta.file_type()),
            })
        }
    };
    let too_large = |size: u64| InputFileError::TooLarge {
        path: path.to_path_buf(),
        size,
        limit,
    };
    // Look first: opening a named pipe blocks until a writer comes.
    let meta = std::fs::metadata(path).map_err(open_err)?;
    regular(&meta)?;
    if meta.len() > limit {
        return Err(too_large(meta.len()));
    }
    let file = std::fs::File::open(path).map_err(open_err)?;
    // And look again at what was opened, in case the path changed meanwhile.
    regular(&file.metadata().map_err(open_err)?)?;
    let mut buf = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|source| InputFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    if buf.len() as u64 > limit {
        return Err(too_large(buf.len() as u64));
    }
    Ok(buf)
}

/// [`read_regular`] for a text file: the bytes must be UTF-8, and the first
/// that is not is reported with its line and column.
pub fn read_regular_text(path: &Path, limit: u64) -> Result<String, InputFileError> {
    let bytes = read_regular(path, limit)?;
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let at = e.utf8_error().valid_up_to();
        let good = String::from_utf8_lossy(bytes.get(..at).unwrap_or_default());
        let line = good.matches('\n').count() + 1;
        let line_start = good.rfind('\n').map_or(0, |i| i + 1);
        let column = good.get(line_start..).map_or(0, |l| l.chars().count()) + 1;
        InputFileError::NotUtf8 {
            path: path.to_path_buf(),
            line,
            column,
            byte: bytes.get(at).copied().unwrap_or(0),
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("s301-input-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_regular_file_is_read_whole() {
        let d = scratch("regular");
        let p = d.join("a.toml");
        std::fs::write(&p, "a = 1\n").unwrap();
        assert_eq!(read_regular_text(&p, 100).unwrap(), "a = 1\n");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[cfg(unix)]
    #[test]
    fn a_named_pipe_is_refused_without_blocking() {
        let d = scratch("fifo");
        let p = d.join("pipe");
        assert!(std::process::Command::new("mkfifo")
            .arg(&p)
            .status()
            .unwrap()
            .success());
        let (tx, rx) = std::sync::mpsc::channel();
        let q = p.clone();
        // In a thread, so that a regression fails the test instead of hanging it.
        std::thread::spawn(move || {
            let _ = tx.send(read_regular(&q, 100).map(|_| ()));
        });
        let e = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("read_regular blocked on a named pipe")
            .unwrap_err();
        assert!(matches!(e, InputFileError::NotRegular { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!(
                "{}: is a named pipe (FIFO), not a regular file (s301 reads only regular files)",
                p.display()
            )
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[cfg(unix)]
    #[test]
    fn a_device_and_a_directory_are_refused() {
        let e = read_regular(Path::new("/dev/zero"), 100).unwrap_err();
        assert!(e.to_string().contains("a character device"), "{e}");
        let d = scratch("dir");
        let e = read_regular(&d, 100).unwrap_err();
        assert!(e.to_string().contains("is a directory"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_missing_file_says_so_without_an_error_code() {
        let e = read_regular(Path::new("/nonexistent/s301/x.toml"), 100).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/nonexistent/s301/x.toml: cannot read: no such file or directory"
        );
    }

    #[test]
    fn a_file_over_the_limit_is_refused() {
        let d = scratch("large");
        let p = d.join("big");
        std::fs::write(&p, [b'#'; 101]).unwrap();
        let e = read_regular(&p, 100).unwrap_err();
        assert!(
            matches!(e, InputFileError::TooLarge { size: 101, .. }),
            "{e:?}"
        );
        assert!(read_regular(&p, 101).is_ok());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn the_first_non_utf8_byte_is_located_by_line_and_column() {
        let d = scratch("utf8");
        let p = d.join("t.toml");
        // Line 2: "é" (two bytes, one column) then a stray 0xFF at column 4.
        std::fs::write(&p, b"a = 1\n\xc3\xa9 =\xff\n").unwrap();
        let e = read_regular_text(&p, 100).unwrap_err();
        assert_eq!(e.position(), Some((2, 4)), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!(
                "{}:2:4: byte 0xFF is not UTF-8; the file must be UTF-8 text (save it as UTF-8)",
                p.display()
            )
        );
        // A bad byte on the first line, first column.
        std::fs::write(&p, b"\xfe").unwrap();
        assert_eq!(
            read_regular_text(&p, 100).unwrap_err().position(),
            Some((1, 1))
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn io_reasons_drop_the_error_code() {
        let e = std::io::Error::from_raw_os_error(5);
        assert!(!io_reason(&e).contains("os error"), "{}", io_reason(&e));
        assert_eq!(
            io_reason(&std::io::Error::from(std::io::ErrorKind::AddrInUse)),
            "address already in use"
        );
        // Messages start lower-case, acronyms stay as they are.
        assert_eq!(
            io_reason(&std::io::Error::other("Broken thing")),
            "broken thing"
        );
        assert_eq!(io_reason(&std::io::Error::other("TLS alert")), "TLS alert");
    }
}
