//! The screenshots a run holds between the moment a check takes one and the
//! moment it is on disk as `evidence/<CHECK-ID>/<name>.png`.
//!
//! A screenshot is never held as pixels: [`Screenshots::insert`] encodes it
//! as PNG at once. Once the run directory is known
//! ([`Screenshots::write_to`], set by the run's screenshot sink) the PNG is
//! streamed straight into its evidence file and only the path is kept, so a
//! held screenshot costs a few bytes whatever the screen size. Without a
//! directory (library tests), or when the write fails, the PNG bytes are
//! kept, up to [`MAX_HELD_BYTES`] in all.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use s301_rfb::{Framebuffer, Limits};

use crate::model::files::EVIDENCE_DIR;
use crate::model::ids::CheckId;
use crate::model::png;

/// Most PNG bytes held in memory at once (screenshots not yet on disk);
/// a screenshot that would pass it is dropped and the drop logged.
pub const MAX_HELD_BYTES: usize = 32 * 1024 * 1024;

/// Why a screenshot could not be kept or read back.
#[derive(Debug, thiserror::Error)]
pub enum ScreenshotError {
    /// Encoding the PNG failed.
    #[error("screenshot {key}: PNG encoding failed: {source}")]
    Encode {
        /// The screenshot's key (`ST-02/full`).
        key: String,
        /// The encoder's error.
        source: ::png::EncodingError,
    },
    /// Writing or reading its file failed.
    #[error("screenshot {key}: {path}: {source}")]
    Io {
        /// The screenshot's key.
        key: String,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The PNG could not be decoded back (a corrupted file).
    #[error("screenshot {key}: not a readable PNG: {reason}")]
    Decode {
        /// The screenshot's key.
        key: String,
        /// What was wrong.
        reason: String,
    },
}

/// Where a held screenshot is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Held {
    /// Encoded, in memory.
    Png(Vec<u8>),
    /// Written to this evidence file.
    File(PathBuf),
}

/// One screenshot: its size and its PNG, in memory or on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Screenshot {
    width: u16,
    height: u16,
    held: Held,
}

impl Screenshot {
    /// Width in pixels.
    pub fn width(&self) -> u16 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u16 {
        self.height
    }

    /// The evidence file it was written to, once written.
    pub fn path(&self) -> Option<&Path> {
        match &self.held {
            Held::File(p) => Some(p),
            Held::Png(_) => None,
        }
    }

    /// Bytes this screenshot holds in memory (0 once written).
    pub fn held_bytes(&self) -> usize {
        match &self.held {
            Held::Png(b) => b.len(),
            Held::File(_) => 0,
        }
    }

    /// The PNG bytes (read from the file once written).
    pub fn png(&self, key: &str) -> Result<std::borrow::Cow<'_, [u8]>, ScreenshotError> {
        match &self.held {
            Held::Png(b) => Ok(std::borrow::Cow::Borrowed(b)),
            Held::File(p) => std::fs::read(p)
                .map(std::borrow::Cow::Owned)
                .map_err(|source| ScreenshotError::Io {
                    key: key.to_string(),
                    path: p.clone(),
                    source,
                }),
        }
    }

    /// The image again, decoded from its PNG (for tests and tools; a check
    /// never needs it back).
    pub fn decode(&self, key: &str) -> Result<Framebuffer, ScreenshotError> {
        let bytes = self.png(key)?;
        let bad = |reason: String| ScreenshotError::Decode {
            key: key.to_string(),
            reason,
        };
        let mut r = ::png::Decoder::new(std::io::Cursor::new(bytes.as_ref()))
            .read_info()
            .map_err(|e| bad(e.to_string()))?;
        let size = r
            .output_buffer_size()
            .ok_or_else(|| bad("image too large".into()))?;
        let mut buf = vec![0; size];
        let info = r.next_frame(&mut buf).map_err(|e| bad(e.to_string()))?;
        if info.color_type != ::png::ColorType::Rgb || info.bit_depth != ::png::BitDepth::Eight {
            return Err(bad(format!(
                "{:?} {:?}, not 8-bit RGB",
                info.color_type, info.bit_depth
            )));
        }
        let mut fb = Framebuffer::new(self.width, self.height, &Limits::DEFAULT)
            .map_err(|e| bad(e.to_string()))?;
        for (p, rgb) in fb.pixels_mut().iter_mut().zip(buf.chunks_exact(3)) {
            *p = (u32::from(rgb[0]) << 16) | (u32::from(rgb[1]) << 8) | u32::from(rgb[2]);
        }
        Ok(fb)
    }
}

/// The screenshots a run holds, by key `<CHECK-ID>/<name>`.
#[derive(Debug)]
pub struct Screenshots {
    images: BTreeMap<String, Screenshot>,
    /// The run directory screenshots are written under, once known.
    run_dir: Option<PathBuf>,
    /// Most PNG bytes held in memory ([`MAX_HELD_BYTES`]).
    budget: usize,
}

impl Default for Screenshots {
    fn default() -> Self {
        Screenshots {
            images: BTreeMap::new(),
            run_dir: None,
            budget: MAX_HELD_BYTES,
        }
    }
}

impl Screenshots {
    /// From now on, screenshots are written to
    /// `run_dir/evidence/<CHECK-ID>/<name>.png` as they are taken.
    pub fn write_to(&mut self, run_dir: &Path) {
        self.run_dir = Some(run_dir.to_path_buf());
    }

    /// Keeps `fb` as the screenshot `key`, replacing one of the same key:
    /// written to its evidence file when the run directory is known and the
    /// key names a check, else encoded in memory (within
    /// [`MAX_HELD_BYTES`]). A screenshot that cannot be kept is dropped and
    /// the reason logged; evidence is never worth failing a check for.
    pub fn insert(&mut self, key: String, fb: impl Borrow<Framebuffer>) {
        let fb = fb.borrow();
        let file = match (&self.run_dir, evidence_path(&key)) {
            (Some(dir), Some((id, name))) => Some(
                dir.join(EVIDENCE_DIR)
                    .join(id.as_str())
                    .join(format!("{name}.png")),
            ),
            _ => None,
        };
        if let Some(path) = file {
            match write_png(&path, fb) {
                Ok(()) => {
                    self.images.insert(
                        key,
                        Screenshot {
                            width: fb.width(),
                            height: fb.height(),
                            held: Held::File(path),
                        },
                    );
                    return;
                }
                Err(e) => tracing::warn!(
                    "screenshot {key}: {}: {e}; kept in memory for the end of the run",
                    path.display()
                ),
            }
        }
        let bytes = match png::encode(fb) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!("screenshot {key} dropped: PNG encoding failed: {e}");
                return;
            }
        };
        let held = self.held_bytes() - self.images.get(&key).map_or(0, Screenshot::held_bytes);
        if held.saturating_add(bytes.len()) > self.budget {
            tracing::warn!(
                "screenshot {key} dropped: {} bytes of PNG would pass the {} held in memory",
                bytes.len(),
                self.budget
            );
            return;
        }
        self.images.insert(
            key,
            Screenshot {
                width: fb.width(),
                height: fb.height(),
                held: Held::Png(bytes),
            },
        );
    }

    /// The screenshot `key`.
    pub fn get(&self, key: &str) -> Option<&Screenshot> {
        self.images.get(key)
    }

    /// Whether `key` is held.
    pub fn contains_key(&self, key: &str) -> bool {
        self.images.contains_key(key)
    }

    /// How many screenshots are held.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// PNG bytes held in memory (screenshots not yet on disk).
    pub fn held_bytes(&self) -> usize {
        self.images.values().map(Screenshot::held_bytes).sum()
    }

    /// Every screenshot with its key, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Screenshot)> {
        self.images.iter()
    }

    /// Takes out the screenshots whose key starts with `prefix`
    /// (`"ST-02/"`: one check's), leaving the rest.
    pub fn take_prefix(&mut self, prefix: &str) -> Screenshots {
        let (taken, kept) = std::mem::take(&mut self.images)
            .into_iter()
            .partition(|(k, _)| k.starts_with(prefix));
        self.images = kept;
        Screenshots {
            images: taken,
            run_dir: self.run_dir.clone(),
            budget: self.budget,
        }
    }

    /// Puts back screenshots taken out with [`Self::take_prefix`].
    pub fn extend(&mut self, other: Screenshots) {
        self.images.extend(other.images);
    }

    /// Writes every screenshot still in memory as
    /// `dir/evidence/<CHECK-ID>/<name>.png` (atomically) and returns the
    /// evidence files of all of them, written now or before. Keys that do
    /// not name a check are skipped with a warning.
    pub fn write_all(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        let mut files = Vec::new();
        for (key, shot) in &self.images {
            let Some((id, name)) = evidence_path(key) else {
                tracing::warn!("screenshot key {key:?} names no check; not written");
                continue;
            };
            let path = dir
                .join(EVIDENCE_DIR)
                .join(id.as_str())
                .join(format!("{name}.png"));
            if let Held::Png(bytes) = &shot.held {
                if let Some(folder) = path.parent() {
                    std::fs::create_dir_all(folder)?;
                }
                crate::model::files::write_atomic(&path, bytes)?;
            }
            files.push(path);
        }
        Ok(files)
    }
}

/// The check and file name a screenshot key names: `<CHECK-ID>/<name>`
/// with a catalog id and a name of letters, digits, `-` and `_`.
pub(crate) fn evidence_path(key: &str) -> Option<(CheckId, String)> {
    let (check, name) = key.split_once('/')?;
    let id = CheckId::parse(check)?;
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    ok.then(|| (id, name.to_string()))
}

/// Streams `fb` as PNG into `path` through a temporary file renamed into
/// place, so a reader never sees half a picture.
fn write_png(path: &Path, fb: &Framebuffer) -> std::io::Result<()> {
    let folder = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(folder)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "screenshot".into());
    let tmp = folder.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let file = std::fs::File::create(&tmp)?;
        let mut w = std::io::BufWriter::with_capacity(64 * 1024, file);
        png::encode_to(fb, &mut w).map_err(std::io::Error::other)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    if let Ok(d) = std::fs::File::open(folder) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use crate::model::files as json;

    fn image(w: u16, h: u16) -> Framebuffer {
        let mut fb = Framebuffer::new(w, h, &Limits::default()).unwrap();
        fb.set(1, 1, 0x00AB_CDEF);
        fb
    }

    #[test]
    fn keys_must_name_a_check_and_a_plain_file_name() {
        assert_eq!(
            evidence_path("ST-02/full"),
            Some((CheckId::St02, "full".into()))
        );
        assert_eq!(evidence_path("XX-01/full"), None);
        assert_eq!(evidence_path("ST-02/../../etc"), None);
        assert_eq!(evidence_path("ST-02/"), None);
        assert_eq!(evidence_path("ST-02"), None);
    }

    #[test]
    fn without_a_directory_screenshots_are_held_as_png_and_decode_back() {
        let mut s = Screenshots::default();
        let fb = image(64, 48);
        s.insert("ST-02/full".into(), &fb);
        let shot = s.get("ST-02/full").unwrap();
        assert_eq!((shot.width(), shot.height()), (64, 48));
        assert!(shot.path().is_none());
        // A flat screen compresses: far less than its 12 KiB of pixels.
        assert!(shot.held_bytes() < 2048, "{}", shot.held_bytes());
        assert_eq!(shot.decode("ST-02/full").unwrap(), fb);
    }

    #[test]
    fn with_a_directory_screenshots_go_to_disk_and_only_the_path_is_held() {
        let dir = json::tests::scratch_dir("screenshots-direct");
        let mut s = Screenshots::default();
        s.write_to(&dir);
        let fb = image(32, 16);
        s.insert("OP-01/before".into(), fb.clone());
        let shot = s.get("OP-01/before").unwrap();
        let want = dir.join("evidence/OP-01/before.png");
        assert_eq!(shot.path(), Some(want.as_path()));
        assert_eq!(s.held_bytes(), 0);
        assert!(want.is_file());
        assert_eq!(shot.decode("OP-01/before").unwrap(), fb);
        // A key naming no check stays in memory and is never written.
        s.insert("bogus".into(), &fb);
        assert!(s.get("bogus").unwrap().held_bytes() > 0);
        let files = s.write_all(&dir).unwrap();
        assert_eq!(files, [want]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn held_bytes_are_bounded() {
        let mut s = Screenshots {
            budget: 1024 * 1024,
            ..Screenshots::default()
        };
        // Noise does not compress: each of these is about 192 KiB of PNG.
        let mut fb = Framebuffer::new(256, 256, &Limits::default()).unwrap();
        let mut x: u32 = 1;
        for p in fb.pixels_mut() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *p = x & 0x00FF_FFFF;
        }
        for i in 0..20 {
            s.insert(format!("EX-03/shot-{i}"), &fb);
        }
        assert!(s.held_bytes() <= 1024 * 1024, "{}", s.held_bytes());
        assert!(s.len() < 20 && !s.is_empty(), "{}", s.len());
    }

    #[test]
    fn take_prefix_splits_by_check() {
        let mut s = Screenshots::default();
        let fb = image(8, 8);
        s.insert("ST-02/full".into(), &fb);
        s.insert("EX-01/A".into(), &fb);
        let taken = s.take_prefix("ST-02/");
        assert_eq!(taken.len(), 1);
        assert!(taken.contains_key("ST-02/full"));
        assert_eq!(s.len(), 1);
        s.extend(taken);
        assert_eq!(s.len(), 2);
    }
}
