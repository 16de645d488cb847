//! A progress bar for slow work (stopping many dashboards), drawn on stderr
//! only when stderr is a terminal (and not `TERM=dumb`): nothing at all in a
//! log, a pipe or CI.
//!
//! `main` wraps one in the [`Tick`](crate::modes::reap::Tick) it hands a
//! mode, which only ticks it; it clears itself when the mode drops it,
//! before the report is printed.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Fewer steps than this draw no bar: they are over before it would help.
const AT_LEAST: usize = 3;

/// A bar of `len` steps, or nothing.
#[derive(Debug)]
pub struct Progress(Option<ProgressBar>);

impl Progress {
    /// A bar saying `what` ("stopping dashboards") for `len` steps: drawn
    /// only on a terminal that can redraw a line (not `TERM=dumb`), with
    /// `len` of at least three, and not under `-q`.
    pub fn new(what: &'static str, len: usize, quiet: bool) -> Self {
        let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        if quiet || len < AT_LEAST || dumb || !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr());
        let style =
            ProgressStyle::with_template("kitty-leakcheck: {msg} [{bar:30}] {pos}/{len} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
        bar.set_style(style);
        bar.set_message(what);
        // Draw it now: indicatif limits how often it redraws, and stops that
        // end within that interval would otherwise never show a bar at all.
        bar.tick();
        Progress(Some(bar))
    }

    /// One step done.
    pub fn tick(&self) {
        if let Some(bar) = &self.0 {
            bar.inc(1);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
