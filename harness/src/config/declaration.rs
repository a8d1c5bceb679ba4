//! The terminal declaration: what the vendor states about the terminal (like
//! a PICS), read from TOML. It is the input to the 適合宣言.

mod config_error;
pub mod conformity;
pub mod input_file;
pub mod probe;
pub mod tls;
mod values;

pub(crate) use config_error::{parse_doc, read_config, Doc};
pub use config_error::{ConfigError, ConfigErrorKind, MAX_CONFIG_BYTES};
pub use input_file::{io_reason, read_regular, read_regular_text, InputFileError};
use probe::check_probe_shapes;
pub use probe::{Probe, ProbeKind, RawProbe};
use values::{check_env_name, check_listen, check_rect, check_url};

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
    /// The pixel format the harness asks for (default `rgb888`).
    #[serde(default)]
    pub pixel_format: PixelFormatChoice,
}

/// The pixel format a console asks the terminal for after ServerInit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PixelFormatChoice {
    /// 32-bit little-endian true colour, 8 bits a channel (the default).
    #[default]
    #[serde(rename = "rgb888")]
    Rgb888,
    /// 16-bit little-endian true colour, 5/6/5 bits.
    #[serde(rename = "rgb565")]
    Rgb565,
    /// 8-bit colour-mapped: the terminal must send its colour map
    /// (SetColourMapEntries) and index it.
    #[serde(rename = "colour-map-8")]
    ColourMap8,
    /// Keep the format the terminal announces in ServerInit: no
    /// SetPixelFormat is sent. Tests a terminal in its own native format,
    /// colour-mapped ones included.
    #[serde(rename = "native")]
    Native,
}

impl PixelFormatChoice {
    /// The format the harness sets with SetPixelFormat; `None` for
    /// `native`, which sends none.
    pub fn fixed(&self) -> Option<s301_rfb::PixelFormat> {
        match self {
            PixelFormatChoice::Rgb888 => Some(s301_rfb::PixelFormat::RGB888),
            PixelFormatChoice::Rgb565 => Some(s301_rfb::PixelFormat::RGB565),
            PixelFormatChoice::ColourMap8 => Some(s301_rfb::PixelFormat::MAPPED8),
            PixelFormatChoice::Native => None,
        }
    }

    /// The declaration value, e.g. `"colour-map-8"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            PixelFormatChoice::Rgb888 => "rgb888",
            PixelFormatChoice::Rgb565 => "rgb565",
            PixelFormatChoice::ColourMap8 => "colour-map-8",
            PixelFormatChoice::Native => "native",
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
    /// `[tls]`: certificates for `wss://`, `https://` and the https receiver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<tls::TlsDecl>,
    /// `[conformity]`: the vendor's answers on the 適合宣言 for the rows the
    /// run cannot judge (see [`conformity`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conformity: Option<conformity::ConformityDecl>,
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
    use serde::{Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Rect>, s: S) -> Result<S::Ok, S::Error> {
        v.map(|r| [r.x, r.y, r.w, r.h]).serialize(s)
    }
}

impl Declaration {
    /// Reads a declaration from TOML text. `origin` names the file in errors.
    ///
    /// Beyond the TOML structure this checks what the harness relies on:
    /// URL schemes, the fields each probe kind needs, non-empty regions and
    /// environment variable names. Every error names the key and its line.
    pub fn parse(src: &str, origin: &str) -> Result<Declaration, ConfigError> {
        let doc = Doc::parse(src, origin)?;
        // Placeholders left by `s301 init` first: they say what to fill in.
        conformity::check_placeholders(src, &doc)?;
        // Probe fields are checked on the spanned document first: serde
        // loses the position of an array-of-tables element, the tree keeps it.
        check_probe_shapes(&doc)?;
        let decl: Declaration = doc.deserialize()?;
        decl.validate(&doc)?;
        Ok(decl)
    }

    /// Reads and parses the declaration file at `path`. A relative
    /// `[data] schema` path is taken relative to the declaration's directory.
    pub fn load(path: &std::path::Path) -> Result<Declaration, ConfigError> {
        let origin = path.display().to_string();
        let src = read_config(path)?;
        let mut decl = Declaration::parse(&src, &origin)?;
        if let (Some(data), Some(dir)) = (decl.data.as_mut(), path.parent()) {
            if let Some(schema) = data.schema.as_mut() {
                if std::path::Path::new(schema.as_str()).is_relative() {
                    *schema = dir.join(schema.as_str()).display().to_string();
                }
            }
        }
        if let (Some(tls), Some(dir)) = (decl.tls.as_mut(), path.parent()) {
            tls.resolve_beside(dir);
        }
        if let Some(tls) = &decl.tls {
            // Read the PEM files now, so a bad one is a usage error that
            // names its key and line before anything runs.
            if let Err(e) = tls::check_files(tls) {
                let doc = Doc::parse(&src, &origin)?;
                return Err(doc.error_at(
                    &format!("tls.{}", e.key),
                    format!("{}: {}", e.file, e.reason),
                ));
            }
        }
        Ok(decl)
    }

    fn validate(&self, doc: &Doc<'_>) -> Result<(), ConfigError> {
        check_url(
            doc,
            "screen.url",
            &self.screen.url,
            &["ws", "wss", "rfb", "memory"],
        )?;
        if let Some(var) = &self.screen.password_env {
            check_env_name(doc, "screen.password_env", var)?;
        }
        for (i, r) in self.screen.ignore.iter().enumerate() {
            check_rect(doc, &format!("screen.ignore[{i}]"), r)?;
        }
        for (i, p) in self.operation.probes.iter().enumerate() {
            if let Some(w) = p.watch() {
                check_rect(doc, &format!("operation.probe[{i}].watch"), &w)?;
            }
        }
        if let Some(data) = &self.data {
            check_url(
                doc,
                "data.base_url",
                &data.base_url,
                &["http", "https", "memory"],
            )?;
            if let Some(schema) = &data.schema {
                if schema.trim().is_empty() {
                    return Err(doc.error_at(
                        "data.schema",
                        "must be the path of a JSON Schema file (or leave the key out)",
                    ));
                }
            }
        }
        if let Some(listen) = &self.harness.listen {
            check_listen(doc, "harness.listen", listen)?;
        }
        if let Some(c) = &self.conformity {
            conformity::validate(c, doc)?;
        }
        self.validate_tls(doc)
    }

    /// `[tls]`: file keys are non-empty, keys come with their certificates,
    /// and `wss://` / `https://` have a CA to verify the terminal against.
    fn validate_tls(&self, doc: &Doc<'_>) -> Result<(), ConfigError> {
        let tls = self.tls.clone().unwrap_or_default();
        for (key, value) in tls.files() {
            if value.is_some_and(|v| v.trim().is_empty()) {
                return Err(doc.error_at(
                    &format!("tls.{key}"),
                    "must be the path of a PEM file (or leave the key out)",
                ));
            }
        }
        for (a, b) in [
            ("client_cert", "client_key"),
            ("receiver_cert", "receiver_key"),
        ] {
            let has = |k: &str| tls.files().iter().any(|(n, v)| *n == k && v.is_some());
            if has(a) != has(b) {
                let (present, missing) = if has(a) { (a, b) } else { (b, a) };
                return Err(doc.error_at(
                    &format!("tls.{present}"),
                    format!("tls.{present} needs tls.{missing} as well"),
                ));
            }
        }
        if let Some(name) = &tls.server_name {
            if rustls::pki_types::ServerName::try_from(name.as_str()).is_err() {
                return Err(doc.error_at(
                    "tls.server_name",
                    format!("\"{name}\" is not a DNS name or IP address"),
                ));
            }
        }
        let encrypted = [
            ("screen.url", self.screen.url.as_str(), "wss://"),
            (
                "data.base_url",
                self.data.as_ref().map_or("", |d| d.base_url.as_str()),
                "https://",
            ),
        ];
        for (key, url, prefix) in encrypted {
            let starts = url
                .get(..prefix.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(prefix));
            if starts && tls.ca.is_none() {
                return Err(doc.error_at(
                    key,
                    format!("{prefix} needs [tls] ca (the PEM file of the CA that signed the terminal's certificate)"),
                ));
            }
        }
        Ok(())
    }

    /// The declaration as JSON for reports, with secrets removed: any
    /// `password` value is dropped; the *name* of the password variable
    /// (`password_env`) is kept.
    pub fn redacted(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        strip_secrets(&mut v);
        v
    }
}

fn strip_secrets(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            map.retain(|k, _| {
                let k = k.to_ascii_lowercase();
                !(k == "password" || k == "secret" || k == "token")
            });
            for (_, child) in map.iter_mut() {
                strip_secrets(child);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_secrets),
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;

    const GOOD: &str = r#"
[terminal]
vendor = "Example"
service = "Net119"

[screen]
url = "ws://127.0.0.1:5901/s3-01/v1/screen"
exclusivity = "refuse"
password_env = "S301_VNC_PASSWORD"
ignore = [[0, 0, 100, 20]]

[operation]
supported = true

[[operation.probe]]
kind = "click"
x = 10
y = 20
watch = [0, 0, 64, 64]

[[operation.probe]]
kind = "type"
text = "abc"

[data]
base_url = "http://127.0.0.1:5901/s3-01/v1"
input = true

[harness]
listen = "127.0.0.1:0"
"#;

    fn err(src: &str) -> ConfigError {
        match Declaration::parse(src, "terminal.toml") {
            Ok(d) => panic!("expected an error, parsed {d:?}"),
            Err(e) => e,
        }
    }

    /// `GOOD` with one line replaced.
    fn with(from: &str, to: &str) -> String {
        assert!(GOOD.contains(from), "fixture lacks {from}");
        GOOD.replacen(from, to, 1)
    }

    fn line_of(src: &str, needle: &str) -> usize {
        src.lines()
            .position(|l| l.contains(needle))
            .map(|i| i + 1)
            .unwrap_or(0)
    }

    #[test]
    fn good_declaration_parses_with_defaults() {
        let d = Declaration::parse(GOOD, "terminal.toml").unwrap();
        assert_eq!(d.screen.exclusivity, Exclusivity::Refuse);
        assert_eq!(d.screen.ignore, vec![Rect::new(0, 0, 100, 20)]);
        assert_eq!(d.operation.probes.len(), 2);
        assert_eq!(
            d.operation.probes[0],
            Probe::Click {
                x: 10,
                y: 20,
                from: None,
                watch: Some(Rect::new(0, 0, 64, 64))
            }
        );
        let data = d.data.unwrap();
        assert!(data.output && data.revisions && data.input);
        assert_eq!(data.trigger, Trigger::Hook);
    }

    #[test]
    fn serialized_declaration_parses_back_to_itself() {
        let d = Declaration::parse(GOOD, "terminal.toml").unwrap();
        let text = toml::to_string(&d).unwrap();
        assert_eq!(Declaration::parse(&text, "again.toml").unwrap(), d);
    }

    #[test]
    fn pixel_format_defaults_to_rgb888_and_takes_every_choice() {
        let d = Declaration::parse(GOOD, "terminal.toml").unwrap();
        assert_eq!(d.screen.pixel_format, PixelFormatChoice::Rgb888);
        for choice in [
            PixelFormatChoice::Rgb888,
            PixelFormatChoice::Rgb565,
            PixelFormatChoice::ColourMap8,
            PixelFormatChoice::Native,
        ] {
            let src = with(
                r#"exclusivity = "refuse""#,
                &format!(
                    "exclusivity = \"refuse\"\npixel_format = \"{}\"",
                    choice.as_str()
                ),
            );
            let d = Declaration::parse(&src, "terminal.toml").unwrap();
            assert_eq!(d.screen.pixel_format, choice);
        }
    }

    #[test]
    fn unknown_pixel_format_names_key_line_and_choices() {
        let src = with(
            r#"exclusivity = "refuse""#,
            "exclusivity = \"refuse\"\npixel_format = \"bgr233\"",
        );
        let e = err(&src);
        assert_eq!(e.key, "screen.pixel_format");
        assert_eq!(e.line, Some(line_of(&src, "pixel_format")));
        assert!(e.to_string().contains("colour-map-8"), "{e}");
    }

    #[test]
    fn unknown_variant_names_key_and_line() {
        let src = with(r#"exclusivity = "refuse""#, r#"exclusivity = "share""#);
        let e = err(&src);
        assert_eq!(e.kind, ConfigErrorKind::BadValue);
        assert_eq!(e.key, "screen.exclusivity");
        assert_eq!(e.line, Some(line_of(&src, "exclusivity")));
        let shown = e.to_string();
        assert!(
            shown.starts_with(&format!("terminal.toml:{}:", line_of(&src, "exclusivity"))),
            "{shown}"
        );
        assert!(
            shown.ends_with(
                r#"screen.exclusivity: unknown variant "share", expected "refuse" or "takeover""#
            ),
            "{shown}"
        );
    }

    #[test]
    fn unknown_key_is_rejected_with_its_path() {
        let src = with("input = true", "input = true\nouptut = false");
        let e = err(&src);
        assert_eq!(e.kind, ConfigErrorKind::UnknownKey);
        assert_eq!(e.key, "data.ouptut");
        assert_eq!(e.line, Some(line_of(&src, "ouptut")));
        assert!(e.message.contains(r#"unknown field "ouptut""#), "{e}");
    }

    #[test]
    fn unknown_table_is_rejected() {
        let e = err(&format!("{GOOD}\n[extra]\nx = 1\n"));
        assert_eq!(e.kind, ConfigErrorKind::UnknownKey);
        assert_eq!(e.key, "extra");
    }

    #[test]
    fn wrong_type_names_key_and_line() {
        let src = with("supported = true", r#"supported = "yes""#);
        let e = err(&src);
        assert_eq!(e.kind, ConfigErrorKind::BadValue);
        assert_eq!(e.key, "operation.supported");
        assert_eq!(e.line, Some(line_of(&src, "supported")));
        assert!(e.message.contains("expected a boolean"), "{e}");
    }

    #[test]
    fn out_of_range_coordinate_is_rejected() {
        let src = with("x = 10", "x = 70000");
        let e = err(&src);
        assert_eq!(e.kind, ConfigErrorKind::BadValue);
        assert_eq!(e.key, "operation.probe[0].x");
        assert_eq!(e.line, Some(line_of(&src, "x = 70000")));
    }

    #[test]
    fn missing_required_key_names_its_table() {
        let src = with(r#"exclusivity = "refuse""#, "");
        let e = err(&src);
        assert_eq!(e.kind, ConfigErrorKind::MissingKey);
        assert_eq!(e.key, "screen");
        assert_eq!(e.line, Some(line_of(&src, "[screen]")));
        assert!(e.message.contains(r#"missing field "exclusivity""#), "{e}");
    }

    #[test]
    fn missing_screen_table_is_reported() {
        let e = err("[operation]\nsupported = true\n");
        assert_eq!(e.kind, ConfigErrorKind::MissingKey);
        assert!(e.message.contains(r#""screen""#), "{e}");
    }

    #[test]
    fn syntax_error_gives_the_line() {
        let src = with("[operation]", "[operation");
        let e = err(&src);
        assert_eq!(e.kind, ConfigErrorKind::Syntax);
        assert_eq!(e.line, Some(line_of(&src, "[operation")));
    }

    #[test]
    fn bad_screen_scheme_is_rejected() {
        let src = with(
            "ws://127.0.0.1:5901/s3-01/v1/screen",
            "http://127.0.0.1:5901/s3-01/v1/screen",
        );
        let e = err(&src);
        assert_eq!(e.kind, ConfigErrorKind::Invalid);
        assert_eq!(e.key, "screen.url");
        assert_eq!(e.line, Some(line_of(&src, "url = ")));
        assert!(e.message.contains("ws://, wss://, rfb://"), "{e}");
    }

    #[test]
    fn screen_url_without_host_or_with_bad_port_is_rejected() {
        let e = err(&with("ws://127.0.0.1:5901/s3-01/v1/screen", "rfb://"));
        assert_eq!(e.key, "screen.url");
        assert!(e.message.contains("no host"), "{e}");
        let e = err(&with("ws://127.0.0.1:5901/", "ws://127.0.0.1:99999/"));
        assert!(e.message.contains("invalid port"), "{e}");
        let e = err(&with("ws://127.0.0.1:5901/s3-01/v1/screen", "not a url"));
        assert!(e.message.contains("not a URL"), "{e}");
    }

    #[test]
    fn rfb_and_ipv6_urls_are_accepted() {
        for url in ["rfb://10.0.0.5:5900", "wss://[::1]:443/x", "rfb://terminal"] {
            // wss:// needs a CA to verify the terminal against.
            let src =
                with("ws://127.0.0.1:5901/s3-01/v1/screen", url) + "\n[tls]\nca = \"ca.pem\"\n";
            assert!(Declaration::parse(&src, "t.toml").is_ok(), "{url}");
        }
    }

    #[test]
    fn bad_data_scheme_is_rejected() {
        let src = with("http://127.0.0.1:5901/s3-01/v1", "ftp://127.0.0.1/s3-01/v1");
        let e = err(&src);
        assert_eq!(e.key, "data.base_url");
        assert_eq!(e.line, Some(line_of(&src, "base_url")));
        assert!(e.message.contains("http://, https://"), "{e}");
    }

    #[test]
    fn click_probe_without_y_is_rejected_at_that_probe() {
        let src = with("y = 20\n", "");
        let e = err(&src);
        assert_eq!(e.key, "operation.probe[0]");
        assert_eq!(e.line, Some(line_of(&src, "[[operation.probe]]")));
        assert!(e.message.contains(r#"needs "y""#), "{e}");
    }

    #[test]
    fn second_probe_error_points_at_the_second_probe() {
        let src = with(r#"text = "abc""#, "");
        let e = err(&src);
        assert_eq!(e.key, "operation.probe[1]");
        let second = src
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains("[[operation.probe]]"))
            .nth(1)
            .map(|(i, _)| i + 1);
        assert_eq!(e.line, second);
        assert!(e.message.contains(r#"needs "text""#), "{e}");
    }

    #[test]
    fn type_probe_with_empty_text_is_rejected() {
        let e = err(&with(r#"text = "abc""#, r#"text = """#));
        assert_eq!(e.key, "operation.probe[1]");
        assert!(e.message.contains("non-empty"), "{e}");
    }

    #[test]
    fn move_probe_and_rest_points_parse_and_type_probes_take_no_rest_point() {
        let src = GOOD.replace(
            "[[operation.probe]]\nkind = \"click\"",
            "[[operation.probe]]\nkind = \"move\"\nfrom = [1, 2]",
        );
        let d = Declaration::parse(&src, "terminal.toml").unwrap();
        let p = &d.operation.probes[0];
        assert_eq!(p.kind(), ProbeKind::Move);
        assert_eq!((p.point(), p.from()), (Some((10, 20)), Some((1, 2))));
        let bad = GOOD.replace(
            "[[operation.probe]]\nkind = \"type\"",
            "[[operation.probe]]\nkind = \"type\"\nfrom = [1, 2]",
        );
        let e = err(&bad);
        assert!(e.message.contains(r#"takes no "from""#), "{e}");
    }

    #[test]
    fn probe_conversion_rejects_missing_fields_too() {
        let raw = RawProbe {
            kind: ProbeKind::Click,
            x: Some(1),
            y: None,
            text: None,
            prompt: None,
            from: None,
            watch: None,
        };
        assert_eq!(
            Probe::try_from(raw),
            Err("a click probe needs \"y\" (add it)".to_string())
        );
    }

    #[test]
    fn probe_with_fields_of_another_kind_is_rejected() {
        let e = err(&with(r#"text = "abc""#, "text = \"abc\"\nx = 3"));
        assert!(e.message.contains(r#"takes no "x""#), "{e}");
    }

    #[test]
    fn unknown_probe_kind_is_rejected() {
        let e = err(&with(r#"kind = "click""#, r#"kind = "tap""#));
        assert_eq!(e.kind, ConfigErrorKind::BadValue);
        assert!(e.message.contains(r#"unknown variant "tap""#), "{e}");
        assert_eq!(e.key, "operation.probe[0].kind");
    }

    #[test]
    fn empty_watch_region_is_rejected() {
        let src = with("watch = [0, 0, 64, 64]", "watch = [0, 0, 0, 64]");
        let e = err(&src);
        assert_eq!(e.kind, ConfigErrorKind::Invalid);
        assert_eq!(e.key, "operation.probe[0].watch");
        assert_eq!(e.line, Some(line_of(&src, "watch")));
        assert!(e.message.contains("empty"), "{e}");
    }

    #[test]
    fn empty_ignore_region_is_rejected() {
        let src = with(
            "ignore = [[0, 0, 100, 20]]",
            "ignore = [[0, 0, 100, 20], [5, 5, 3, 0]]",
        );
        let e = err(&src);
        assert_eq!(e.key, "screen.ignore[1]");
        assert_eq!(e.line, Some(line_of(&src, "ignore")));
    }

    #[test]
    fn region_past_coordinate_space_is_rejected() {
        let e = err(&with(
            "watch = [0, 0, 64, 64]",
            "watch = [65000, 0, 1000, 64]",
        ));
        assert!(e.message.contains("65535"), "{e}");
    }

    #[test]
    fn empty_password_env_is_rejected() {
        let src = with(
            r#"password_env = "S301_VNC_PASSWORD""#,
            r#"password_env = """#,
        );
        let e = err(&src);
        assert_eq!(e.key, "screen.password_env");
        assert_eq!(e.line, Some(line_of(&src, "password_env")));
        let e = err(&with(r#""S301_VNC_PASSWORD""#, r#""A=B""#));
        assert!(e.message.contains("not a valid"), "{e}");
    }

    #[test]
    fn bad_harness_listen_is_rejected() {
        let e = err(&with(
            r#"listen = "127.0.0.1:0""#,
            r#"listen = "localhost""#,
        ));
        assert_eq!(e.key, "harness.listen");
        assert!(e.message.contains("HOST:PORT"), "{e}");
    }

    #[test]
    fn redacted_keeps_password_env_and_drops_password_values() {
        let d = Declaration::parse(GOOD, "terminal.toml").unwrap();
        let v = d.redacted();
        assert_eq!(v["screen"]["password_env"], "S301_VNC_PASSWORD");
        let mut raw = serde_json::json!({"screen": {"password": "hunter2", "password_env": "X"}});
        strip_secrets(&mut raw);
        assert_eq!(raw, serde_json::json!({"screen": {"password_env": "X"}}));
    }

    #[test]
    fn load_resolves_a_relative_schema_beside_the_declaration() {
        let dir = std::env::temp_dir().join(format!("s301-decl-schema-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("terminal.toml");
        let src = with(
            "input = true",
            "input = true\nschema = \"dept.schema.json\"",
        );
        std::fs::write(&path, src).unwrap();
        let d = Declaration::load(&path).unwrap();
        assert_eq!(
            d.data.unwrap().schema,
            Some(dir.join("dept.schema.json").display().to_string())
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn load_reports_a_missing_file() {
        let e = Declaration::load(std::path::Path::new("/nonexistent/terminal.toml")).unwrap_err();
        assert_eq!(e.kind, ConfigErrorKind::Read);
        assert!(e
            .to_string()
            .starts_with("/nonexistent/terminal.toml: cannot read"));
    }

    #[test]
    fn wss_without_a_tls_ca_is_rejected_at_the_url() {
        let src = with("ws://127.0.0.1:5901", "wss://127.0.0.1:5901");
        let e = Declaration::parse(&src, "terminal.toml").unwrap_err();
        assert_eq!(e.key, "screen.url");
        assert!(e.message.contains("[tls] ca"), "{e}");
    }

    #[test]
    fn tls_client_cert_without_its_key_is_rejected() {
        let src = format!("{GOOD}\n[tls]\nca = \"ca.pem\"\nclient_cert = \"c.pem\"\n");
        let e = Declaration::parse(&src, "terminal.toml").unwrap_err();
        assert_eq!(e.key, "tls.client_cert");
        assert_eq!(e.line, Some(line_of(&src, "client_cert")));
        assert!(e.message.contains("tls.client_key"), "{e}");
    }

    #[test]
    fn load_names_the_key_and_file_of_a_bad_tls_pem() {
        let dir = std::env::temp_dir().join(format!("s301-decl-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca.pem"), "not a certificate\n").unwrap();
        let src = format!("{GOOD}\n[tls]\nca = \"ca.pem\"\n");
        let path = dir.join("terminal.toml");
        std::fs::write(&path, &src).unwrap();
        let e = Declaration::load(&path).unwrap_err();
        assert_eq!(e.key, "tls.ca");
        assert_eq!(e.line, Some(line_of(&src, "ca = ")));
        let ca = dir.join("ca.pem").display().to_string();
        assert!(e.message.contains(&ca), "the resolved file is named: {e}");
        assert!(e.message.contains("CERTIFICATE"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
