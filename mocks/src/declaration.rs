//! The terminal declaration (TOML) the mock writes about itself, with
//! operation probes that land in the desktop's text panel and click pad.

use s301_rfb::Rect;

use crate::config::Exclusivity;
use crate::desktop::Layout;

/// What the declaration is built from.
#[derive(Debug, Clone)]
pub struct DeclInput {
    /// `ws://...` or `rfb://...`.
    pub screen_url: String,
    /// The mock's policy.
    pub exclusivity: Exclusivity,
    /// Environment variable holding the password, when there is one.
    pub password_env: Option<String>,
    /// Desktop layout (probe targets).
    pub layout: Layout,
    /// `http://ADDR/s3-01/v1`.
    pub data_base_url: String,
}

/// The text the type probe types.
pub const TYPE_PROBE_TEXT: &str = "S301";

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn rect(r: Rect) -> String {
    format!("[{}, {}, {}, {}]", r.x, r.y, r.w, r.h)
}

/// Renders the declaration; `harness_listen` fills `[harness] listen`.
pub fn render(d: &DeclInput, harness_listen: Option<&str>) -> String {
    let (cx, cy) = d.layout.click_point();
    let mut s = String::new();
    s.push_str("# Terminal declaration of the s301 mock terminal (generated).\n\n");
    s.push_str("[terminal]\n");
    s.push_str("vendor = \"s301\"\n");
    s.push_str("service = \"mock\"\n");
    s.push_str("model = \"mock-terminal\"\n");
    s.push_str(&format!(
        "version = {}\n\n",
        quote(env!("CARGO_PKG_VERSION"))
    ));
    s.push_str("[screen]\n");
    s.push_str(&format!("url = {}\n", quote(&d.screen_url)));
    s.push_str(&format!(
        "exclusivity = {}\n",
        quote(d.exclusivity.as_str())
    ));
    if let Some(env) = &d.password_env {
        s.push_str(&format!("password_env = {}\n", quote(env)));
    }
    s.push_str("\n[operation]\nsupported = true\n\n");
    s.push_str("# A click in the pad draws a marker and bumps the click counter (with\n");
    s.push_str("# --screen-mode pointer-follow, the crosshair follows the pointer there).\n");
    s.push_str("[[operation.probe]]\nkind = \"click\"\n");
    s.push_str(&format!(
        "x = {cx}\ny = {cy}\nwatch = {}\n\n",
        rect(d.layout.pad)
    ));
    s.push_str("# Typed text appears in the text panel and bumps the key counter.\n");
    s.push_str("[[operation.probe]]\nkind = \"type\"\n");
    s.push_str(&format!(
        "text = {}\nwatch = {}\n\n",
        quote(TYPE_PROBE_TEXT),
        rect(d.layout.text)
    ));
    s.push_str("[data]\n");
    s.push_str(&format!("base_url = {}\n", quote(&d.data_base_url)));
    s.push_str("output = true\ninput = true\nrevisions = true\ntrigger = \"hook\"\n");
    if let Some(listen) = harness_listen {
        s.push_str(&format!("\n[harness]\nlisten = {}\n", quote(listen)));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> DeclInput {
        DeclInput {
            screen_url: "ws://127.0.0.1:9/s3-01/v1/screen".into(),
            exclusivity: Exclusivity::Takeover,
            password_env: None,
            layout: Layout::for_screen(1024, 768),
            data_base_url: "http://127.0.0.1:9/s3-01/v1".into(),
        }
    }

    #[test]
    fn declaration_names_the_screen_probes_and_data() {
        let t = render(&input(), Some("127.0.0.1:7000"));
        assert!(t.contains("url = \"ws://127.0.0.1:9/s3-01/v1/screen\""));
        assert!(t.contains("exclusivity = \"takeover\""));
        assert!(t.contains("kind = \"click\"\nx = 512\ny = 498\nwatch = [32, 256, 960, 464]"));
        assert!(t.contains("kind = \"type\"\ntext = \"S301\"\nwatch = [32, 48, 960, 192]"));
        assert!(t.contains("base_url = \"http://127.0.0.1:9/s3-01/v1\""));
        assert!(t.contains("trigger = \"hook\""));
        assert!(t.contains("[harness]\nlisten = \"127.0.0.1:7000\""));
        assert!(!t.contains("password_env"));
    }

    #[test]
    fn harness_section_is_left_out_without_listen_and_password_env_shown() {
        let mut i = input();
        i.password_env = Some("PW".into());
        let t = render(&i, None);
        assert!(!t.contains("[harness]"));
        assert!(t.contains("password_env = \"PW\""));
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(quote("\u{1}"), "\"\\u0001\"");
    }
}
