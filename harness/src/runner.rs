//! The runner: sequences checks, applies timeouts, emits events. (Placeholder.)
