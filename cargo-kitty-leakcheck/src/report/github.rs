//! GitHub Actions: one `::error` annotation per leak, and a table of them in
//! the job summary (`$GITHUB_STEP_SUMMARY`).

use std::fmt::Write as _;

use kitty_core::mask_tokens;

use super::SinkError;
use super::rows::rows;
use super::visible::visible;
use crate::findings::run::{ReportMode, RunFindings};

/// Whether the run is a GitHub Actions job (`GITHUB_ACTIONS=true`).
pub fn enabled() -> bool {
    std::env::var_os("GITHUB_ACTIONS").is_some_and(|v| v == "true")
}

/// GitHub shows at most 10 error annotations per step: past that, the
/// first 9 and one saying how many more there are (all are in the job
/// summary and the JUnit file).
pub const MAX_ANNOTATIONS: usize = 10;

/// `::error` workflow commands, one per leak (those the run's wrappers
/// recorded included), with `file=` when the test's runner names its file
/// (pytest), capped at [`MAX_ANNOTATIONS`].
pub fn annotations(report: &RunFindings) -> String {
    // A leak that does not fail the run is in the job summary only.
    let rows: Vec<_> = rows(report).into_iter().filter(|r| r.fails).collect();
    let shown = if rows.len() > MAX_ANNOTATIONS {
        MAX_ANNOTATIONS - 1
    } else {
        rows.len()
    };
    let mut out = String::new();
    for row in &rows[..shown] {
        let mut msg = row.headline.clone();
        if let Some(dir) = &row.project {
            let _ = write!(msg, "; project {dir}");
        }
        if let Some(t) = row.test.as_ref().and_then(|t| t.name.as_deref()) {
            let _ = write!(msg, "; test {}", visible(t));
        }
        let _ = write!(msg, "; {}", row.done);
        let file = row
            .file()
            .map(|f| format!("file={},", escape_property(&mask_tokens(&visible(f)))))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "::error {file}title={}::{}",
            escape_property("kitty-leakcheck: leak"),
            escape_data(&mask_tokens(&msg))
        );
    }
    if rows.len() > shown {
        let _ = writeln!(
            out,
            "::error title={}::{} more leaks: see the job summary and the JUnit report",
            escape_property("kitty-leakcheck: leak"),
            rows.len() - shown
        );
    }
    out
}

/// The job summary: one heading whose totals are the JSON `summary`'s, and
/// one table of every leak (those the wrappers recorded included: what,
/// port, pid, project, test, what was done), or one line saying nothing
/// leaked. Every cell is escaped for Markdown and HTML ([`cell`]).
pub fn step_summary(report: &RunFindings) -> String {
    let rows = rows(report);
    let totals = report.summary();
    let mut out = String::new();
    let what = match report.mode {
        ReportMode::Check => "since the baseline",
        _ => "in the run",
    };
    if rows.is_empty() {
        let _ = writeln!(
            out,
            "### kitty-leakcheck: nothing leaked on ports {} {what}\n",
            report.ports
        );
        return out;
    }
    let _ = writeln!(
        out,
        "### kitty-leakcheck: {} leak{} on ports {} {what} ({} reaped, {} left alone, {} could not be stopped)\n",
        totals.leaks,
        if totals.leaks == 1 { "" } else { "s" },
        report.ports,
        totals.reaped,
        totals.left_alone,
        totals.reap_failed,
    );
    let _ = writeln!(out, "| what | port | pid | project | test | done |");
    let _ = writeln!(out, "| --- | ---: | ---: | --- | --- | --- |");
    for row in &rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            row.what(),
            row.port.map(|p| p.to_string()).unwrap_or_default(),
            row.pid.map(|p| p.to_string()).unwrap_or_default(),
            cell(row.project.as_deref().unwrap_or_default()),
            cell(&row.test.as_ref().map(|t| t.describe()).unwrap_or_default()),
            cell(&if row.fails {
                row.done.clone()
            } else {
                format!("{} (not a failure)", row.done)
            }),
        );
    }
    out.push('\n');
    out
}

/// A table cell: tokens masked, controls shown ([`visible`]: a newline as
/// `\n`, so a cell is one line), `&`, `<`, `>` as HTML entities (GitHub
/// renders HTML in Markdown), and every Markdown punctuation character a
/// cell could misread (`| * _ ` [ ] \ # ~ !`) escaped with a backslash.
fn cell(s: &str) -> String {
    let mut out = String::new();
    for c in visible(&mask_tokens(s)).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '|' | '*' | '_' | '`' | '[' | ']' | '\\' | '#' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
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
            md.contains("| dashboard | 9240 | 4242 | /tmp/p | leaks\\_one in mini::it |"),
            "{md}"
        );
        assert!(!md.contains(crate::report::human::tests::TOKEN), "{md}");
    }

    #[test]
    fn a_cell_shows_markdown_and_html_as_text() {
        assert_eq!(
            cell("tests/x.py::test_y[<b>*x*|`c`]"),
            "tests/x.py::test\\_y\\[&lt;b&gt;\\*x\\*\\|\\`c\\`\\]"
        );
        assert_eq!(
            cell("a\nb & c"),
            "a\\\\nb &amp; c",
            "shown as a backslash and n"
        );
    }

    #[test]
    fn annotations_name_the_pytest_file_and_stop_at_ten_with_a_count() {
        use crate::findings::run::{Runner, TestLabel};
        let mut r = crate::report::human::tests::report_with_a_leak();
        let mut leak = r.leaks.leaks[0].clone();
        leak.test = Some(TestLabel {
            name: Some("tests/x.py::test_y".into()),
            binary_id: None,
            runner: Runner::Pytest,
        });
        r.leaks.leaks = vec![leak.clone()];
        let one = annotations(&r);
        assert!(one.starts_with("::error file=tests/x.py,title="), "{one}");
        assert_eq!(one.lines().count(), 1, "{one}");
        r.leaks.leaks = vec![leak; 12];
        let many = annotations(&r);
        assert_eq!(many.lines().count(), MAX_ANNOTATIONS, "{many}");
        assert!(
            many.lines().last().is_some_and(
                |l| l.ends_with("::3 more leaks: see the job summary and the JUnit report")
            ),
            "{many}"
        );
        let md = step_summary(&r);
        assert_eq!(md.matches("###").count(), 1, "{md}");
        assert_eq!(md.matches("| dashboard |").count(), 12, "{md}");
        assert!(md.contains("12 leaks"), "{md}");
    }

    #[test]
    fn escapes() {
        assert_eq!(escape_data("a%b\nc"), "a%25b%0Ac");
        assert_eq!(escape_property("a: b, c"), "a%3A b%2C c");
    }
}
