//! GitHub Actions: one `::error` annotation per leak, and a table of them in
//! the job summary (`$GITHUB_STEP_SUMMARY`).

use std::fmt::Write as _;

use kitty_core::mask_tokens;

use super::SinkError;
use super::human::{action_text, headline};
use super::visible::{visible, visible_path};
use crate::findings::run::{LeakKind, RunFindings};

/// Whether the run is a GitHub Actions job (`GITHUB_ACTIONS=true`).
pub fn enabled() -> bool {
    std::env::var_os("GITHUB_ACTIONS").is_some_and(|v| v == "true")
}

/// `::error` workflow commands, one per leak.
pub fn annotations(report: &RunFindings) -> String {
    let mut out = String::new();
    for leak in &report.leaks.leaks {
        let mut msg = headline(leak);
        if let Some(dir) = &leak.project_dir {
            let _ = write!(msg, "; project {}", visible_path(dir));
        }
        if let Some(t) = leak.test.as_ref().and_then(|t| t.name.as_deref()) {
            let _ = write!(msg, "; test {}", visible(t));
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

/// The job summary: a heading and a Markdown table of the leaks (what, port,
/// pid, project, test, what was done), or one line saying nothing leaked.
pub fn step_summary(report: &RunFindings) -> String {
    // `visible` shows every control (a newline as `\n`), so a cell is one line.
    let cell = |s: &str| visible(&mask_tokens(s)).replace('|', "\\|");
    let mut out = String::new();
    if report.leaks.leaks.is_empty() {
        let _ = writeln!(
            out,
            "### kitty-leakcheck: no leaked dashboards on ports {}\n",
            report.ports
        );
        return out;
    }
    let _ = writeln!(
        out,
        "### kitty-leakcheck: {} leak{} on ports {}\n",
        report.leaks.leaks.len(),
        if report.leaks.leaks.len() == 1 {
            ""
        } else {
            "s"
        },
        report.ports
    );
    let _ = writeln!(out, "| what | port | pid | project | test | done |");
    let _ = writeln!(out, "| --- | ---: | ---: | --- | --- | --- |");
    for leak in &report.leaks.leaks {
        let what = match leak.kind {
            LeakKind::Dashboard => "dashboard",
            LeakKind::SyncDaemon => "sync daemon",
            LeakKind::Foreign => "foreign listener",
        };
        let _ = writeln!(
            out,
            "| {what} | {} | {} | {} | {} | {} |",
            leak.port.map(|p| p.to_string()).unwrap_or_default(),
            leak.pid.map(|p| p.to_string()).unwrap_or_default(),
            cell(
                &leak
                    .project_dir
                    .as_ref()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default()
            ),
            cell(&leak.test.as_ref().map(|t| t.describe()).unwrap_or_default()),
            cell(&action_text(&leak.action)),
        );
    }
    out.push('\n');
    out
}

/// Appends `text` to the file `$GITHUB_STEP_SUMMARY` names (nothing when unset).
pub fn append_step_summary(text: &str) -> Result<(), SinkError> {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    let path = std::path::PathBuf::from(path);
    kitty_core::sys::append_to_regular_file(&path, text.as_bytes()).map_err(|source| SinkError {
        what: "the job summary",
        path,
        source,
    })
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
    fn the_summary_is_a_table_of_the_leaks() {
        let r = crate::report::human::tests::report_with_a_leak();
        let md = step_summary(&r);
        assert!(
            md.contains("| dashboard | 9240 | 4242 | /tmp/p | leaks_one in mini::it |"),
            "{md}"
        );
        assert!(!md.contains(crate::report::human::tests::TOKEN), "{md}");
    }

    #[test]
    fn escapes() {
        assert_eq!(escape_data("a%b\nc"), "a%25b%0Ac");
        assert_eq!(escape_property("a: b, c"), "a%3A b%2C c");
    }
}
