//! What a run records while it runs, besides the verdicts: the screenshots
//! checks take (written as PNG under `evidence/<CHECK-ID>/`, see
//! [`screenshots`]) and the transcript of everything exchanged with the
//! terminal (`transcript.jsonl`, sliced per check into the evidence folders).
//!
//! The runner runs each check inside [`in_check`], so code deep in a binding
//! or a check can ask [`current_check`] which check it is working for
//! without threading the id through every call.

pub use crate::binding::transcript;
pub use crate::binding::transcript::{current_check, in_check};
pub use crate::checks::evidence::{snapshot, snapshot_around, MAX_IMAGES};
pub use crate::model::screenshots;

use std::path::{Path, PathBuf};

use crate::checks::CheckCtx;
use crate::model::files::EVIDENCE_DIR;
use crate::model::ids::CheckId;

pub use screenshots::{Screenshot, ScreenshotError, Screenshots};
pub use transcript::{Transcript, TranscriptEntry};

/// Writes every screenshot still held in memory as
/// `dir/evidence/<CHECK-ID>/<name>.png` (atomically) and returns the
/// evidence files of all of them. Keys that do not name a check are
/// skipped with a warning.
pub fn write_images(dir: &Path, images: &Screenshots) -> std::io::Result<Vec<PathBuf>> {
    images.write_all(dir)
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
    /// From now on screenshots go to disk as they are taken
    /// ([`Screenshots::write_to`]); the sink writes what could not be.
    pub fn new(dir: &Path, ctx: std::sync::Arc<CheckCtx>) -> ScreenshotSink {
        ctx.shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .images
            .write_to(dir);
        ScreenshotSink {
            dir: dir.to_path_buf(),
            ctx,
        }
    }

    /// Takes the images of `id` out of the shared state and writes those
    /// not on disk yet.
    fn flush(&self, id: CheckId) {
        let prefix = format!("{}/", id.as_str());
        let taken = {
            let mut shared = self.ctx.shared.lock().unwrap_or_else(|p| p.into_inner());
            shared.images.take_prefix(&prefix)
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

impl crate::run::runner::RunSink for ScreenshotSink {
    fn on_event(&mut self, event: &crate::run::runner::RunEvent<'_>) {
        if let crate::run::runner::RunEvent::CheckFinished { result, .. } = event {
            self.flush(result.id);
        }
    }
}

/// The evidence a run directory holds besides `report.json`, the outputs
/// derived from it and the seal: the screenshots not yet written, as PNG,
/// and the per-check slices of the transcript. Written in place at the end
/// of a run, before the outputs are staged (they list and embed these
/// files). An error names the folder.
pub fn write_evidence(dir: &Path, images: &Screenshots) -> Result<(), String> {
    let evidence = dir.join(EVIDENCE_DIR);
    write_images(dir, images).map_err(|e| format!("{}: {e}", evidence.display()))?;
    transcript::split_by_check(dir).map_err(|e| format!("{}: {e}", evidence.display()))?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;
    use s301_rfb::{Framebuffer, Limits};

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
    fn images_are_written_as_pngs_under_their_check() {
        let dir = crate::model::files::tests::scratch_dir("record-images");
        let fb = Framebuffer::new(8, 4, &Limits::default()).unwrap();
        let mut m = Screenshots::default();
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
