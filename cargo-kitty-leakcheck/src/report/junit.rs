//! The JUnit XML report (`--junit`, run and check modes): one test case per
//! leak, named after the test that leaked it where its environment says, so
//! that CI dashboards which read JUnit show leaks next to test failures.

use kitty_core::mask_tokens;
use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

use super::human::{action_text, headline};
use super::visible::{visible, visible_path};
use crate::findings::run::{Leak, ReportMode, RunFindings};

/// The report as JUnit XML. A leak is a failed test case (classname
/// `kitty-leakcheck` or the nextest binary id; name the leaking test's, else
/// what leaked and where); what merely appeared beside the run is a skipped
/// one; a run without leaks is one passing test case, so that the suite is
/// never empty.
pub fn report(report: &RunFindings) -> String {
    let suite_name = match report.mode {
        ReportMode::Check => format!("kitty-leakcheck check (ports {})", report.ports),
        _ => format!("kitty-leakcheck (ports {})", report.ports),
    };
    let mut suite = TestSuite::new(suite_name);
    suite.set_time(report.timing.elapsed);
    for leak in &report.leaks.leaks {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
        status
            .set_type("leak")
            .set_message(mask_tokens(&format!("leaked a {}", headline(leak))))
            .set_description(mask_tokens(&details(leak)));
        suite.add_test_case(case(leak, status));
    }
    for seen in &report.leaks.appeared {
        let mut status = TestCaseStatus::skipped();
        status.set_message(mask_tokens(&format!(
            "not started by the run, left alone: {}",
            headline(seen)
        )));
        suite.add_test_case(case(seen, status));
    }
    if report.leaks.leaks.is_empty() {
        let mut ok = TestCase::new("no leaked dashboards", TestCaseStatus::success());
        ok.set_classname("kitty-leakcheck");
        suite.add_test_case(ok);
    }
    let mut junit = quick_junit::Report::new("kitty-leakcheck");
    junit.add_test_suite(suite);
    junit.to_string().unwrap_or_else(|e| {
        format!("<?xml version=\"1.0\"?>\n<!-- cannot serialize the JUnit report: {e} -->\n")
    })
}

fn case(leak: &Leak, status: TestCaseStatus) -> TestCase {
    let name = match leak.test.as_ref().and_then(|t| t.name.clone()) {
        Some(test) => test,
        None => match (leak.pid, leak.port) {
            (Some(pid), Some(port)) => format!("pid {pid} on port {port}"),
            (Some(pid), None) => format!("pid {pid}"),
            (None, Some(port)) => format!("port {port}"),
            (None, None) => "a listener".into(),
        },
    };
    let mut case = TestCase::new(mask_tokens(&visible(&name)), status);
    let classname = leak
        .test
        .as_ref()
        .and_then(|t| t.binary_id.clone())
        .unwrap_or_else(|| "kitty-leakcheck".into());
    case.set_classname(visible(&classname).into_owned());
    case
}

fn details(leak: &Leak) -> String {
    let mut lines = Vec::new();
    if let Some(cmd) = &leak.command_line {
        lines.push(format!("command: {}", visible(cmd)));
    }
    if let Some(dir) = &leak.project_dir {
        lines.push(format!("project: {}", visible_path(dir)));
    }
    lines.push(format!("action: {}", action_text(&leak.action)));
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::human::tests::{TOKEN, report_with_a_leak};

    #[test]
    fn one_failed_case_per_leak_named_after_its_test() {
        let r = report_with_a_leak();
        let xml = report(&r);
        assert!(
            xml.contains(r#"<testcase name="leaks_one" classname="mini::it""#),
            "{xml}"
        );
        assert!(
            xml.contains("<failure") && xml.contains(r#"failures="1""#),
            "{xml}"
        );
        assert!(!xml.contains(TOKEN), "{xml}");
    }
}
