//! The terminal declaration: what the vendor states about the terminal (like
//! a PICS), read from TOML. It is the input to the 適合宣言.

use s301_rfb::Rect;
use serde::{Deserialize, Serialize};

/// How the terminal treats a second console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exclusivity {
    /// While a console holds the terminal, a newcomer is refused.
    Refuse,
    /// A newcomer is served and the holder's connection is closed first.
    Takeover,
}

impl Exclusivity {
    /// `"refuse"` / `"takeover"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Exclusivity::Refuse => "refuse",
            Exclusivity::Takeover => "takeover",
        }
    }
}

/// `[terminal]`: identity, echoed in reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TerminalInfo {
    /// Vendor.
    #[serde(default)]
    pub vendor: String,
    /// Service (e.g. Net119).
    #[serde(default)]
    pub service: String,
    /// Model.
    #[serde(default)]
    pub model: String,
    /// Software version.
    #[serde(default)]
    pub version: String,
}

/// `[screen]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScreenDecl {
    /// `ws://`, `wss://` or `rfb://` URL of the screen.
    pub url: String,
    /// Exclusivity policy.
    pub exclusivity: Exclusivity,
    /// Name of the environment variable holding the VNC password, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// Regions ST-03 ignores (a clock, a blinking cursor), as `[x, y, w, h]`.
    #[serde(default, with = "rect_list")]
    pub ignore: Vec<Rect>,
}

/// An operation probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Probe {
    /// Click at (x, y).
    Click {
        /// Column.
        x: u16,
        /// Row.
        y: u16,
        /// Region that must change (default: whole screen).
        #[serde(default, with = "opt_rect", skip_serializing_if = "Option::is_none")]
        watch: Option<Rect>,
    },
    /// Type `text`.
    Type {
        /// The text to type (ASCII is mapped to keysyms directly).
        text: String,
        /// Region that must change (default: whole screen).
        #[serde(default, with = "opt_rect", skip_serializing_if = "Option::is_none")]
        watch: Option<Rect>,
    },
    /// An operator performs the operation by hand.
    Manual {
        /// What to tell the operator.
        #[serde(default)]
        prompt: String,
        /// Region that must change (default: whole screen).
        #[serde(default, with = "opt_rect", skip_serializing_if = "Option::is_none")]
        watch: Option<Rect>,
    },
}

impl Probe {
    /// The region to watch, if declared.
    pub fn watch(&self) -> Option<Rect> {
        match self {
            Probe::Click { watch, .. }
            | Probe::Type { watch, .. }
            | Probe::Manual { watch, .. } => *watch,
        }
    }
}

/// `[operation]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperationDecl {
    /// Whether the terminal accepts operation (1-2-2 is not optional).
    pub supported: bool,
    /// The probes, `[[operation.probe]]`.
    #[serde(default, rename = "probe")]
    pub probes: Vec<Probe>,
}

/// How a report gets triggered for the data checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The test-report hooks.
    Hook,
    /// An operator places a test call.
    Manual,
    /// The terminal pushes on its own.
    Auto,
}

/// `[data]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataDecl {
    /// Base URL of the terminal's data API (ends in `/s3-01/v1`).
    pub base_url: String,
    /// The terminal pushes reports.
    #[serde(default = "yes")]
    pub output: bool,
    /// The terminal accepts dispatch input (optional capability).
    #[serde(default)]
    pub input: bool,
    /// The terminal pushes revisions.
    #[serde(default = "yes")]
    pub revisions: bool,
    /// How reports are triggered.
    #[serde(default = "default_trigger")]
    pub trigger: Trigger,
    /// A department's own report schema (path), instead of the shipped one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
}

fn yes() -> bool {
    true
}

fn default_trigger() -> Trigger {
    Trigger::Hook
}

/// `[harness]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct HarnessDecl {
    /// Where the harness listens for pushes (`host:port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
}

/// A whole terminal declaration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Declaration {
    /// `[terminal]`.
    #[serde(default)]
    pub terminal: TerminalInfo,
    /// `[screen]`.
    pub screen: ScreenDecl,
    /// `[operation]`.
    pub operation: OperationDecl,
    /// `[data]`, absent for a screen-only run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<DataDecl>,
    /// `[harness]`.
    #[serde(default)]
    pub harness: HarnessDecl,
}

mod rect_list {
    use s301_rfb::Rect;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &[Rect], s: S) -> Result<S::Ok, S::Error> {
        let a: Vec<[u16; 4]> = v.iter().map(|r| [r.x, r.y, r.w, r.h]).collect();
        a.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Rect>, D::Error> {
        let a: Vec<[u16; 4]> = Vec::deserialize(d)?;
        Ok(a.into_iter()
            .map(|[x, y, w, h]| Rect::new(x, y, w, h))
            .collect())
    }
}

mod opt_rect {
    use s301_rfb::Rect;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Rect>, s: S) -> Result<S::Ok, S::Error> {
        v.map(|r| [r.x, r.y, r.w, r.h]).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Rect>, D::Error> {
        let a: Option<[u16; 4]> = Option::deserialize(d)?;
        Ok(a.map(|[x, y, w, h]| Rect::new(x, y, w, h)))
    }
}
