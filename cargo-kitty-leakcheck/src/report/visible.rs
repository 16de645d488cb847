//! The one escaping of text that came from outside (process data: command
//! lines, project dirs, test names, anything read from `/proc`, a
//! `.kittify/.dashboard`, a health answer or the environment) before a person
//! sees it.
//!
//! Any local user can put bytes into a process's argv, and leakcheck often
//! runs as root: a raw ESC, BEL or CR from there would reach root's terminal
//! as a control sequence (clear the screen, set the title, rewrite a line).
//! Every human-facing renderer ([`super::human`], the sweep listing, the
//! GitHub annotations and job summary, the JUnit text) passes such text
//! through [`visible`] where it becomes text for a person; the JSON report
//! keeps it exact (serde escapes it).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::Path;

/// Whether `c` may not reach a terminal as it is: a C0 control (U+0000 to
/// U+001F, newlines and tabs included: a field is one line), DEL (U+007F) or
/// a C1 control (U+0080 to U+009F, which some terminals obey as ESC + a
/// letter).
fn is_control(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}')
}

/// `s` with every control character shown as a visible escape: `\n`, `\r`,
/// `\t`, `\\x1b` (ESC), `\\x07` (BEL), `\\x7f`, `\\u{9b}` (C1). A backslash
/// stays itself, and ordinary Unicode stays as it is.
pub fn visible(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c <= '\u{7f}' && is_control(c) => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if is_control(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// [`visible`] of a path (bytes that are not UTF-8 as U+FFFD).
pub fn visible_path(p: &Path) -> String {
    visible(&p.to_string_lossy()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_shown_and_unicode_is_kept() {
        assert_eq!(visible("/tmp/p"), "/tmp/p");
        assert!(matches!(visible("/tmp/p"), Cow::Borrowed(_)));
        assert_eq!(visible("a\u{1b}[2Jb"), "a\\x1b[2Jb");
        assert_eq!(visible("\u{1b}]0;x\u{7}"), "\\x1b]0;x\\x07");
        assert_eq!(visible("x\ry\nz\t"), "x\\ry\\nz\\t");
        assert_eq!(
            visible("\u{0}\u{7f}\u{9b}\u{85}"),
            "\\x00\\x7f\\u{9b}\\u{85}"
        );
        assert_eq!(visible("été ✓ 猫 \u{a0}"), "été ✓ 猫 \u{a0}");
        let escaped = visible("\u{1b}\u{7}\r\u{9b}");
        assert!(!escaped.chars().any(is_control), "{escaped}");
    }
}
