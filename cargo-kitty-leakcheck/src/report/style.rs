//! Colour for the human report.

use std::io::IsTerminal;

use crate::cli::ColorChoice;

/// ANSI styling for the human report (or none).
#[derive(Debug, Clone, Copy)]
pub struct Style {
    color: bool,
}

impl Style {
    /// Colours when `color`.
    pub fn new(color: bool) -> Self {
        Style { color }
    }

    /// No colour.
    pub fn plain() -> Self {
        Style { color: false }
    }

    /// What `--color` (else `CARGO_TERM_COLOR`, else `auto`: stderr a
    /// terminal and `NO_COLOR` unset or empty) asks for on stderr.
    pub fn for_stderr(flag: Option<ColorChoice>) -> Self {
        let env = |k: &str| std::env::var(k).ok();
        Style::new(color_decision(
            flag,
            env("CARGO_TERM_COLOR").as_deref(),
            env("NO_COLOR").as_deref(),
            std::io::stderr().is_terminal(),
        ))
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// Bold red.
    pub fn error(&self, text: &str) -> String {
        self.paint("1;31", text)
    }

    /// Bold green.
    pub fn ok(&self, text: &str) -> String {
        self.paint("1;32", text)
    }

    /// Bold yellow.
    pub fn warn(&self, text: &str) -> String {
        self.paint("1;33", text)
    }

    /// Dim.
    pub fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }
}

fn color_decision(
    flag: Option<ColorChoice>,
    cargo_term_color: Option<&str>,
    no_color: Option<&str>,
    tty: bool,
) -> bool {
    let choice = flag.or(match cargo_term_color {
        Some("always") => Some(ColorChoice::Always),
        Some("never") => Some(ColorChoice::Never),
        _ => None,
    });
    match choice {
        Some(ColorChoice::Always) => true,
        Some(ColorChoice::Never) => false,
        Some(ColorChoice::Auto) | None => tty && no_color.is_none_or(str::is_empty),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_precedence() {
        assert!(color_decision(
            Some(ColorChoice::Always),
            Some("never"),
            Some("1"),
            false
        ));
        assert!(!color_decision(Some(ColorChoice::Never), None, None, true));
        assert!(color_decision(None, Some("always"), Some("1"), false));
        assert!(!color_decision(None, None, Some("1"), true));
        assert!(color_decision(None, None, Some(""), true));
        assert!(!color_decision(None, Some("auto"), None, false));
    }
}
