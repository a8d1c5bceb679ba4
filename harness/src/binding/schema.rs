//! The report schema: the shipped JSON Schema (2020-12) for S3-01 reports, or
//! a department's own schema file, compiled once and used to judge every push.
//!
//! Remote references are never fetched: the retriever refuses every URI, so a
//! schema can only refer to itself (and the bundled meta-schemas). Patterns
//! use a linear-time regex engine, so a hostile report cannot make a pattern
//! backtrack for ever.

use std::path::Path;

use jsonschema::{PatternOptions, Retrieve, Uri, Validator};
use serde::Serialize;
use serde_json::Value;

/// The shipped schema, `scenarios/schemas/report-v1.schema.json`.
pub const SHIPPED_SCHEMA: &str = include_str!("../../../scenarios/schemas/report-v1.schema.json");

/// A department schema file larger than this is refused.
pub const MAX_SCHEMA_FILE: u64 = 4 * 1024 * 1024;

/// At most this many violations are listed for one report.
pub const MAX_VIOLATIONS: usize = 100;

/// A violation message is cut to this many characters.
const MAX_MESSAGE_CHARS: usize = 300;

/// One problem with a pushed body: where (a JSON pointer into the report,
/// `""` for the whole body) and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// JSON pointer of the offending value.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl Violation {
    /// A violation at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Violation {
            path: path.into(),
            message: cut(&message.into(), MAX_MESSAGE_CHARS),
        }
    }
}

/// Cuts `s` to at most `max` characters (on a character boundary), marking the cut.
pub(crate) fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Why a schema could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The file could not be read (missing, not a regular file ...).
    #[error("report schema {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// What went wrong, in words (`cannot read: permission denied`).
        reason: String,
    },
    /// The file is larger than [`MAX_SCHEMA_FILE`].
    #[error("report schema {path}: {size} bytes is over the {MAX_SCHEMA_FILE}-byte limit")]
    TooLarge {
        /// The file.
        path: String,
        /// Its size.
        size: u64,
    },
    /// The file is not JSON.
    #[error("report schema {path}: not JSON: {reason}")]
    Json {
        /// The file.
        path: String,
        /// The parse error.
        reason: String,
    },
    /// The JSON is not a usable schema (or refers to a remote document).
    #[error("report schema {path}: not a usable JSON Schema: {reason}")]
    Invalid {
        /// The file (or `"(shipped)"`).
        path: String,
        /// The compile error.
        reason: String,
    },
}

/// Refuses every remote or file reference: validation must not reach out.
struct RefuseRetriever;

#[derive(Debug, thiserror::Error)]
#[error("s301 does not fetch referenced schemas ({0}); bundle them into the schema file")]
struct RefusedFetch(String);

impl Retrieve for RefuseRetriever {
    fn retrieve(
        &self,
        uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        Err(Box::new(RefusedFetch(uri.as_str().to_string())))
    }
}

/// A compiled report schema.
pub struct ReportSchema {
    validator: Validator,
    origin: String,
}

impl std::fmt::Debug for ReportSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportSchema")
            .field("origin", &self.origin)
            .finish()
    }
}

impl ReportSchema {
    /// The shipped schema.
    pub fn shipped() -> Result<Self, SchemaError> {
        let v: Value = serde_json::from_str(SHIPPED_SCHEMA).map_err(|e| SchemaError::Json {
            path: "(shipped)".into(),
            reason: e.to_string(),
        })?;
        Self::compile(&v, "(shipped) report-v1.schema.json")
    }

    /// The schema at `path` (a department's own).
    pub fn from_file(path: &Path) -> Result<Self, SchemaError> {
        use crate::config::declaration::InputFileError;
        let shown = path.display().to_string();
        let text = crate::config::declaration::read_regular(path, MAX_SCHEMA_FILE).map_err(
            |e| match e {
                InputFileError::TooLarge { size, .. } => SchemaError::TooLarge {
                    path: shown.clone(),
                    size,
                },
                e => SchemaError::Read {
                    path: shown.clone(),
                    reason: e.reason(),
                },
            },
        )?;
        let v: Value = serde_json::from_slice(&text).map_err(|e| SchemaError::Json {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        Self::compile(&v, &shown)
    }

    /// The shipped schema, or the file at `path` when given.
    pub fn load(path: Option<&str>) -> Result<Self, SchemaError> {
        match path {
            Some(p) => Self::from_file(Path::new(p)),
            None => Self::shipped(),
        }
    }

    /// Compiles `schema`; `origin` names it in evidence.
    pub fn compile(schema: &Value, origin: &str) -> Result<Self, SchemaError> {
        let validator = jsonschema::options()
            .with_retriever(RefuseRetriever)
            .with_pattern_options(PatternOptions::regex())
            .should_validate_formats(true)
            .build(schema)
            .map_err(|e| SchemaError::Invalid {
                path: origin.to_string(),
                reason: cut(&e.to_string(), 500),
            })?;
        Ok(ReportSchema {
            validator,
            origin: origin.to_string(),
        })
    }

    /// Where the schema came from (for evidence).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Every violation of `report` (at most [`MAX_VIOLATIONS`], the last one
    /// saying how many were left out), each with its instance path.
    pub fn violations(&self, report: &Value) -> Vec<Violation> {
        // The common case, a valid report, takes the fast path.
        if self.validator.is_valid(report) {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut extra = 0usize;
        for e in self.validator.iter_errors(report) {
            if out.len() < MAX_VIOLATIONS {
                out.push(Violation::new(e.instance_path().as_str(), e.to_string()));
            } else {
                extra += 1;
            }
        }
        if extra > 0 {
            out.push(Violation::new(
                "",
                format!("{extra} further violations not listed"),
            ));
        }
        out
    }

    /// Whether `report` is valid.
    pub fn is_valid(&self, report: &Value) -> bool {
        self.validator.is_valid(report)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal() -> Value {
        json!({
            "schema": "s3-01/report/v1",
            "reportId": "R-1",
            "revision": 1,
            "test": true,
            "service": {"kind": "net119", "provider": "P"},
            "receivedAt": "2025-01-02T03:04:05Z",
            "updatedAt": "2025-01-02T03:04:05.123+09:00",
            "category": "fire",
            "location": {"lat": 35.0, "lon": 139.0, "datum": "JGD2011"}
        })
    }

    #[test]
    fn shipped_schema_accepts_minimal_report_with_extra_members() {
        let s = ReportSchema::shipped().unwrap();
        let mut r = minimal();
        assert!(s.violations(&r).is_empty());
        r["vehicle"] = json!({"heading": 90, "crash": {"deltaV": 30}});
        r["location"]["floor"] = json!(3);
        assert!(s.violations(&r).is_empty(), "{:?}", s.violations(&r));
    }

    #[test]
    fn violations_name_instance_paths() {
        let s = ReportSchema::shipped().unwrap();
        let mut r = minimal();
        r["location"]["datum"] = json!("Tokyo");
        r["revision"] = json!(0);
        r.as_object_mut().unwrap().remove("category");
        r["receivedAt"] = json!("yesterday");
        let v = s.violations(&r);
        let paths: Vec<&str> = v.iter().map(|v| v.path.as_str()).collect();
        assert!(paths.contains(&"/location/datum"), "{paths:?}");
        assert!(paths.contains(&"/revision"), "{paths:?}");
        assert!(paths.contains(&"/receivedAt"), "{paths:?}");
        assert!(
            paths.contains(&""),
            "missing category is reported at the root: {paths:?}"
        );
    }

    #[test]
    fn remote_refs_are_refused_not_fetched() {
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": "http://127.0.0.1:9/never.json"
        });
        let err = ReportSchema::compile(&schema, "test").unwrap_err();
        assert!(err.to_string().contains("does not fetch"), "{err}");
    }

    #[test]
    fn department_schema_file_replaces_shipped_one() {
        let dir = std::env::temp_dir().join(format!("s301-schema-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("dept.json");
        std::fs::write(
            &p,
            r#"{"type":"object","required":["reportId","revision","deptCode"]}"#,
        )
        .unwrap();
        let s = ReportSchema::load(Some(p.to_str().unwrap())).unwrap();
        assert!(s.is_valid(&json!({"reportId": "a", "revision": 1, "deptCode": "13"})));
        assert!(!s.is_valid(&minimal()));
        std::fs::write(&p, "not json").unwrap();
        assert!(matches!(
            ReportSchema::from_file(&p),
            Err(SchemaError::Json { .. })
        ));
        assert!(matches!(
            ReportSchema::from_file(&dir.join("missing.json")),
            Err(SchemaError::Read { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn violation_list_is_bounded() {
        let s = ReportSchema::shipped().unwrap();
        let mut r = minimal();
        let msgs: Vec<Value> = (0..500).map(|_| json!({"from": "nobody"})).collect();
        r["messages"] = Value::Array(msgs);
        let v = s.violations(&r);
        assert_eq!(v.len(), MAX_VIOLATIONS + 1);
        assert!(v[MAX_VIOLATIONS].message.contains("further"));
    }

    #[test]
    fn cut_respects_char_boundaries() {
        assert_eq!(cut("日本語テキスト", 3), "日本語…");
        assert_eq!(cut("abc", 3), "abc");
    }
}
