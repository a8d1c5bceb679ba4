//! Scenarios: the durations, counts and bounds a run uses. Data files live in
//! `scenarios/`; the default one is embedded.

use serde::{Deserialize, Serialize};

use crate::config::declaration::{parse_doc, read_config, ConfigError, Doc};

/// The default scenario's text (`scenarios/default.toml`), embedded.
pub const DEFAULT_SCENARIO_TOML: &str = include_str!("../../../scenarios/default.toml");

/// The scenarios compiled into the binary, by name: `--scenario NAME` picks
/// one without the repository checked out. Each is the file
/// `scenarios/NAME.toml` as it was at build time.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("default", DEFAULT_SCENARIO_TOML),
    ("ci", include_str!("../../../scenarios/ci.toml")),
    (
        "acceptance",
        include_str!("../../../scenarios/acceptance.toml"),
    ),
    ("witness", include_str!("../../../scenarios/witness.toml")),
];

/// The error for a `--scenario` word that names no built-in scenario.
fn unknown_built_in(name: &str) -> ConfigError {
    ConfigError {
        origin: "--scenario".to_string(),
        line: None,
        column: None,
        key: String::new(),
        kind: crate::config::declaration::ConfigErrorKind::Invalid,
        message: format!(
            "no built-in scenario is named {name:?}: use one of {} or the path of a .toml file",
            BUILT_IN
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Where a scenario comes from: a file, or a scenario built in by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScenarioSource {
    /// A TOML file.
    File(std::path::PathBuf),
    /// One of [`BUILT_IN`], by name.
    BuiltIn(&'static str),
}

impl ScenarioSource {
    /// Reads a `--scenario` value. A bare word (no path separator, no
    /// `.toml`) names a built-in scenario, and an unknown one is an error
    /// listing those that exist; anything else is a file path.
    pub fn from_arg(arg: &std::path::Path) -> Result<ScenarioSource, ConfigError> {
        let s = arg.to_string_lossy();
        let bare = arg.components().count() == 1
            && arg.extension().is_none()
            && !s.contains(std::path::MAIN_SEPARATOR)
            && !s.contains('/');
        if !bare {
            return Ok(ScenarioSource::File(arg.to_path_buf()));
        }
        match BUILT_IN.iter().find(|(name, _)| *name == s) {
            Some((name, _)) => Ok(ScenarioSource::BuiltIn(name)),
            None => Err(unknown_built_in(&s)),
        }
    }

    /// The file, when the scenario comes from one.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            ScenarioSource::File(p) => Some(p),
            ScenarioSource::BuiltIn(_) => None,
        }
    }

    /// How errors and the record name it: the path, or `NAME (built in)`.
    pub fn describe(&self) -> String {
        match self {
            ScenarioSource::File(p) => p.display().to_string(),
            ScenarioSource::BuiltIn(n) => format!("{n} (built in)"),
        }
    }

    /// Reads the scenario.
    pub fn load(&self) -> Result<Scenario, ConfigError> {
        match self {
            ScenarioSource::File(p) => Scenario::load(p),
            ScenarioSource::BuiltIn(name) => Scenario::built_in(name),
        }
    }
}

/// Screen-channel settings (all times in milliseconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScreenScenario {
    /// Transport connect plus handshake.
    pub connect_timeout_ms: u64,
    /// A full or incremental update must arrive within this.
    pub update_timeout_ms: u64,
    /// A newcomer must be refused / a holder closed within this (EX-01, EX-02).
    pub exclusivity_timeout_ms: u64,
    /// The screen counts as quiet after this long without updates (ST-03).
    pub quiet_ms: u64,
    /// ST-04 duration.
    pub sustain_ms: u64,
    /// ST-04: gap between incremental requests.
    pub sustain_interval_ms: u64,
    /// EX-03 trial count.
    pub contention_trials: u32,
    /// EX-03: largest arrival offset between the two consoles.
    pub contention_max_offset_ms: u64,
    /// EX-03: longest a console stays.
    pub contention_max_hold_ms: u64,
    /// EX-03: how long a trial may take before it is judged.
    pub contention_trial_timeout_ms: u64,
    /// Largest screen (width x height, in pixels) a terminal may announce
    /// in ServerInit or DesktopSize; ST-01 fails above it. Bounds the
    /// harness's memory: each console's framebuffer is 4 bytes a pixel.
    pub max_pixels: u64,
    /// EX-04: consoles in each storm ([`MIN_STORM_CONSOLES`] to
    /// [`MAX_STORM_CONSOLES`]); never more connections than this at once.
    pub storm_consoles: u32,
    /// EX-04: the seeded bursts of the second storm arrive within this.
    pub storm_window_ms: u64,
    /// EX-04: longest a served console holds before it leaves (some stay
    /// until the storm is over).
    pub storm_max_hold_ms: u64,
}

/// The default of `[screen] max_pixels`: 4096x4096 (16 Mpixel, a 64 MiB
/// framebuffer), above any single display a dedicated terminal drives
/// (3840x2160 is 8.3 Mpixel).
pub const DEFAULT_MAX_PIXELS: u64 = 4096 * 4096;

impl Default for ScreenScenario {
    fn default() -> Self {
        ScreenScenario {
            connect_timeout_ms: 5000,
            update_timeout_ms: 5000,
            exclusivity_timeout_ms: 3000,
            quiet_ms: 300,
            sustain_ms: 3000,
            sustain_interval_ms: 50,
            contention_trials: 20,
            contention_max_offset_ms: 30,
            contention_max_hold_ms: 60,
            contention_trial_timeout_ms: 3000,
            max_pixels: DEFAULT_MAX_PIXELS,
            storm_consoles: 8,
            storm_window_ms: 300,
            storm_max_hold_ms: 200,
        }
    }
}

/// Operation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OperationScenario {
    /// Input must visibly change the screen within this (OP-01, OP-02).
    pub change_timeout_ms: u64,
    /// Before every stimulus, the watched region is observed this long with
    /// no input: what changes meanwhile changes on its own and never counts
    /// as a reaction (ST-03, OP-01..OP-04).
    pub control_ms: u64,
    /// OP-03: how long to watch for an input wrongly applied.
    pub unserved_watch_ms: u64,
    /// OP-04 probe count.
    pub latency_samples: u32,
    /// OP-04 bound on the median.
    pub latency_p50_ms: u64,
    /// OP-04 bound on the 95th percentile.
    pub latency_p95_ms: u64,
}

impl Default for OperationScenario {
    fn default() -> Self {
        OperationScenario {
            change_timeout_ms: 3000,
            control_ms: 1000,
            unserved_watch_ms: 500,
            latency_samples: 20,
            latency_p50_ms: 500,
            latency_p95_ms: 1000,
        }
    }
}

/// Data-channel settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataScenario {
    /// A push must arrive within this after the trigger.
    pub push_timeout_ms: u64,
    /// A manual trigger waits this long for the operator.
    pub manual_timeout_ms: u64,
    /// Each request must be answered within this.
    pub request_timeout_ms: u64,
    /// DR-02: how many requests at random moments.
    pub random_requests: u32,
    /// DR-02: concurrent requests in a burst (at least 20).
    pub burst: u32,
    /// DR-02: window over which the random moments are spread.
    pub window_ms: u64,
}

impl Default for DataScenario {
    fn default() -> Self {
        DataScenario {
            push_timeout_ms: 5000,
            manual_timeout_ms: 300_000,
            request_timeout_ms: 2000,
            random_requests: 30,
            burst: 20,
            window_ms: 2000,
        }
    }
}

/// A scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Name, echoed in reports.
    pub name: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// `[screen]`.
    #[serde(default)]
    pub screen: ScreenScenario,
    /// `[operation]`.
    #[serde(default)]
    pub operation: OperationScenario,
    /// `[data]`.
    #[serde(default)]
    pub data: DataScenario,
    /// `[[witness]]`: manual confirmation steps (see [`crate::sinks::witness`]).
    #[serde(default)]
    pub witness: Vec<crate::config::witness::WitnessStep>,
}

impl Scenario {
    /// Reads a scenario from TOML text. `origin` names the file in errors.
    ///
    /// Besides the structure, it checks that durations and counts are usable
    /// (no zero timeouts, a burst of at least 20, p50 bound within p95 ...),
    /// naming the key and line of the first problem.
    pub fn parse(src: &str, origin: &str) -> Result<Scenario, ConfigError> {
        let (sc, doc) = parse_doc::<Scenario>(src, origin)?;
        sc.validate(&doc)?;
        Ok(sc)
    }

    /// Reads and parses the scenario file at `path`.
    pub fn load(path: &std::path::Path) -> Result<Scenario, ConfigError> {
        let origin = path.display().to_string();
        let src = read_config(path)?;
        Scenario::parse(&src, &origin)
    }

    /// The default scenario shipped in `scenarios/default.toml`.
    ///
    /// The file is embedded at build time and covered by a test, so this
    /// only fails if the build embeds a broken file; the error says so.
    pub fn default_embedded() -> Result<Scenario, ConfigError> {
        Scenario::parse(DEFAULT_SCENARIO_TOML, "scenarios/default.toml (embedded)")
    }

    /// The built-in scenario `name` (see [`BUILT_IN`]). Each is covered by
    /// a test, so only a build that embeds a broken file fails here.
    pub fn built_in(name: &str) -> Result<Scenario, ConfigError> {
        let Some((n, src)) = BUILT_IN.iter().find(|(n, _)| *n == name) else {
            return Err(unknown_built_in(name));
        };
        Scenario::parse(src, &format!("scenarios/{n}.toml (built in)"))
    }

    fn validate(&self, doc: &Doc<'_>) -> Result<(), ConfigError> {
        if self.name.trim().is_empty() {
            return Err(doc.error_at("name", "must not be empty (it names the run's scenario)"));
        }
        // (key, value, least allowed): a zero timeout or window is a mistake;
        // a zero arrival offset or hold time is a legitimate choice.
        let durations: [(&str, u64, u64); 20] = [
            (
                "screen.connect_timeout_ms",
                self.screen.connect_timeout_ms,
                1,
            ),
            ("screen.update_timeout_ms", self.screen.update_timeout_ms, 1),
            (
                "screen.exclusivity_timeout_ms",
                self.screen.exclusivity_timeout_ms,
                1,
            ),
            ("screen.quiet_ms", self.screen.quiet_ms, 1),
            ("screen.sustain_ms", self.screen.sustain_ms, 1),
            (
                "screen.sustain_interval_ms",
                self.screen.sustain_interval_ms,
                1,
            ),
            (
                "screen.contention_max_offset_ms",
                self.screen.contention_max_offset_ms,
                0,
            ),
            (
                "screen.contention_max_hold_ms",
                self.screen.contention_max_hold_ms,
                0,
            ),
            (
                "screen.contention_trial_timeout_ms",
                self.screen.contention_trial_timeout_ms,
                1,
            ),
            ("screen.storm_window_ms", self.screen.storm_window_ms, 0),
            ("screen.storm_max_hold_ms", self.screen.storm_max_hold_ms, 0),
            (
                "operation.change_timeout_ms",
                self.operation.change_timeout_ms,
                1,
            ),
            ("operation.control_ms", self.operation.control_ms, 1),
            (
                "operation.unserved_watch_ms",
                self.operation.unserved_watch_ms,
                1,
            ),
            ("operation.latency_p50_ms", self.operation.latency_p50_ms, 1),
            ("operation.latency_p95_ms", self.operation.latency_p95_ms, 1),
            ("data.push_timeout_ms", self.data.push_timeout_ms, 1),
            ("data.manual_timeout_ms", self.data.manual_timeout_ms, 1),
            ("data.request_timeout_ms", self.data.request_timeout_ms, 1),
            ("data.window_ms", self.data.window_ms, 1),
        ];
        for (key, v, min) in durations {
            if v < min {
                return Err(doc.error_at(key, "must be greater than 0"));
            }
            if v > MAX_SCENARIO_MS {
                return Err(doc.error_at(
                    key,
                    format!("{v} ms is more than a day; at most {MAX_SCENARIO_MS} ms"),
                ));
            }
        }
        let counts: [(&str, u32, u32); 4] = [
            ("screen.contention_trials", self.screen.contention_trials, 1),
            (
                "operation.latency_samples",
                self.operation.latency_samples,
                1,
            ),
            ("data.random_requests", self.data.random_requests, 1),
            ("data.burst", self.data.burst, MIN_BURST),
        ];
        for (key, v, min) in counts {
            if v < min {
                return Err(doc.error_at(key, format!("must be at least {min}")));
            }
            if v > MAX_COUNT {
                return Err(doc.error_at(key, format!("{v} is too many; at most {MAX_COUNT}")));
            }
        }
        let codec_max = s301_rfb::Limits::DEFAULT.max_pixels;
        if self.screen.max_pixels == 0 || self.screen.max_pixels > codec_max {
            return Err(doc.error_at(
                "screen.max_pixels",
                format!(
                    "{} is out of range: between 1 and {codec_max} (the codec's own bound, 8192x8192)",
                    self.screen.max_pixels
                ),
            ));
        }
        let storm = self.screen.storm_consoles;
        if !(MIN_STORM_CONSOLES..=MAX_STORM_CONSOLES).contains(&storm) {
            return Err(doc.error_at(
                "screen.storm_consoles",
                format!(
                    "{storm} consoles: a storm has {MIN_STORM_CONSOLES} to {MAX_STORM_CONSOLES} (two are EX-03's contention trials)"
                ),
            ));
        }
        if let Err((key, message)) = crate::config::witness::validate(&self.witness) {
            return Err(doc.error_at(&key, message));
        }
        if self.operation.latency_p50_ms > self.operation.latency_p95_ms {
            return Err(doc.error_at(
                "operation.latency_p50_ms",
                format!(
                    "the median bound ({} ms) exceeds the 95th percentile bound ({} ms)",
                    self.operation.latency_p50_ms, self.operation.latency_p95_ms
                ),
            ));
        }
        Ok(())
    }
}

/// Longest duration a scenario may set (one day): larger values are typos.
pub const MAX_SCENARIO_MS: u64 = 86_400_000;

/// Largest trial, sample or request count a scenario may set.
pub const MAX_COUNT: u32 = 100_000;

/// DR-02 fires at least this many concurrent requests in a burst.
pub const MIN_BURST: u32 = 20;

/// EX-04: fewest consoles in a storm.
pub const MIN_STORM_CONSOLES: u32 = 3;

/// EX-04: most consoles in a storm (and so most connections at once).
pub const MAX_STORM_CONSOLES: u32 = 64;

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    #[test]
    fn every_built_in_scenario_parses_and_names_itself() {
        for (name, _) in super::BUILT_IN {
            let sc = super::Scenario::built_in(name).unwrap();
            assert_eq!(&sc.name, name);
        }
        let w = super::ScenarioSource::from_arg(std::path::Path::new("witness")).unwrap();
        assert_eq!(w, super::ScenarioSource::BuiltIn("witness"));
        assert_eq!(w.load().unwrap().witness.len(), 5);
        let f = super::ScenarioSource::from_arg(std::path::Path::new("scenarios/ci.toml")).unwrap();
        assert!(f.path().is_some());
        let e = super::ScenarioSource::from_arg(std::path::Path::new("witnes")).unwrap_err();
        assert!(
            e.to_string().contains("default, ci, acceptance, witness"),
            "{e}"
        );
    }

    use super::*;
    use crate::config::declaration::ConfigErrorKind;

    #[test]
    fn embedded_default_parses_and_matches_the_code_defaults() {
        let sc = Scenario::default_embedded().unwrap();
        assert_eq!(sc.name, "default");
        assert_eq!(sc.screen, ScreenScenario::default());
        assert_eq!(sc.operation, OperationScenario::default());
        assert_eq!(sc.data, DataScenario::default());
    }

    #[test]
    fn shipped_ci_scenario_parses() {
        let src = include_str!("../../../scenarios/ci.toml");
        let sc = Scenario::parse(src, "scenarios/ci.toml").unwrap();
        assert_eq!(sc.name, "ci");
        assert!(sc.screen.sustain_ms < ScreenScenario::default().sustain_ms);
    }

    #[test]
    fn minimal_scenario_takes_defaults() {
        let sc = Scenario::parse("name = \"x\"\n", "s.toml").unwrap();
        assert_eq!(sc.screen, ScreenScenario::default());
    }

    #[test]
    fn unknown_key_names_section_and_line() {
        let e = Scenario::parse("name = \"x\"\n[screen]\nsustain = 5\n", "s.toml").unwrap_err();
        assert_eq!(e.kind, ConfigErrorKind::UnknownKey);
        assert_eq!(e.key, "screen.sustain");
        assert_eq!(e.line, Some(3));
    }

    #[test]
    fn wrong_type_is_rejected() {
        let e = Scenario::parse("name = \"x\"\n[data]\nburst = \"many\"\n", "s.toml").unwrap_err();
        assert_eq!(e.kind, ConfigErrorKind::BadValue);
        assert_eq!(e.key, "data.burst");
        assert_eq!(e.line, Some(3));
    }

    #[test]
    fn missing_name_is_rejected() {
        let e = Scenario::parse("[screen]\nquiet_ms = 5\n", "s.toml").unwrap_err();
        assert_eq!(e.kind, ConfigErrorKind::MissingKey);
    }

    #[test]
    fn zero_timeout_is_rejected() {
        let e = Scenario::parse(
            "name = \"x\"\n\n[operation]\nchange_timeout_ms = 0\n",
            "s.toml",
        )
        .unwrap_err();
        assert_eq!(e.kind, ConfigErrorKind::Invalid);
        assert_eq!(e.key, "operation.change_timeout_ms");
        assert_eq!(e.line, Some(4));
    }

    #[test]
    fn small_burst_is_rejected() {
        let e = Scenario::parse("name = \"x\"\n[data]\nburst = 5\n", "s.toml").unwrap_err();
        assert_eq!(e.key, "data.burst");
        assert!(e.message.contains("at least 20"), "{e}");
    }

    #[test]
    fn inverted_latency_bounds_are_rejected() {
        let e = Scenario::parse(
            "name = \"x\"\n[operation]\nlatency_p50_ms = 900\nlatency_p95_ms = 100\n",
            "s.toml",
        )
        .unwrap_err();
        assert_eq!(e.key, "operation.latency_p50_ms");
        assert_eq!(e.line, Some(3));
    }

    #[test]
    fn max_pixels_defaults_to_4096_squared_and_is_bounded_by_the_codec() {
        let sc = Scenario::parse("name = \"x\"\n", "s.toml").unwrap();
        assert_eq!(sc.screen.max_pixels, 4096 * 4096);
        let sc =
            Scenario::parse("name = \"x\"\n[screen]\nmax_pixels = 2073600\n", "s.toml").unwrap();
        assert_eq!(sc.screen.max_pixels, 1920 * 1080);
        for bad in ["0", "67108865"] {
            let src = format!("name = \"x\"\n[screen]\nmax_pixels = {bad}\n");
            let e = Scenario::parse(&src, "s.toml").unwrap_err();
            assert_eq!(e.key, "screen.max_pixels", "{e}");
            assert_eq!(e.line, Some(3));
        }
    }

    #[test]
    fn storm_console_count_must_be_three_to_sixty_four() {
        for bad in [0, 2, 65] {
            let src = format!("name = \"x\"\n[screen]\nstorm_consoles = {bad}\n");
            let e = Scenario::parse(&src, "s.toml").unwrap_err();
            assert_eq!(e.key, "screen.storm_consoles");
            assert_eq!(e.line, Some(3));
            assert!(e.message.contains("3 to 64"), "{e}");
        }
        for good in [3, 64] {
            let src = format!("name = \"x\"\n[screen]\nstorm_consoles = {good}\nstorm_window_ms = 0\nstorm_max_hold_ms = 0\n");
            assert_eq!(
                Scenario::parse(&src, "s.toml")
                    .unwrap()
                    .screen
                    .storm_consoles,
                good
            );
        }
        assert_eq!(ScreenScenario::default().storm_consoles, 8);
    }

    #[test]
    fn absurd_duration_is_rejected() {
        let e = Scenario::parse(
            "name = \"x\"\n[screen]\nsustain_ms = 100000000000\n",
            "s.toml",
        )
        .unwrap_err();
        assert_eq!(e.key, "screen.sustain_ms");
        assert!(e.message.contains("more than a day"), "{e}");
    }
}
