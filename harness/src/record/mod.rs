//! What a run records while it runs, besides the verdicts: the screenshots
//! checks take (written as PNG under `evidence/<CHECK-ID>/`) and the
//! transcript of everything exchanged with the terminal
//! (`transcript.jsonl`, sliced per check into the evidence folders).
//!
//! The runner runs each check inside [`in_check`], so code deep in a binding
//! or a check can ask [`current_check`] which check it is working for
//! without threading the id through every call.

pub mod transcript;

use std::path::{Path, PathBuf};

use s301_rfb::{Framebuffer, Rect};

use crate::catalog::CheckId;
use crate::checks::CheckCtx;
use crate::report::outputs::EVIDENCE_DIR;
use crate::report::{json, png};

pub use transcript::{Transcript, TranscriptEntry};

/// Most screenshots a run keeps in memory (a 1024x768 frame is 3 MiB);
/// later ones are dropped and the drop is logged.
pub const MAX_IMAGES: usize = 96;

tokio::task_local! {
    static CURRENT_CHECK: CheckId;
}

/// Runs `fut` as the body of check `id`: [`current_check`] inside it (and
/// in everything it awaits on the same task) returns `id`.
pub async fn in_check<F: std::future::Future>(id: CheckId, fut: F) -> F::Output {
    CURRENT_CHECK.scope(id, fut).await
}

/// The check the current task runs for, if any.
pub fn current_check() -> Option<CheckId> {
    CURRENT_CHECK.try_with(|id| *id).ok()
}

/// Keeps a screenshot of the current check as `<CHECK-ID>/<name>` in
/// `ctx.shared.images` (written later as `evidence/<CHECK-ID>/<name>.png`).
/// Outside a check, or past [`MAX_IMAGES`], nothing is kept.
pub fn snapshot(ctx: &CheckCtx, name: &str, fb: Framebuffer) {
    let Some(id) = current_check() else {
        return;
    };
    let mut shared = ctx.shared.lock().unwrap_or_else(|p| p.into_inner());
    if shared.images.len() >= MAX_IMAGES {
        tracing::warn!("screenshot {id}/{name} dropped: {MAX_IMAGES} already kept");
        return;
    }
    let name: String = name
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    shared.images.insert(format!("{id}/{name}"), fb);
}

/// Keeps the part of `fb` around `r` (the rectangle plus a margin) with `r`
/// outlined: the before/after crops of an operation probe.
pub fn snapshot_around(ctx: &CheckCtx, name: &str, fb: &Framebuffer, r: Rect) {
    const MARGIN: u16 = 16;
    let area = Rect {
        x: r.x.saturating_sub(MARGIN),
        y: r.y.saturating_sub(MARGIN),
        w: r.w.saturating_add(2 * MARGIN),
        h: r.h.saturating_add(2 * MARGIN),
    };
    let Some(crop) = png::outlined(fb, r).crop(area) else {
        return;
    };
    snapshot(ctx, name, crop);
}

/// Why a screenshot key cannot name a file: not `<CHECK-ID>/<name>` with a
/// catalog id and a name of letters, digits, `-` and `_`.
fn evidence_path(key: &str) -> Option<(CheckId, String)> {
    let (check, name) = key.split_once('/')?;
    let id = CheckId::parse(check)?;
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    ok.then(|| (id, name.to_string()))
}

/// Writes every image as `dir/evidence/<CHECK-ID>/<name>.png` (atomically)
/// and returns the paths written. Keys that do not name a check are
/// skipped with a warning.
pub fn write_images<'a>(
    dir: &Path,
    images: impl IntoIterator<Item = (&'a String, &'a Framebuffer)>,
) -> std::io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (key, fb) in images {
        let Some((id, name)) = evidence_path(key) else {
            tracing::warn!("screenshot key {key:?} names no check; not written");
            continue;
        };
        let folder = dir.join(EVIDENCE_DIR).join(id.as_str());
        std::fs::create_dir_all(&folder)?;
        let bytes = png::encode(fb).map_err(std::io::Error::other)?;
        let path = folder.join(format!("{name}.png"));
        json::write_atomic(&path, &bytes)?;
        written.push(path);
    }
    Ok(written)
}

/// Writes the screenshots a check kept as soon as that check finishes, so
/// a run that dies later (killed, out of disk) still leaves them on disk.
/// What it could not write stays in the shared state for the end of the
/// run ([`write_evidence`]) to try again.
pub struct ScreenshotSink {
    dir: PathBuf,
    ctx: std::sync::Arc<CheckCtx>,
}

impl ScreenshotSink {
    /// A sink writing under `dir/evidence/` the images checks of `ctx` keep.
    pub fn new(dir: &Path, ctx: std::sync::Arc<CheckCtx>) -> ScreenshotSink {
        ScreenshotSink {
            dir: dir.to_path_buf(),
            ctx,
        }
    }

    /// Takes the images of `id` out of the shared state and writes them.
    fn flush(&self, id: CheckId) {
        let prefix = format!("{}/", id.as_str());
        let taken: std::collections::BTreeMap<String, Framebuffer> = {
            let mut shared = self.ctx.shared.lock().unwrap_or_else(|p| p.into_inner());
            let (taken, kept) = std::mem::take(&mut shared.images)
                .into_iter()
                .partition(|(k, _)| k.starts_with(&prefix));
            shared.images = kept;
            taken
        };
        if taken.is_empty() {
            return;
        }
        if let Err(e) = write_images(&self.dir, &taken) {
            tracing::warn!(
                check = id.as_str(),
                "screenshots not written yet ({e}); retried when the run ends"
            );
            let mut shared = self.ctx.shared.lock().unwrap_or_else(|p| p.into_inner());
            shared.images.extend(taken);
        }
    }
}

impl crate::runner::RunSink for ScreenshotSink {
    fn on_event(&mut self, event: &crate::runner::RunEvent<'_>) {
        if let crate::runner::RunEvent::CheckFinished { result, .. } = event {
            self.flush(result.id);
        }
    }
}

/// The evidence a run directory holds besides `report.json`, the outputs
/// derived from it and the seal: the screenshots not yet written, as PNG,
/// and the per-check slices of the transcript. Written in place at the end
/// of a run, before the outputs are staged (they list and embed these
/// files). An error names the folder.
pub fn write_evidence(
    dir: &Path,
    images: &std::collections::BTreeMap<String, Framebuffer>,
) -> Result<(), String> {
    let evidence = dir.join(EVIDENCE_DIR);
    write_images(dir, images).map_err(|e| format!("{}: {e}", evidence.display()))?;
    transcript::split_by_check(dir).map_err(|e| format!("{}: {e}", evidence.display()))?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use s301_rfb::Limits;

    #[tokio::test]
    async fn current_check_is_set_inside_in_check_only() {
        assert_eq!(current_check(), None);
        let seen = in_check(CheckId::Op01, async {
            tokio::task::yield_now().await;
            current_check()
        })
        .await;
        assert_eq!(seen, Some(CheckId::Op01));
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
    fn images_are_written_as_pngs_under_their_check() {
        let dir = json::tests::scratch_dir("record-images");
        let fb = Framebuffer::new(8, 4, &Limits::default()).unwrap();
        let mut m = std::collections::BTreeMap::new();
        m.insert("ST-02/full".to_string(), fb.clone());
        m.insert("bogus".to_string(), fb);
        let paths = write_images(&dir, &m).unwrap();
        assert_eq!(paths, [dir.join("evidence/ST-02/full.png")]);
        let dec = ::png::Decoder::new(std::io::Cursor::new(std::fs::read(&paths[0]).unwrap()));
        let r = dec.read_info().unwrap();
        assert_eq!((r.info().width, r.info().height), (8, 4));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
