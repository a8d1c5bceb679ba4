//! Operation probes of a declaration (`[[operation.probe]]`): their kinds,
//! and the check that each probe has the fields its kind needs, reported
//! against the probe with its line.

use serde::{Deserialize, Serialize};

use s301_rfb::Rect;

use super::{opt_rect, ConfigError, Doc};

/// An operation probe.
///
/// Read through [`RawProbe`] so that a probe missing the fields of its kind
/// is reported against that probe (`operation.probe[1]`), with its line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", try_from = "RawProbe")]
pub enum Probe {
    /// Click at (x, y): the pointer rests at `from` first, then moves to
    /// (x, y) and button 1 goes down and up.
    Click {
        /// Column.
        x: u16,
        /// Row.
        y: u16,
        /// Where the pointer rests before each repetition (default: a point
        /// outside the watched region).
        #[serde(skip_serializing_if = "Option::is_none")]
        from: Option<[u16; 2]>,
        /// Region that must change (default: whole screen).
        #[serde(
            serialize_with = "opt_rect::serialize",
            skip_serializing_if = "Option::is_none"
        )]
        watch: Option<Rect>,
    },
    /// Move the pointer to (x, y) with no button pressed, from the rest point
    /// `from`: for a terminal whose visible reaction is hover.
    Move {
        /// Column.
        x: u16,
        /// Row.
        y: u16,
        /// Where the pointer rests before each repetition (default: a point
        /// outside the watched region).
        #[serde(skip_serializing_if = "Option::is_none")]
        from: Option<[u16; 2]>,
        /// Region that must change (default: whole screen).
        #[serde(
            serialize_with = "opt_rect::serialize",
            skip_serializing_if = "Option::is_none"
        )]
        watch: Option<Rect>,
    },
    /// Type `text`.
    Type {
        /// The text to type (ASCII is mapped to keysyms directly).
        text: String,
        /// Region that must change (default: whole screen).
        #[serde(
            serialize_with = "opt_rect::serialize",
            skip_serializing_if = "Option::is_none"
        )]
        watch: Option<Rect>,
    },
    /// An operator performs the operation by hand.
    Manual {
        /// What to tell the operator.
        #[serde(default)]
        prompt: String,
        /// Region that must change (default: whole screen).
        #[serde(
            serialize_with = "opt_rect::serialize",
            skip_serializing_if = "Option::is_none"
        )]
        watch: Option<Rect>,
    },
}

impl Probe {
    /// The region to watch, if declared.
    pub fn watch(&self) -> Option<Rect> {
        match self {
            Probe::Click { watch, .. }
            | Probe::Move { watch, .. }
            | Probe::Type { watch, .. }
            | Probe::Manual { watch, .. } => *watch,
        }
    }

    /// The kind, as written in the declaration.
    pub fn kind(&self) -> ProbeKind {
        match self {
            Probe::Click { .. } => ProbeKind::Click,
            Probe::Move { .. } => ProbeKind::Move,
            Probe::Type { .. } => ProbeKind::Type,
            Probe::Manual { .. } => ProbeKind::Manual,
        }
    }

    /// The pointer target of a click or move probe.
    pub fn point(&self) -> Option<(u16, u16)> {
        match self {
            Probe::Click { x, y, .. } | Probe::Move { x, y, .. } => Some((*x, *y)),
            _ => None,
        }
    }

    /// The declared rest point of a click or move probe.
    pub fn from(&self) -> Option<(u16, u16)> {
        match self {
            Probe::Click { from, .. } | Probe::Move { from, .. } => from.map(|[x, y]| (x, y)),
            _ => None,
        }
    }
}

/// The `kind` of a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeKind {
    /// `click`: needs `x` and `y`.
    Click,
    /// `move`: needs `x` and `y` (pointer motion, no button).
    Move,
    /// `type`: needs `text`.
    Type,
    /// `manual`: an operator acts; `prompt` says what to do.
    Manual,
}

impl ProbeKind {
    /// `"click"` / `"type"` / `"manual"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ProbeKind::Click => "click",
            ProbeKind::Move => "move",
            ProbeKind::Type => "type",
            ProbeKind::Manual => "manual",
        }
    }
}

/// A probe as written in the file, before the fields its kind needs are
/// checked. Only used while reading.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProbe {
    /// `click` | `move` | `type` | `manual`.
    pub kind: ProbeKind,
    /// Column (click).
    #[serde(default)]
    pub x: Option<u16>,
    /// Row (click).
    #[serde(default)]
    pub y: Option<u16>,
    /// Text (type).
    #[serde(default)]
    pub text: Option<String>,
    /// Operator prompt (manual).
    #[serde(default)]
    pub prompt: Option<String>,
    /// Rest point (click, move).
    #[serde(default)]
    pub from: Option<[u16; 2]>,
    /// Region that must change.
    #[serde(default)]
    pub watch: Option<[u16; 4]>,
}

/// What is wrong with the fields of a probe of `kind`, if anything. `has`
/// tells whether a field is present; `text_empty` whether `text` is `""`.
/// Shared by the check on the spanned document (which knows the line) and
/// the typed conversion.
fn probe_shape_error(
    kind: ProbeKind,
    has: &dyn Fn(&str) -> bool,
    text_empty: bool,
) -> Option<String> {
    let (needs, takes_no): (&[&str], &[&str]) = match kind {
        ProbeKind::Click | ProbeKind::Move => (&["x", "y"], &["text", "prompt"]),
        ProbeKind::Type => (&["text"], &["x", "y", "from", "prompt"]),
        ProbeKind::Manual => (&[], &["x", "y", "from", "text"]),
    };
    let missing: Vec<String> = needs
        .iter()
        .filter(|f| !has(f))
        .map(|f| format!("\"{f}\""))
        .collect();
    if !missing.is_empty() {
        return Some(format!(
            "a {} probe needs {} (add {})",
            kind.as_str(),
            missing.join(" and "),
            if missing.len() == 1 { "it" } else { "them" }
        ));
    }
    if let Some(f) = takes_no.iter().find(|f| has(f)) {
        return Some(format!(
            "a {} probe takes no \"{f}\" (remove it)",
            kind.as_str()
        ));
    }
    if kind == ProbeKind::Type && text_empty {
        return Some("a type probe needs a non-empty \"text\"".into());
    }
    None
}

impl TryFrom<RawProbe> for Probe {
    type Error = String;

    fn try_from(r: RawProbe) -> Result<Probe, String> {
        let has = |f: &str| match f {
            "x" => r.x.is_some(),
            "y" => r.y.is_some(),
            "text" => r.text.is_some(),
            "prompt" => r.prompt.is_some(),
            "from" => r.from.is_some(),
            _ => false,
        };
        let text_empty = r.text.as_deref() == Some("");
        if let Some(e) = probe_shape_error(r.kind, &has, text_empty) {
            return Err(e);
        }
        let watch = r.watch.map(|[x, y, w, h]| Rect::new(x, y, w, h));
        Ok(match (r.kind, r.x, r.y, r.text) {
            (ProbeKind::Click, Some(x), Some(y), _) => Probe::Click {
                x,
                y,
                from: r.from,
                watch,
            },
            (ProbeKind::Move, Some(x), Some(y), _) => Probe::Move {
                x,
                y,
                from: r.from,
                watch,
            },
            (ProbeKind::Type, _, _, Some(text)) => Probe::Type { text, watch },
            (ProbeKind::Manual, ..) => Probe::Manual {
                prompt: r.prompt.unwrap_or_default(),
                watch,
            },
            // probe_shape_error has ruled the other combinations out.
            (kind, ..) => return Err(format!("a {} probe is incomplete", kind.as_str())),
        })
    }
}

pub(super) fn check_probe_shapes(doc: &Doc<'_>) -> Result<(), ConfigError> {
    for i in 0..doc.array_len("operation.probe") {
        let at = format!("operation.probe[{i}]");
        let Some(kind) = doc.str_at(&format!("{at}.kind")) else {
            continue; // absent or not a string: serde says so precisely
        };
        let kind = match kind {
            "click" => ProbeKind::Click,
            "move" => ProbeKind::Move,
            "type" => ProbeKind::Type,
            "manual" => ProbeKind::Manual,
            _ => continue, // serde reports the unknown variant with its line
        };
        let has = |f: &str| doc.has(&format!("{at}.{f}"));
        let text_empty = doc.str_at(&format!("{at}.text")) == Some("");
        if let Some(msg) = probe_shape_error(kind, &has, text_empty) {
            return Err(doc.error_at(&at, msg));
        }
    }
    Ok(())
}
