//! A terminal simulated in process: the proof that checks need nothing but
//! the neutral screen channel. No socket, no wire format: a console's
//! requests and input are carried out on a shared desktop image, and its
//! updates copy pixels from it into the console's own image.
//!
//! The desktop ([`MemoryScreen::layout`]) is a grey screen with a *text*
//! panel, repainted in the next colour on every key press, and a *pad*,
//! repainted on every click (button 1 pressed). Moving the pointer changes
//! nothing. Exclusivity follows the policy: under `refuse` a console that
//! arrives while another holds the terminal is refused at admission; under
//! `takeover` it is admitted and the holder's session is closed first.
//!
//! Each [`MemoryFault`] breaks one rule, so that a screen check has a
//! terminal it must fail. The binding offers no encoding capability
//! ([`ScreenBinding::encodings`] is `None`): ST-02 judges one full-screen
//! round and reports its encoding sweep not applicable.
//!
//! Memory: one desktop image per terminal and one image per open console,
//! each of the declared (small) size; every queue is bounded.

mod session;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, Notify};

use self::session::Session;

use crate::binding::screen::{blank_image, Image, Rect};
use crate::binding::{BoxFuture, CloseHow, Console, OpenError, ScreenBinding, SessionInfo, Stage};
use crate::config::declaration::Exclusivity;

/// How long a refused or displaced console's input is still applied under
/// [`MemoryFault::InputFromDisplaced`].
pub const DISPLACED_WINDOW: Duration = Duration::from_millis(500);

/// Most requests a console keeps waiting for an answer (older ones are
/// forgotten, as a terminal coalesces them).
const MAX_PENDING: usize = 64;

/// A deliberate defect of the simulated terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MemoryFault {
    /// Pointer and key input is thrown away.
    IgnoreInput,
    /// No exclusivity: every console is admitted and served at once.
    ShareScreen,
    /// A holder whose connection drops never releases the terminal.
    StuckLock,
    /// Incremental answers leave out the bottom quarter of each change.
    StaleIncremental,
    /// A session served for longer than [`MemoryConfig::stall_after`] stops
    /// answering requests (its input is still applied).
    StallAfter,
    /// A refused (refuse) or displaced (takeover) console's input is still
    /// applied for [`DISPLACED_WINDOW`].
    InputFromDisplaced,
}

impl MemoryFault {
    /// Every fault.
    pub const ALL: [MemoryFault; 6] = [
        MemoryFault::IgnoreInput,
        MemoryFault::ShareScreen,
        MemoryFault::StuckLock,
        MemoryFault::StaleIncremental,
        MemoryFault::StallAfter,
        MemoryFault::InputFromDisplaced,
    ];

    /// Its name (`"ignore-input"`).
    pub fn name(&self) -> &'static str {
        match self {
            MemoryFault::IgnoreInput => "ignore-input",
            MemoryFault::ShareScreen => "share-screen",
            MemoryFault::StuckLock => "stuck-lock",
            MemoryFault::StaleIncremental => "stale-incremental",
            MemoryFault::StallAfter => "stall-after",
            MemoryFault::InputFromDisplaced => "input-from-displaced",
        }
    }
}

/// The smallest side a simulated screen may have.
pub const MIN_SIDE: u16 = 64;

/// The largest side a simulated screen may have (memory stays small).
pub const MAX_SIDE: u16 = 1024;

/// Why a simulated terminal could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemoryError {
    /// The screen size is outside [`MIN_SIDE`]..=[`MAX_SIDE`].
    #[error("an in-memory screen of {width}x{height}: each side must be {MIN_SIDE}..={MAX_SIDE}")]
    Size {
        /// The width asked for.
        width: u16,
        /// The height asked for.
        height: u16,
    },
}

/// How the simulated terminal behaves.
#[derive(Debug, Clone)]
pub struct MemoryConfig {
    /// Screen width ([`MIN_SIDE`]..=[`MAX_SIDE`]).
    pub width: u16,
    /// Screen height ([`MIN_SIDE`]..=[`MAX_SIDE`]).
    pub height: u16,
    /// The exclusivity policy it keeps.
    pub policy: Exclusivity,
    /// The rules it breaks.
    pub faults: Vec<MemoryFault>,
    /// With [`MemoryFault::StallAfter`]: how long a session is served
    /// before it stalls.
    pub stall_after: Duration,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            width: 320,
            height: 240,
            policy: Exclusivity::Refuse,
            faults: Vec::new(),
            stall_after: Duration::from_millis(2500),
        }
    }
}

/// Where the desktop's parts are (probe targets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// The panel that changes on every key press.
    pub text: Rect,
    /// The pad that changes on every click.
    pub pad: Rect,
}

impl Layout {
    fn of(w: u16, h: u16) -> Layout {
        let (m, half) = (w / 16, h / 2);
        Layout {
            text: Rect::new(m, h / 16, w - 2 * m, half - h / 8),
            pad: Rect::new(m, half + h / 16, w - 2 * m, half - h / 8),
        }
    }

    /// The pad's centre, where the click probe clicks.
    pub fn click_point(&self) -> (u16, u16) {
        (self.pad.x + self.pad.w / 2, self.pad.y + self.pad.h / 2)
    }
}

/// Colours the panels cycle through.
const PALETTE: [u32; 6] = [
    0x00c0_3030,
    0x0030_a040,
    0x0030_50c0,
    0x00c0_a020,
    0x0090_30b0,
    0x0020_a0a0,
];

/// The background.
const GREY: u32 = 0x0040_4040;

/// What a console is to the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Served: requests answered, input applied.
    Served,
    /// Admitted only for the fault's window: nothing answered, input
    /// applied until the deadline, then closed.
    Lingering(Instant),
}

/// The terminal's view of one open console.
struct Slot {
    role: Role,
    /// What changed on the desktop since its last incremental answer.
    dirty: Option<Rect>,
    /// Wakes its task (the desktop changed, it was displaced).
    wake: Arc<Notify>,
    /// Set when another console takes over: the task closes and acks.
    kicked: Option<oneshot::Sender<()>>,
    /// Kick requested (the ack sender above is then taken by the task).
    kick: bool,
}

/// The shared desktop.
struct Desk {
    image: Image,
    holder: Option<u64>,
    next_id: u64,
    slots: BTreeMap<u64, Slot>,
    clicks: usize,
    keys: usize,
}

impl Desk {
    /// Paints `r` in `colour` and marks it changed for every console.
    fn paint(&mut self, r: Rect, colour: u32) {
        self.image.fill(r, colour);
        for s in self.slots.values_mut() {
            s.dirty = Some(match s.dirty {
                Some(d) => d.union(&r),
                None => r,
            });
            s.wake.notify_one();
        }
    }
}

/// The in-memory screen binding: a simulated terminal and the consoles it
/// opens.
#[derive(Clone)]
pub struct MemoryScreen {
    cfg: Arc<MemoryConfig>,
    layout: Layout,
    desk: Arc<Mutex<Desk>>,
}

impl std::fmt::Debug for MemoryScreen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryScreen")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

/// The URL every in-memory terminal answers to.
pub const URL: &str = "memory://desk";

impl MemoryScreen {
    /// A terminal as `cfg` says.
    pub fn new(cfg: MemoryConfig) -> Result<MemoryScreen, MemoryError> {
        let (w, h) = (cfg.width, cfg.height);
        if !(MIN_SIDE..=MAX_SIDE).contains(&w) || !(MIN_SIDE..=MAX_SIDE).contains(&h) {
            return Err(MemoryError::Size {
                width: w,
                height: h,
            });
        }
        let layout = Layout::of(w, h);
        let mut image = blank_image(w, h).ok_or(MemoryError::Size {
            width: w,
            height: h,
        })?;
        image.fill(image.bounds(), GREY);
        image.fill(layout.text, PALETTE[0]);
        image.fill(layout.pad, PALETTE[1]);
        Ok(MemoryScreen {
            cfg: Arc::new(cfg),
            layout,
            desk: Arc::new(Mutex::new(Desk {
                image,
                holder: None,
                next_id: 1,
                slots: BTreeMap::new(),
                clicks: 0,
                keys: 0,
            })),
        })
    }

    /// Where the desktop's parts are.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// A declaration for this terminal: its policy, a click probe on the
    /// pad and a type probe on the text panel.
    pub fn declaration_toml(&self) -> String {
        let r = |r: Rect| format!("[{}, {}, {}, {}]", r.x, r.y, r.w, r.h);
        let (cx, cy) = self.layout.click_point();
        format!(
            "[terminal]\nvendor = \"s301\"\nservice = \"memory\"\nmodel = \"memory-desk\"\nversion = \"1\"\n\n\
             [screen]\nurl = \"{URL}\"\nexclusivity = \"{}\"\n\n\
             [operation]\nsupported = true\n\n\
             [[operation.probe]]\nkind = \"click\"\nx = {cx}\ny = {cy}\nwatch = {}\n\n\
             [[operation.probe]]\nkind = \"type\"\ntext = \"S301\"\nwatch = {}\n",
            self.cfg.policy.as_str(),
            r(self.layout.pad),
            r(self.layout.text),
        )
    }

    fn has(&self, f: MemoryFault) -> bool {
        self.cfg.faults.contains(&f)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Desk> {
        self.desk.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn info(&self, label: &str) -> SessionInfo {
        SessionInfo {
            url: URL.into(),
            transport: "memory".into(),
            subprotocol: None,
            protocol: "memory".into(),
            version: "1".into(),
            server_version: "1".into(),
            security: "None".into(),
            width: self.cfg.width,
            height: self.cfg.height,
            name: format!("s301 memory desk ({label})"),
            connect_ms: 0.0,
            handshake_ms: 0.0,
            tls: None,
            binding: serde_json::Map::new(),
        }
    }

    async fn open_console(&self, label: &str, timeout: Duration) -> Result<Console, OpenError> {
        let share = self.has(MemoryFault::ShareScreen);
        let linger = self.has(MemoryFault::InputFromDisplaced);
        let wake = Arc::new(Notify::new());
        let (id, role, displaced) = {
            let mut d = self.lock();
            let id = d.next_id;
            d.next_id += 1;
            let busy = d.holder.is_some() && !share;
            // A holder that dropped under stuck-lock is gone but still holds.
            let stuck = d.holder.is_some_and(|h| !d.slots.contains_key(&h));
            let (role, displaced) = match (busy, self.cfg.policy) {
                (false, _) => (Role::Served, None),
                (true, _) if stuck => {
                    return Err(OpenError::Refused {
                        stage: Stage::Admission,
                        reason: "the terminal is busy: another console holds it".into(),
                    })
                }
                (true, Exclusivity::Refuse) if linger => {
                    (Role::Lingering(Instant::now() + DISPLACED_WINDOW), None)
                }
                (true, Exclusivity::Refuse) => {
                    return Err(OpenError::Refused {
                        stage: Stage::Admission,
                        reason: "the terminal is busy: another console holds it".into(),
                    })
                }
                (true, Exclusivity::Takeover) => (Role::Served, d.holder),
            };
            if role == Role::Served && !share {
                d.holder = Some(id);
            }
            // The holder being displaced is asked to close; the newcomer is
            // admitted once it has.
            let ack = displaced.and_then(|h| {
                let s = d.slots.get_mut(&h)?;
                let (tx, rx) = oneshot::channel();
                s.kicked = Some(tx);
                s.kick = true;
                s.wake.notify_one();
                Some(rx)
            });
            d.slots.insert(
                id,
                Slot {
                    role,
                    dirty: None,
                    wake: wake.clone(),
                    kicked: None,
                    kick: false,
                },
            );
            (id, role, ack)
        };
        if let Some(ack) = displaced {
            if tokio::time::timeout(timeout, ack).await.is_err() {
                self.leave(id, CloseHow::Clean);
                return Err(OpenError::Timeout {
                    stage: Stage::Admission,
                    after_ms: timeout.as_millis().try_into().unwrap_or(u64::MAX),
                });
            }
        }
        let img = blank_image(self.cfg.width, self.cfg.height)
            .ok_or_else(|| OpenError::Harness("the in-memory screen has no valid size".into()))?;
        let (console, driver) = Console::new(label, self.info(label), img);
        tokio::spawn(Session::new(self.clone(), id, role, driver, wake).run());
        Ok(console)
    }

    /// Console `id` is gone: the lock is released unless it dropped its
    /// connection under [`MemoryFault::StuckLock`].
    fn leave(&self, id: u64, how: CloseHow) {
        let stuck = how == CloseHow::Drop && self.has(MemoryFault::StuckLock);
        let mut d = self.lock();
        d.slots.remove(&id);
        if d.holder == Some(id) && !stuck {
            d.holder = None;
        }
    }

    /// Applies a click or key from console `id`, if it may operate.
    fn input(&self, id: u64, click: bool) {
        if self.has(MemoryFault::IgnoreInput) {
            return;
        }
        let mut d = self.lock();
        let allowed = match d.slots.get(&id).map(|s| s.role) {
            Some(Role::Served) => true,
            Some(Role::Lingering(until)) => Instant::now() < until,
            None => false,
        };
        if !allowed {
            return;
        }
        if click {
            d.clicks += 1;
            let c = PALETTE[(d.clicks + 1) % PALETTE.len()];
            d.paint(self.layout.pad, c);
        } else {
            d.keys += 1;
            let c = PALETTE[d.keys % PALETTE.len()];
            d.paint(self.layout.text, c);
        }
    }
}

impl ScreenBinding for MemoryScreen {
    fn target(&self) -> String {
        URL.into()
    }

    fn open<'a>(
        &'a self,
        label: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Console, OpenError>> {
        Box::pin(self.open_console(label, timeout))
    }
}
