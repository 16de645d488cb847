//! GitHub Actions workflow commands: one `::error` annotation per leak.

use std::fmt::Write as _;

use kitty_fixtures::shared::mask_tokens;

use super::Report;
use super::human::{action_text, headline};

/// Whether the run is a GitHub Actions job (`GITHUB_ACTIONS=true`).
pub fn enabled() -> bool {
    std::env::var_os("GITHUB_ACTIONS").is_some_and(|v| v == "true")
}

/// `::error` workflow commands, one per leak.
pub fn annotations(report: &Report) -> String {
    let mut out = String::new();
    for leak in &report.leaks.leaks {
        let mut msg = headline(leak);
        if let Some(dir) = &leak.project_dir {
            let _ = write!(msg, "; project {}", dir.display());
        }
        if let Some(t) = leak.test.as_ref().and_then(|t| t.name.as_deref()) {
            let _ = write!(msg, "; test {t}");
        }
        let _ = write!(msg, "; {}", action_text(&leak.action));
        let _ = writeln!(
            out,
            "::error title={}::{}",
            escape_property("kitty-leakcheck: leak"),
            escape_data(&mask_tokens(&msg))
        );
    }
    out
}

/// Escapes the message of a workflow command.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property of a workflow command.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(escape_data("a%b\nc"), "a%25b%0Ac");
        assert_eq!(escape_property("a: b, c"), "a%3A b%2C c");
    }
}
