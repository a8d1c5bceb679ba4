//! Errors in configuration files (terminal declarations, scenarios) and the
//! bookkeeping that ties an error to a file line and a key path.
//!
//! TOML is parsed twice: once into the typed structure (serde), once into a
//! spanned document tree. The tree maps byte offsets back to key paths
//! (`screen.exclusivity`, `operation.probe[1].x`) and key paths to lines, so
//! every error, whether from serde or from the semantic checks that follow,
//! says where it is and which key is wrong.

use std::fmt;
use std::ops::Range;

use super::input_file::{read_regular_text, InputFileError};
use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// Largest configuration file accepted. Declarations and scenarios are a few
/// kilobytes; anything near this is not one.
pub const MAX_CONFIG_BYTES: usize = 1024 * 1024;

/// What kind of mistake a [`ConfigError`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigErrorKind {
    /// The file could not be read.
    Read,
    /// The file is larger than [`MAX_CONFIG_BYTES`].
    TooLarge,
    /// The path is no regular file (a named pipe, a device, a directory).
    NotRegular,
    /// The file is not UTF-8 text.
    Encoding,
    /// Not valid TOML.
    Syntax,
    /// A key the format does not define.
    UnknownKey,
    /// A required key is absent.
    MissingKey,
    /// A value of the wrong type or outside its allowed set.
    BadValue,
    /// Well-formed, but not usable (bad URL scheme, empty rectangle ...).
    Invalid,
}

/// A configuration file error: the file, the position, the key and what is wrong.
///
/// Displays as `terminal.toml:7:15: screen.exclusivity: unknown variant
/// "share", expected "refuse" or "takeover"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file (or other origin) the text came from.
    pub origin: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column (in characters), when known.
    pub column: Option<usize>,
    /// The key path (`screen.url`, `operation.probe[0].x`); empty for the
    /// document as a whole.
    pub key: String,
    /// The kind of mistake.
    pub kind: ConfigErrorKind,
    /// What is wrong and, where it helps, what to write instead.
    pub message: String,
}

impl ConfigError {
    /// An error for a file that could not be read.
    pub fn read(origin: &str, err: &std::io::Error) -> ConfigError {
        ConfigError {
            origin: origin.to_string(),
            line: None,
            column: None,
            key: String::new(),
            kind: ConfigErrorKind::Read,
            message: format!("cannot read: {}", super::input_file::io_reason(err)),
        }
    }
}

impl From<InputFileError> for ConfigError {
    fn from(e: InputFileError) -> ConfigError {
        let kind = match &e {
            InputFileError::Open { .. } | InputFileError::Read { .. } => ConfigErrorKind::Read,
            InputFileError::NotRegular { .. } => ConfigErrorKind::NotRegular,
            InputFileError::TooLarge { .. } => ConfigErrorKind::TooLarge,
            InputFileError::NotUtf8 { .. } => ConfigErrorKind::Encoding,
        };
        let position = e.position();
        ConfigError {
            origin: e.path().display().to_string(),
            line: position.map(|(l, _)| l),
            column: position.map(|(_, c)| c),
            key: String::new(),
            kind,
            message: e.reason(),
        }
    }
}

/// Reads a configuration file (declaration or scenario): a regular file of
/// at most [`MAX_CONFIG_BYTES`] in UTF-8, see [`read_regular_text`].
pub(crate) fn read_config(path: &std::path::Path) -> Result<String, ConfigError> {
    Ok(read_regular_text(path, MAX_CONFIG_BYTES as u64)?)
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": ")?;
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn render_path(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => {
                s.push('[');
                s.push_str(&i.to_string());
                s.push(']');
            }
        }
    }
    s
}

/// Parses `a.b[2].c` (our schemas have no dotted or bracketed key names).
fn parse_path(path: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let mut rest = part;
        if let Some(open) = rest.find('[') {
            out.push(Seg::Key(rest[..open].to_string()));
            rest = &rest[open..];
            while let Some(stripped) = rest.strip_prefix('[') {
                let Some(close) = stripped.find(']') else {
                    break;
                };
                if let Ok(i) = stripped[..close].parse() {
                    out.push(Seg::Index(i));
                }
                rest = &stripped[close + 1..];
            }
        } else {
            out.push(Seg::Key(rest.to_string()));
        }
    }
    out
}

/// 1-based (line, column) of a byte offset; columns count characters.
fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(src.len());
    while !src.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = src[line_start..offset].chars().count() + 1;
    (line, column)
}

fn covers(span: &Range<usize>, pos: usize) -> bool {
    span.start <= pos && (pos < span.end || (span.is_empty() && pos == span.start))
}

/// Finds the deepest key path whose key or value covers `pos`.
fn locate_in_table(table: &DeTable<'_>, pos: usize, path: &mut Vec<Seg>) -> bool {
    for (k, v) in table.iter() {
        path.push(Seg::Key(k.get_ref().to_string()));
        if locate_in_value(v, pos, path) || covers(&k.span(), pos) || covers(&v.span(), pos) {
            return true;
        }
        path.pop();
    }
    false
}

fn locate_in_value(v: &Spanned<DeValue<'_>>, pos: usize, path: &mut Vec<Seg>) -> bool {
    match v.get_ref() {
        DeValue::Table(t) => locate_in_table(t, pos, path),
        DeValue::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                path.push(Seg::Index(i));
                if locate_in_value(item, pos, path) || covers(&item.span(), pos) {
                    return true;
                }
                path.pop();
            }
            false
        }
        _ => false,
    }
}

/// The value at `path`, or (`exact` = false) its deepest existing ancestor.
fn value_at<'a, 'i>(
    root: &'a Spanned<DeTable<'i>>,
    path: &[Seg],
    exact: bool,
) -> Option<&'a Spanned<DeValue<'i>>> {
    let mut best: Option<&'a Spanned<DeValue<'i>>> = None;
    let mut table: Option<&'a DeTable<'i>> = Some(root.get_ref());
    for seg in path {
        let next = match (seg, table, best.map(|b| b.get_ref())) {
            (Seg::Key(k), Some(t), _) => t
                .iter()
                .find(|(key, _)| key.get_ref().as_ref() == k.as_str())
                .map(|(_, v)| v),
            (Seg::Index(i), _, Some(DeValue::Array(a))) => a.get(*i),
            _ => None,
        };
        let Some(next) = next else {
            return if exact { None } else { best };
        };
        best = Some(next);
        table = match next.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => None,
        };
    }
    best
}

/// A parsed configuration document with its spanned tree, to build errors
/// that name lines and keys.
pub(crate) struct Doc<'i> {
    src: &'i str,
    origin: &'i str,
    tree: Spanned<DeTable<'i>>,
}

impl<'i> Doc<'i> {
    /// Parses `src` as TOML (syntax only). `origin` names the file in errors.
    pub(crate) fn parse(src: &'i str, origin: &'i str) -> Result<Doc<'i>, ConfigError> {
        if src.len() > MAX_CONFIG_BYTES {
            return Err(ConfigError {
                origin: origin.to_string(),
                line: None,
                column: None,
                key: String::new(),
                kind: ConfigErrorKind::TooLarge,
                message: format!(
                    "the file is {} bytes or more; at most {MAX_CONFIG_BYTES} are accepted",
                    src.len()
                ),
            });
        }
        let tree = DeTable::parse(src).map_err(|e| {
            let (line, column) = match e.span() {
                Some(span) => {
                    let (l, c) = line_col(src, span.start);
                    (Some(l), Some(c))
                }
                None => (None, None),
            };
            ConfigError {
                origin: origin.to_string(),
                line,
                column,
                key: String::new(),
                kind: ConfigErrorKind::Syntax,
                message: format!("invalid TOML: {}", tidy_message(e.message())),
            }
        })?;
        Ok(Doc { src, origin, tree })
    }

    /// Deserializes the document into `T`, turning serde's error into one
    /// that names the line and the key path.
    pub(crate) fn deserialize<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        toml::from_str(self.src).map_err(|e| {
            let msg = e.message().trim().to_string();
            let (line, column, key) = match e.span() {
                Some(span) => {
                    let (l, c) = line_col(self.src, span.start);
                    let mut path = Vec::new();
                    locate_in_table(self.tree.get_ref(), span.start, &mut path);
                    (Some(l), Some(c), render_path(&path))
                }
                None => (None, None, String::new()),
            };
            ConfigError {
                origin: self.origin.to_string(),
                line,
                column,
                key,
                kind: classify(&msg),
                message: tidy_message(&msg),
            }
        })
    }

    /// Whether the key `path` is present.
    pub(crate) fn has(&self, path: &str) -> bool {
        value_at(&self.tree, &parse_path(path), true).is_some()
    }

    /// The string at `path`, if present and a string.
    pub(crate) fn str_at(&self, path: &str) -> Option<&str> {
        value_at(&self.tree, &parse_path(path), true).and_then(|v| v.get_ref().as_str())
    }

    /// The length of the array at `path` (0 if absent or not an array).
    pub(crate) fn array_len(&self, path: &str) -> usize {
        value_at(&self.tree, &parse_path(path), true)
            .and_then(|v| v.get_ref().as_array())
            .map_or(0, |a| a.len())
    }

    /// An error at the key `path` (e.g. `"operation.probe[1].watch"`); the
    /// line is that of the value, or of its nearest present ancestor.
    pub(crate) fn error_at(&self, path: &str, message: impl Into<String>) -> ConfigError {
        let segs = parse_path(path);
        let (line, column) = match value_at(&self.tree, &segs, false) {
            Some(v) => {
                let (l, c) = line_col(self.src, v.span().start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        ConfigError {
            origin: self.origin.to_string(),
            line,
            column,
            key: path.to_string(),
            kind: ConfigErrorKind::Invalid,
            message: message.into(),
        }
    }
}

/// Serde's messages quote with backticks; people read double quotes better.
fn tidy_message(msg: &str) -> String {
    let msg = msg.trim().replace('`', "\"");
    if msg.starts_with("missing field") {
        format!("{msg} (add it)")
    } else {
        msg
    }
}

fn classify(msg: &str) -> ConfigErrorKind {
    if msg.starts_with("unknown field") {
        ConfigErrorKind::UnknownKey
    } else if msg.starts_with("missing field") {
        ConfigErrorKind::MissingKey
    } else {
        ConfigErrorKind::BadValue
    }
}

/// Parses `src` into `T`, keeping the spanned tree for later semantic errors.
pub(crate) fn parse_doc<'i, T: DeserializeOwned>(
    src: &'i str,
    origin: &'i str,
) -> Result<(T, Doc<'i>), ConfigError> {
    let doc = Doc::parse(src, origin)?;
    let value = doc.deserialize()?;
    Ok((value, doc))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip_through_parse_and_render() {
        for p in ["screen.url", "operation.probe[3].watch", "a", "a.b.c"] {
            assert_eq!(render_path(&parse_path(p)), p);
        }
    }

    #[test]
    fn line_col_counts_lines_and_characters() {
        let src = "a = 1\nbé = 2\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 6), (2, 1));
        // After the two-byte 'é', the column counts characters, not bytes.
        assert_eq!(line_col(src, 9), (2, 3));
        // Past the end is clamped, not a panic.
        assert_eq!(line_col(src, 1000), (3, 1));
    }

    #[test]
    fn display_names_file_line_column_and_key() {
        let e = ConfigError {
            origin: "terminal.toml".into(),
            line: Some(7),
            column: Some(15),
            key: "screen.exclusivity".into(),
            kind: ConfigErrorKind::BadValue,
            message: "bad".into(),
        };
        assert_eq!(e.to_string(), "terminal.toml:7:15: screen.exclusivity: bad");
        let e = ConfigError {
            line: None,
            column: None,
            key: String::new(),
            ..e
        };
        assert_eq!(e.to_string(), "terminal.toml: bad");
    }

    #[test]
    fn oversized_file_is_rejected_before_parsing() {
        let src = "#".repeat(MAX_CONFIG_BYTES + 1);
        let err = parse_doc::<toml::Table>(&src, "big.toml")
            .err()
            .map(|e| e.kind);
        assert_eq!(err, Some(ConfigErrorKind::TooLarge));
    }
}
