//! How a mock terminal is set up: where it listens, its exclusivity policy,
//! the faults it carries, the synthetic screen's size and its screen modes
//! (blinking text cursor, pointer-following pad, pointer sprite).

use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use crate::hostile::HostileData;
pub use crate::pointer::{PointerSprite, ScreenMode};

/// What the mock does when a second console arrives while one holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Exclusivity {
    /// The newcomer is refused while the holder stays.
    #[default]
    Refuse,
    /// The holder's connection is closed and the newcomer is served.
    Takeover,
}

impl Exclusivity {
    /// `"refuse"` or `"takeover"`, as written in a declaration.
    pub fn as_str(&self) -> &'static str {
        match self {
            Exclusivity::Refuse => "refuse",
            Exclusivity::Takeover => "takeover",
        }
    }
}

impl std::fmt::Display for Exclusivity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A policy name that is neither `refuse` nor `takeover`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown exclusivity policy {0:?} (expected \"refuse\" or \"takeover\")")]
pub struct UnknownExclusivity(pub String);

impl FromStr for Exclusivity {
    type Err = UnknownExclusivity;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "refuse" => Ok(Exclusivity::Refuse),
            "takeover" => Ok(Exclusivity::Takeover),
            other => Err(UnknownExclusivity(other.to_string())),
        }
    }
}

/// A deliberate defect the mock can carry, so that every check of the
/// catalogue has a terminal that must fail it.
///
/// The screen faults are implemented by the RFB side of the mock; the data
/// faults by its data API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// No exclusivity: every console is admitted and served at once.
    ShareScreen,
    /// A holder whose connection drops abruptly never releases the terminal.
    StuckLock,
    /// The lock answers a newcomer by the console it answered last, not by
    /// the holder: a console that was already connecting when another one
    /// was refused (or displaced) is let in beside the holder. Shows only
    /// with three or more consoles at once.
    StaleLockCheck,
    /// Pointer and key events are read and thrown away.
    IgnoreInput,
    /// A console that lost (or never got) the terminal still has its input
    /// applied for half a second.
    InputFromDisplaced,
    /// Answers to full requests carry a rectangle reaching past the right edge.
    RectOutOfBounds,
    /// SetEncodings is ignored; every rectangle is sent as Hextile.
    UnrequestedEncoding,
    /// Incremental answers leave out the bottom of each changed rectangle.
    StaleIncremental,
    /// A session served for longer than [`MockConfig::stall_after`] stops
    /// answering update requests; its connection stays open and its input
    /// is still read, like a terminal whose encoder hung.
    StallAfter,
    /// Data: reports are never pushed.
    NoPush,
    /// Data: pushed reports break the schema.
    BadSchema,
    /// Data: a refused push is not retried.
    NoRetry,
    /// Data: dispatch input is acknowledged but never shown.
    IgnoreDispatch,
    /// Data: a malformed dispatch status is acknowledged (204) instead of refused.
    AcceptMalformedDispatch,
    /// Data: a request returns an older revision.
    StaleGet,
    /// Data: concurrent requests take seconds.
    SlowBurst,
    /// Data: an unknown report id answers 200.
    Unknown200,
}

impl Fault {
    /// Every fault, screen faults first.
    pub const ALL: &'static [Fault] = &[
        Fault::ShareScreen,
        Fault::StuckLock,
        Fault::StaleLockCheck,
        Fault::IgnoreInput,
        Fault::InputFromDisplaced,
        Fault::RectOutOfBounds,
        Fault::UnrequestedEncoding,
        Fault::StaleIncremental,
        Fault::StallAfter,
        Fault::NoPush,
        Fault::BadSchema,
        Fault::NoRetry,
        Fault::IgnoreDispatch,
        Fault::AcceptMalformedDispatch,
        Fault::StaleGet,
        Fault::SlowBurst,
        Fault::Unknown200,
    ];

    /// The fault's command-line name, e.g. `"share-screen"`.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::ShareScreen => "share-screen",
            Fault::StuckLock => "stuck-lock",
            Fault::StaleLockCheck => "stale-lock-check",
            Fault::IgnoreInput => "ignore-input",
            Fault::InputFromDisplaced => "input-from-displaced",
            Fault::RectOutOfBounds => "rect-out-of-bounds",
            Fault::UnrequestedEncoding => "unrequested-encoding",
            Fault::StaleIncremental => "stale-incremental",
            Fault::StallAfter => "stall-after",
            Fault::NoPush => "no-push",
            Fault::BadSchema => "bad-schema",
            Fault::NoRetry => "no-retry",
            Fault::IgnoreDispatch => "ignore-dispatch",
            Fault::AcceptMalformedDispatch => "accept-malformed-dispatch",
            Fault::StaleGet => "stale-get",
            Fault::SlowBurst => "slow-burst",
            Fault::Unknown200 => "unknown-200",
        }
    }

    /// The fault named `s`, if there is one.
    pub fn parse(s: &str) -> Option<Fault> {
        Fault::ALL.iter().copied().find(|f| f.name() == s)
    }

    /// Whether the fault concerns the screen channel (else the data channel).
    pub fn is_screen(&self) -> bool {
        matches!(
            self,
            Fault::ShareScreen
                | Fault::StuckLock
                | Fault::StaleLockCheck
                | Fault::IgnoreInput
                | Fault::InputFromDisplaced
                | Fault::RectOutOfBounds
                | Fault::UnrequestedEncoding
                | Fault::StaleIncremental
                | Fault::StallAfter
        )
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A fault name the mock does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fault {0:?}")]
pub struct UnknownFault(pub String);

impl FromStr for Fault {
    type Err = UnknownFault;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Fault::parse(s).ok_or_else(|| UnknownFault(s.to_string()))
    }
}

/// Everything a mock terminal needs to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockConfig {
    /// HTTP listener: the WebSocket screen and the data API (default `127.0.0.1:0`).
    pub listen: SocketAddr,
    /// Optional listener for RFB straight over TCP (`rfb://`).
    pub rfb_listen: Option<SocketAddr>,
    /// What happens to a second console.
    pub exclusivity: Exclusivity,
    /// Faults to carry.
    pub faults: Vec<Fault>,
    /// How long after its arrival each input event is applied to the screen.
    pub input_delay: Duration,
    /// With fault `stall-after`: how long a session is served before it
    /// stops answering update requests (default 1 s).
    pub stall_after: Duration,
    /// A hostile data side (default `None`): pushes that are hostile instead
    /// of reports, or hostile answers to GETs of reports. Plain HTTP only.
    pub hostile_data: Option<HostileData>,
    /// Screen width (default 1024).
    pub width: u16,
    /// Screen height (default 768).
    pub height: u16,
    /// When set, consoles must pass VNC Authentication with this password.
    pub password: Option<String>,
    /// Full URL of the harness's reports endpoint, where reports are pushed.
    pub push_to: Option<String>,
    /// Serve TLS (`wss://`, `https://`) with a PKI generated at start;
    /// `None` (the default) serves plaintext.
    pub tls: Option<crate::tls::TlsMode>,
    /// A text cursor that blinks: a cell of the text panel where the next
    /// character goes toggles every [`crate::desktop::BLINK_PERIOD`] with no
    /// input, so consoles see incremental updates nobody asked for by
    /// typing (default off).
    pub blink: bool,
    /// What the click pad shows (default [`ScreenMode::Counter`]).
    pub screen_mode: ScreenMode,
    /// Where the pointer rests when the mock starts. `None` (the default)
    /// is [`crate::Layout::click_point`]: the pointer already at the click
    /// probe's point. Matters only with [`ScreenMode::PointerFollow`] or a
    /// pointer sprite.
    pub pointer_start: Option<(u16, u16)>,
    /// Whether the mock draws a pointer sprite (default [`PointerSprite::Off`]).
    pub pointer_sprite: PointerSprite,
    /// Answer a full request with the pointer's shape alone when a shape is
    /// due (a console that asked for the Cursor pseudo-encoding and has not
    /// had it yet), the image following only on the next request. TigerVNC
    /// does this: the answer to a console's first full request can be one
    /// Cursor rectangle. Default off.
    pub shape_first: bool,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            rfb_listen: None,
            exclusivity: Exclusivity::Refuse,
            faults: Vec::new(),
            input_delay: Duration::ZERO,
            stall_after: Duration::from_secs(1),
            hostile_data: None,
            width: 1024,
            height: 768,
            password: None,
            push_to: None,
            tls: None,
            blink: false,
            screen_mode: ScreenMode::Counter,
            pointer_start: None,
            pointer_sprite: PointerSprite::Off,
            shape_first: false,
        }
    }
}

impl MockConfig {
    /// Smallest screen the synthetic desktop lays out on.
    pub const MIN_WIDTH: u16 = 160;
    /// Smallest screen height.
    pub const MIN_HEIGHT: u16 = 240;
    /// Longest input delay accepted.
    pub const MAX_INPUT_DELAY: Duration = Duration::from_secs(60);

    /// Whether `fault` is configured.
    pub fn has(&self, fault: Fault) -> bool {
        self.faults.contains(&fault)
    }

    /// Checks the settings the mock cannot work with (a screen too small for
    /// its layout or beyond the RFB limits, an input delay over a minute).
    pub fn validate(&self) -> Result<(), String> {
        if self.input_delay > Self::MAX_INPUT_DELAY {
            return Err(format!(
                "input delay {:?} is longer than {:?}",
                self.input_delay,
                Self::MAX_INPUT_DELAY
            ));
        }
        if self.width < Self::MIN_WIDTH || self.height < Self::MIN_HEIGHT {
            return Err(format!(
                "screen {}x{} is smaller than the mock's minimum {}x{}",
                self.width,
                self.height,
                Self::MIN_WIDTH,
                Self::MIN_HEIGHT
            ));
        }
        match self.hostile_data {
            // Hostile answers are written on the raw socket, hostile pushes
            // sent over plain TCP: neither speaks TLS.
            Some(HostileData::Answer(a)) if self.tls.is_some() => {
                return Err(format!(
                    "hostile data {a:?} is served over plain HTTP only, not with TLS",
                    a = a.name()
                ));
            }
            Some(HostileData::Push(p))
                if self
                    .push_to
                    .as_deref()
                    .is_some_and(|u| !u.starts_with("http://")) =>
            {
                return Err(format!(
                    "hostile data {p:?} is pushed over plain HTTP only: push_to must start with http://",
                    p = p.name()
                ));
            }
            _ => {}
        }
        if let Some((x, y)) = self.pointer_start {
            if x >= self.width || y >= self.height {
                return Err(format!(
                    "pointer start ({x}, {y}) is outside the {}x{} screen",
                    self.width, self.height
                ));
            }
        }
        s301_rfb::Limits::DEFAULT
            .check_screen(self.width, self.height)
            .map_err(|e| format!("screen size: {e}"))
    }

    /// Whether pointer motion matters: the pad follows it or a sprite shows it.
    pub fn tracks_pointer(&self) -> bool {
        self.screen_mode == ScreenMode::PointerFollow || self.pointer_sprite != PointerSprite::Off
    }

    /// The hostile answer to serve to GETs of reports, if any.
    pub fn hostile_answer(&self) -> Option<crate::hostile::HostileAnswer> {
        match self.hostile_data {
            Some(HostileData::Answer(a)) => Some(a),
            _ => None,
        }
    }

    /// The hostile push to send instead of each report, if any.
    pub fn hostile_push(&self) -> Option<crate::hostile::HostilePush> {
        match self.hostile_data {
            Some(HostileData::Push(p)) => Some(p),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_name_round_trips_and_is_unique() {
        let mut names: Vec<&str> = Fault::ALL.iter().map(Fault::name).collect();
        for f in Fault::ALL {
            assert_eq!(Fault::parse(f.name()), Some(*f));
            assert_eq!(f.name().parse::<Fault>(), Ok(*f));
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Fault::ALL.len());
        assert_eq!(Fault::parse("no-such-fault"), None);
    }

    #[test]
    fn exactly_nine_faults_are_screen_faults() {
        let screen: Vec<_> = Fault::ALL.iter().filter(|f| f.is_screen()).collect();
        assert_eq!(screen.len(), 9);
        assert!(Fault::StaleLockCheck.is_screen());
        assert!(!Fault::Unknown200.is_screen());
        assert!(Fault::StaleIncremental.is_screen());
        assert!(Fault::StallAfter.is_screen());
    }

    #[test]
    fn hostile_data_is_plain_http_only() {
        use crate::hostile::{HostileAnswer, HostilePush};
        let answer = MockConfig {
            hostile_data: Some(HostileData::Answer(HostileAnswer::WrongContentType)),
            ..MockConfig::default()
        };
        assert!(answer.validate().is_ok());
        assert_eq!(
            answer.hostile_answer(),
            Some(HostileAnswer::WrongContentType)
        );
        assert_eq!(answer.hostile_push(), None);
        let over_tls = MockConfig {
            tls: Some(crate::tls::TlsMode::default()),
            ..answer
        };
        assert!(over_tls
            .validate()
            .expect_err("TLS refused")
            .contains("plain HTTP"));
        let push = MockConfig {
            hostile_data: Some(HostileData::Push(HostilePush::Slowloris)),
            push_to: Some("https://127.0.0.1:1/s3-01/v1/reports".into()),
            ..MockConfig::default()
        };
        assert!(push
            .validate()
            .expect_err("https refused")
            .contains("slowloris-push"));
        let plain = MockConfig {
            push_to: Some("http://127.0.0.1:1/s3-01/v1/reports".into()),
            ..push
        };
        assert!(plain.validate().is_ok());
        assert_eq!(plain.hostile_push(), Some(HostilePush::Slowloris));
        assert_eq!(MockConfig::default().hostile_data, None);
    }

    #[test]
    fn exclusivity_parses_only_the_two_policies() {
        assert_eq!("refuse".parse(), Ok(Exclusivity::Refuse));
        assert_eq!("takeover".parse(), Ok(Exclusivity::Takeover));
        assert!("Refuse".parse::<Exclusivity>().is_err());
        assert_eq!(Exclusivity::Takeover.to_string(), "takeover");
    }

    #[test]
    fn default_config_is_a_conforming_1024x768_terminal() {
        let c = MockConfig::default();
        assert_eq!((c.width, c.height), (1024, 768));
        assert_eq!(c.listen.port(), 0);
        assert!(c.faults.is_empty());
        assert!(c.validate().is_ok());
    }

    #[test]
    fn screen_modes_default_off_and_a_pointer_start_must_be_on_screen() {
        let c = MockConfig::default();
        assert!(!c.blink && !c.tracks_pointer());
        assert_eq!(c.screen_mode, ScreenMode::Counter);
        assert_eq!(c.pointer_sprite, PointerSprite::Off);
        let follow = MockConfig {
            screen_mode: ScreenMode::PointerFollow,
            pointer_start: Some((1023, 767)),
            ..MockConfig::default()
        };
        assert!(follow.tracks_pointer() && follow.validate().is_ok());
        let off = MockConfig {
            pointer_start: Some((1024, 0)),
            ..follow
        };
        assert!(off
            .validate()
            .expect_err("off screen")
            .contains("(1024, 0)"));
    }

    #[test]
    fn validate_rejects_tiny_and_oversized_screens() {
        let tiny = MockConfig {
            width: 100,
            ..MockConfig::default()
        };
        assert!(tiny.validate().is_err());
        let huge = MockConfig {
            width: 16384,
            height: 16384,
            ..MockConfig::default()
        };
        assert!(huge.validate().is_err());
        let slow = MockConfig {
            input_delay: Duration::from_secs(3600),
            ..MockConfig::default()
        };
        assert!(slow.validate().is_err());
    }
}
