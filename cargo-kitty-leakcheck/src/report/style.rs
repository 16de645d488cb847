//! Colour for the human report: styles as ANSI sequences (anstyle), which the
//! output streams (anstream) keep or strip as the colour choice says
//! ([`crate::cli::choose_color`] makes it).

use anstyle::{AnsiColor, Effects, Style};

fn paint(style: Style, text: &str) -> String {
    format!("{}{text}{}", style.render(), style.render_reset())
}

/// Bold red: errors and leaks.
pub fn error(text: &str) -> String {
    paint(AnsiColor::Red.on_default().effects(Effects::BOLD), text)
}

/// Bold green: nothing leaked.
pub fn ok(text: &str) -> String {
    paint(AnsiColor::Green.on_default().effects(Effects::BOLD), text)
}

/// Bold yellow: left alone, notes.
pub fn warn(text: &str) -> String {
    paint(AnsiColor::Yellow.on_default().effects(Effects::BOLD), text)
}

/// Dim: labels.
pub fn dim(text: &str) -> String {
    paint(Style::new().effects(Effects::DIMMED), text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn styles_are_ansi_that_a_stripping_stream_removes() {
        let red = error("LEAK:");
        assert!(red.starts_with("\x1b[") && red.contains("LEAK:"), "{red:?}");
        let mut plain = anstream::StripStream::new(Vec::new());
        std::io::Write::write_all(&mut plain, red.as_bytes()).expect("write");
        assert_eq!(plain.into_inner(), b"LEAK:");
    }
}
