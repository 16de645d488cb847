//! The JUnit XML report (`--junit`, run and check modes): one test case per
//! leak, named as the runner that ran the leaking test names it in its own
//! JUnit (nextest: the binary id and the test; pytest: its dotted classname
//! and the function with its parameters), so that CI dashboards which read
//! JUnit show each leak on the test's own row, next to its failure.
//!
//! What the file holds, attribute by attribute (the unit tests below compare
//! it with nextest 0.9.143's own file, `tests-data/`; `tests/leakcheck_reports.rs`
//! validates real files against the Jenkins `junit-10.xsd` pytest checks
//! its own JUnit with):
//!
//! - `testsuites`: `name="kitty-leakcheck"`, `tests`, `skipped`, `failures`,
//!   `errors`, `timestamp` (when the mode began, UTC, RFC 3339 in ms) and
//!   `time` (how long it ran, in seconds), as nextest writes them;
//! - one `testsuite` (`kitty-leakcheck (ports P)`, or `kitty-leakcheck check
//!   (ports P)`) with the same counts, `timestamp` and `time`;
//! - a `testcase` per leak (`name`, `classname`, `time`: how long stopping it
//!   took when it was reaped, else 0; `file` for a pytest test) holding a
//!   `<failure type="leak" message="leaked a ...">` whose text is the command
//!   line, project and action; a skipped `testcase` for each dashboard that
//!   merely appeared beside the run; one passing `testcase` (`no leaked
//!   dashboards`) when nothing leaked, so that the suite is never empty.
//!
//! Names never hold a pid (a new case on every run for history and flaky
//! trackers); text from outside is shown with [`visible`] and never carries a
//! token ([`mask_tokens`]).

use std::time::Duration;

use kitty_core::mask_tokens;
use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite, XmlString};

use super::rows::{LeakRow, rows};
use super::visible::visible;
use crate::findings::run::{LeakKind, ReportMode, RunFindings, Runner, TestLabel};

/// The classname of a case no runner named (and of the passing case).
const CLASSNAME: &str = "kitty-leakcheck";

/// The report as JUnit XML (what it holds: this module's documentation).
pub fn report(report: &RunFindings) -> String {
    let suite_name = match report.mode {
        ReportMode::Check => format!("kitty-leakcheck check (ports {})", report.ports),
        _ => format!("kitty-leakcheck (ports {})", report.ports),
    };
    let started = chrono::DateTime::<chrono::Utc>::from(report.timing.started);
    let mut suite = TestSuite::new(suite_name);
    suite.set_timestamp(started).set_time(report.timing.elapsed);
    let rows = rows(report);
    for row in &rows {
        let status = if row.fails {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status
                .set_type("leak")
                .set_message(mask_tokens(&format!("leaked a {}", row.headline)))
                .set_description(mask_tokens(&details(row)));
            status
        } else {
            // Reported, not a failure (an allowed survivor, or a kind the
            // profile's `fail` does not name).
            let mut status = TestCaseStatus::skipped();
            status.set_message(mask_tokens(&format!(
                "left by the run, not a failure: {}; {}",
                row.headline, row.done
            )));
            status
        };
        suite.add_test_case(case(row, status));
    }
    for seen in &report.leaks.appeared {
        let row = LeakRow::of_leak(seen, report.mode);
        let mut status = TestCaseStatus::skipped();
        status.set_message(mask_tokens(&format!(
            "not started by the run, left alone: {}",
            row.headline
        )));
        suite.add_test_case(case(&row, status));
    }
    if !rows.iter().any(|r| r.fails) {
        let mut ok = TestCase::new("no leaked dashboards", TestCaseStatus::success());
        ok.set_classname(CLASSNAME).set_time(Duration::ZERO);
        suite.add_test_case(ok);
    }
    let mut junit = quick_junit::Report::new("kitty-leakcheck");
    junit.set_timestamp(started).set_time(report.timing.elapsed);
    junit.add_test_suite(suite);
    junit.to_string().unwrap_or_else(|e| {
        format!("<?xml version=\"1.0\"?>\n<!-- cannot serialize the JUnit report: {e} -->\n")
    })
}

/// A leak's case: named as its test's runner names it in its own JUnit
/// ([`CaseName::of`]), timed by its stop.
fn case(row: &LeakRow, status: TestCaseStatus) -> TestCase {
    let CaseName {
        classname,
        name,
        file,
    } = CaseName::of(row);
    let clean = |s: &str| mask_tokens(&visible(s));
    let mut case = TestCase::new(clean(&name), status);
    case.set_classname(clean(&classname))
        .set_time(row.stop_time);
    if let Some(file) = file {
        case.extra
            .insert(XmlString::new("file"), XmlString::new(clean(&file)));
    }
    case
}

/// A case's identity, before escaping.
#[derive(Debug, PartialEq, Eq)]
struct CaseName {
    classname: String,
    name: String,
    /// The test's file, when its runner says (pytest).
    file: Option<String>,
}

impl CaseName {
    /// A leak named after its test when its environment names one: pytest's
    /// own classname and name ([`CaseName::pytest`]), nextest's binary id and
    /// test name, a kitty-fixtures test's name; else after what leaked and
    /// where, without a pid ([`unnamed`]).
    fn of(leak: &LeakRow) -> Self {
        match leak.test.as_ref() {
            Some(TestLabel {
                name: Some(name),
                runner: Runner::Pytest,
                ..
            }) => Self::pytest(name),
            Some(TestLabel {
                name: Some(name),
                binary_id,
                ..
            }) => CaseName {
                classname: binary_id.clone().unwrap_or_else(|| CLASSNAME.into()),
                name: name.clone(),
                file: None,
            },
            _ => CaseName {
                classname: leak
                    .test
                    .as_ref()
                    .and_then(|t| t.binary_id.clone())
                    .unwrap_or_else(|| CLASSNAME.into()),
                name: unnamed(leak),
                file: None,
            },
        }
    }

    /// pytest's JUnit names for the node id `nodeid`
    /// (`tests/sub/test_x.py::TestC::test_y[p]`), as pytest 8's
    /// `mangle_test_address` makes them: the parameters (from the first `[`)
    /// stay with the name; the rest splits at `::`; in its first part (the
    /// file) `/` becomes `.` and a final `.py` goes; the classname is every
    /// part but the last joined with `.` (`tests.sub.test_x.TestC`), the name
    /// the last with the parameters (`test_y[p]`). `file` is the node id's
    /// file (pytest's `file` attribute of the `xunit1` family).
    fn pytest(nodeid: &str) -> Self {
        let (path, params) = nodeid.split_at(nodeid.find('[').unwrap_or(nodeid.len()));
        let mut parts: Vec<String> = path.split("::").map(str::to_string).collect();
        let file = parts.first().cloned().filter(|_| parts.len() > 1);
        if let Some(first) = parts.first_mut() {
            let dotted = first.replace('/', ".");
            *first = dotted.strip_suffix(".py").unwrap_or(&dotted).to_string();
        }
        let mut name = parts.pop().unwrap_or_default();
        name.push_str(params);
        CaseName {
            classname: parts.join("."),
            name,
            file,
        }
    }
}

/// What leaked and where, without a pid (which changes on every run): `dashboard
/// of /tmp/x on port 9240`, `sync daemon on port 9400`, `listener on port 9240`.
fn unnamed(leak: &LeakRow) -> String {
    let what = match leak.kind {
        LeakKind::Dashboard => "dashboard",
        LeakKind::SyncDaemon => "sync daemon",
        LeakKind::Foreign => "listener",
        LeakKind::Server => "server",
        LeakKind::Process => "process",
    };
    let of = match (&leak.project, leak.kind) {
        (Some(dir), LeakKind::Dashboard) => format!(" of {dir}"),
        _ => String::new(),
    };
    let on = leak
        .port
        .map(|p| format!(" on port {p}"))
        .unwrap_or_default();
    format!("{what}{of}{on}")
}

fn details(leak: &LeakRow) -> String {
    let mut lines = Vec::new();
    if let Some(cmd) = &leak.command_line {
        lines.push(format!("command: {cmd}"));
    }
    if let Some(dir) = &leak.project {
        lines.push(format!("project: {dir}"));
    }
    lines.push(format!("action: {}", leak.done));
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::findings::run::{Action, Leak, Timing};
    use crate::report::human::tests::{TOKEN, leak, report_with_a_leak};

    /// `report_with_a_leak` with `leaks` instead.
    fn report_of(leaks: Vec<Leak>) -> RunFindings {
        let mut r = report_with_a_leak();
        r.leaks.leaks = leaks;
        r
    }

    fn pytest_leak(nodeid: &str) -> Leak {
        Leak {
            test: Some(TestLabel {
                name: Some(nodeid.into()),
                binary_id: None,
                runner: Runner::Pytest,
            }),
            ..leak()
        }
    }

    fn unnamed_leak() -> Leak {
        Leak {
            test: None,
            ..leak()
        }
    }

    fn names(classname: &str, name: &str, file: Option<&str>) -> CaseName {
        CaseName {
            classname: classname.into(),
            name: name.into(),
            file: file.map(str::to_string),
        }
    }

    #[test]
    fn one_failed_case_per_leak_named_after_its_test() {
        let r = report_with_a_leak();
        let xml = report(&r);
        assert!(
            xml.contains(r#"<testcase name="leaks_one" classname="mini::it" time="0.000">"#),
            "{xml}"
        );
        assert!(
            xml.contains("<failure") && xml.contains(r#"failures="1""#),
            "{xml}"
        );
        assert!(!xml.contains(TOKEN), "{xml}");
    }

    #[test]
    fn the_report_and_its_suite_carry_timestamp_and_time() {
        // 1_796_000_000 s after the epoch, for 1.234 s (report_with_a_leak).
        let xml = report(&report_with_a_leak());
        let stamp = r#"timestamp="2026-11-30T00:53:20.000+00:00" time="1.234""#;
        assert_eq!(xml.matches(stamp).count(), 2, "{xml}");
        assert!(
            xml.contains(r#"<testsuites name="kitty-leakcheck""#),
            "{xml}"
        );

        let mut r = report_with_a_leak();
        r.timing = Timing {
            started: std::time::UNIX_EPOCH + Duration::from_millis(1_796_000_000_789),
            elapsed: Duration::from_micros(62_500_400),
        };
        let xml = report(&r);
        let stamp = r#"timestamp="2026-11-30T00:53:20.789+00:00" time="62.500""#;
        assert_eq!(xml.matches(stamp).count(), 2, "{xml}");
    }

    #[test]
    fn a_reaped_leak_s_case_takes_its_stop_s_time_and_others_zero() {
        let stopped = kitty_core::Stopped {
            pid: 4242,
            signal: None,
            escalated: false,
            group: false,
            members: Vec::new(),
            left_alone: Vec::new(),
            elapsed: Duration::from_millis(1520),
        };
        let reaped = Leak {
            action: Action::Reaped {
                stopped,
                dashboard_file_removed: true,
            },
            ..leak()
        };
        let xml = report(&report_of(vec![reaped, unnamed_leak()]));
        assert!(
            xml.contains(r#"<testcase name="leaks_one" classname="mini::it" time="1.520">"#),
            "{xml}"
        );
        assert!(
            xml.contains(
                r#"<testcase name="dashboard of /tmp/p on port 9240" classname="kitty-leakcheck" time="0.000">"#
            ),
            "{xml}"
        );
        // The passing case of a clean run is timed too.
        let xml = report(&report_of(Vec::new()));
        assert!(
            xml.contains(
                r#"<testcase name="no leaked dashboards" classname="kitty-leakcheck" time="0.000"/>"#
            ),
            "{xml}"
        );
    }

    #[test]
    fn a_leak_no_test_names_is_named_by_what_and_where_never_by_pid() {
        let cases = [
            (unnamed_leak(), "dashboard of /tmp/p on port 9240"),
            (
                Leak {
                    port: None,
                    ..unnamed_leak()
                },
                "dashboard of /tmp/p",
            ),
            (
                Leak {
                    project_dir: None,
                    ..unnamed_leak()
                },
                "dashboard on port 9240",
            ),
            (
                Leak {
                    kind: LeakKind::Foreign,
                    ..unnamed_leak()
                },
                "listener on port 9240",
            ),
            (
                Leak {
                    kind: LeakKind::SyncDaemon,
                    ..unnamed_leak()
                },
                "sync daemon on port 9240",
            ),
            (
                Leak {
                    kind: LeakKind::Foreign,
                    pid: None,
                    port: None,
                    ..unnamed_leak()
                },
                "listener",
            ),
            // A label without a name (a nextest binary id alone).
            (
                Leak {
                    test: Some(TestLabel {
                        name: None,
                        binary_id: Some("mini::it".into()),
                        runner: Runner::Nextest,
                    }),
                    ..leak()
                },
                "dashboard of /tmp/p on port 9240",
            ),
        ];
        for (leak, want) in cases {
            let got = CaseName::of(&LeakRow::of_leak(&leak, ReportMode::Run));
            assert_eq!(got.name, want, "{leak:?}");
            assert!(!got.name.contains("4242"), "{got:?}");
        }
        let xml = report(&report_of(vec![unnamed_leak()]));
        assert!(
            xml.contains(r#"name="dashboard of /tmp/p on port 9240" classname="kitty-leakcheck""#),
            "{xml}"
        );
    }

    #[test]
    fn an_unnamed_leak_s_name_is_visible_and_token_free() {
        let dir = format!("/tmp/\u{1b}[2J{TOKEN}");
        let leak = Leak {
            project_dir: Some(dir.into()),
            ..unnamed_leak()
        };
        let xml = report(&report_of(vec![leak]));
        assert!(!xml.contains(TOKEN) && !xml.contains('\u{1b}'), "{xml}");
        assert!(xml.contains(r#"name="dashboard of /tmp/\x1b[2J"#), "{xml}");
    }

    // pytest 8.4.2's JUnit (`--junitxml`, the default family xunit2), measured:
    // tests/sub/test_x.py::TestC::test_y[a]   classname="tests.sub.test_x.TestC" name="test_y[a]"
    // tests/sub/test_x.py::TestC::test_y[b::c] classname="tests.sub.test_x.TestC" name="test_y[b::c]"
    // tests/sub/test_x.py::TestC::test_y[x.y] classname="tests.sub.test_x.TestC" name="test_y[x.y]"
    // tests/sub/test_x.py::TestC::TestInner::test_deep classname="tests.sub.test_x.TestC.TestInner" name="test_deep"
    // tests/sub/test_x.py::test_plain         classname="tests.sub.test_x" name="test_plain"
    // tests/sub/test_x.py::test_param[1]      classname="tests.sub.test_x" name="test_param[1]"
    // test_top.py::test_top                   classname="test_top" name="test_top"
    // and `-o junit_family=xunit1` adds file="tests/sub/test_x.py" (and line).

    #[test]
    fn a_pytest_function_at_the_top_is_named_as_pytest_does() {
        assert_eq!(
            CaseName::pytest("test_top.py::test_top"),
            names("test_top", "test_top", Some("test_top.py"))
        );
    }

    #[test]
    fn a_pytest_function_in_a_package_is_named_as_pytest_does() {
        assert_eq!(
            CaseName::pytest("tests/sub/test_x.py::test_plain"),
            names(
                "tests.sub.test_x",
                "test_plain",
                Some("tests/sub/test_x.py")
            )
        );
    }

    #[test]
    fn a_parametrized_pytest_function_is_named_as_pytest_does() {
        assert_eq!(
            CaseName::pytest("tests/sub/test_x.py::test_param[1]"),
            names(
                "tests.sub.test_x",
                "test_param[1]",
                Some("tests/sub/test_x.py")
            )
        );
    }

    #[test]
    fn a_pytest_method_is_named_as_pytest_does() {
        assert_eq!(
            CaseName::pytest("tests/sub/test_x.py::TestC::test_y"),
            names(
                "tests.sub.test_x.TestC",
                "test_y",
                Some("tests/sub/test_x.py")
            )
        );
    }

    #[test]
    fn a_parametrized_pytest_method_keeps_its_parameters_whole() {
        // `::`, `.` and `/` inside the brackets are the parameter's own.
        for param in ["a", "b::c", "x.y", "a/b.py"] {
            assert_eq!(
                CaseName::pytest(&format!("tests/sub/test_x.py::TestC::test_y[{param}]")),
                names(
                    "tests.sub.test_x.TestC",
                    &format!("test_y[{param}]"),
                    Some("tests/sub/test_x.py")
                )
            );
        }
    }

    #[test]
    fn a_pytest_method_of_a_nested_class_is_named_as_pytest_does() {
        assert_eq!(
            CaseName::pytest("tests/sub/test_x.py::TestC::TestInner::test_deep"),
            names(
                "tests.sub.test_x.TestC.TestInner",
                "test_deep",
                Some("tests/sub/test_x.py")
            )
        );
    }

    #[test]
    fn a_pytest_node_id_without_a_function_is_named_as_pytest_would() {
        // mangle_test_address on a bare file: no classname, the dotted file as the name.
        assert_eq!(
            CaseName::pytest("tests/test_x.py"),
            names("", "tests.test_x", None)
        );
    }

    #[test]
    fn a_pytest_leak_s_case_has_pytest_s_classname_name_and_its_file() {
        let xml = report(&report_of(vec![pytest_leak(
            "tests/sub/test_x.py::TestC::test_y[<&>]",
        )]));
        assert!(
            xml.contains(
                r#"<testcase name="test_y[&lt;&amp;&gt;]" classname="tests.sub.test_x.TestC" time="0.000" file="tests/sub/test_x.py">"#
            ),
            "{xml}"
        );
    }

    /// Each element's attribute names in `xml`, over all its occurrences (a
    /// start-tag scanner for files quick-junit wrote: double-quoted values
    /// that hold no `"`, `<` or `>`).
    fn attributes(xml: &str) -> BTreeMap<String, BTreeSet<String>> {
        let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for tag in xml.split('<').skip(1) {
            if tag.starts_with(['?', '/', '!']) {
                continue;
            }
            let tag = &tag[..tag.find('>').expect("a closed tag")];
            let mut words = tag.split_whitespace();
            let element = words.next().expect("an element").trim_end_matches('/');
            let set = found.entry(element.to_string()).or_default();
            for part in tag.split('"').step_by(2) {
                if let Some(attr) = part.trim().strip_suffix('=') {
                    let attr = attr.rsplit(char::is_whitespace).next().expect("a name");
                    set.insert(attr.to_string());
                }
            }
        }
        found
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    /// What a consumer reads in nextest's JUnit, ours holds too, attribute by
    /// attribute; ours leaves out only nextest's run id (`uuid`) and each
    /// case's own start (`testcase` `timestamp`: the Jenkins schema has
    /// neither), and adds only what the schema allows (`testsuite` `time` and
    /// `timestamp`) and pytest's `file`.
    #[test]
    fn our_elements_and_attributes_are_nextest_s() {
        let nextest = attributes(include_str!("../../tests-data/nextest-0.9.143-junit.xml"));
        let ours = {
            let mut all = BTreeMap::new();
            let stopped = kitty_core::Stopped {
                pid: 1,
                signal: None,
                escalated: false,
                group: false,
                members: Vec::new(),
                left_alone: Vec::new(),
                elapsed: Duration::from_millis(3),
            };
            let reaped = Leak {
                action: Action::Reaped {
                    stopped,
                    dashboard_file_removed: false,
                },
                ..leak()
            };
            let mut with_appeared = report_of(vec![reaped, pytest_leak("t.py::test_a")]);
            with_appeared.leaks.appeared = vec![unnamed_leak()];
            for r in [report_of(Vec::new()), with_appeared] {
                for (element, attrs) in attributes(&report(&r)) {
                    all.entry(element)
                        .or_insert_with(BTreeSet::new)
                        .extend(attrs);
                }
            }
            all
        };
        let left_out: BTreeMap<&str, BTreeSet<String>> = [
            ("testsuites", set(&["uuid"])),
            ("testcase", set(&["timestamp"])),
            // nextest's own case output: leakcheck has none to give.
            ("system-out", set(&[])),
            ("system-err", set(&[])),
        ]
        .into();
        let added: BTreeMap<&str, BTreeSet<String>> = [
            ("testsuite", set(&["time", "timestamp"])),
            ("testcase", set(&["file"])),
            // A dashboard that merely appeared (nextest's sample skips none).
            ("skipped", set(&["message"])),
        ]
        .into();
        for (element, theirs) in &nextest {
            if element.starts_with("system-") {
                continue;
            }
            let mine = ours.get(element).unwrap_or_else(|| {
                panic!("no <{element}> in ours: {ours:?}");
            });
            let want: BTreeSet<String> = theirs
                .difference(left_out.get(element.as_str()).unwrap_or(&set(&[])))
                .cloned()
                .chain(added.get(element.as_str()).into_iter().flatten().cloned())
                .collect();
            assert_eq!(
                mine, &want,
                "<{element}>: ours {mine:?}, nextest's {theirs:?}"
            );
        }
        let extra: Vec<&String> = ours.keys().filter(|e| !nextest.contains_key(*e)).collect();
        assert_eq!(extra, ["skipped"], "elements nextest's file has not");
        assert_eq!(
            nextest["testsuites"],
            set(&[
                "name",
                "tests",
                "skipped",
                "failures",
                "errors",
                "uuid",
                "timestamp",
                "time"
            ])
        );
        assert_eq!(
            nextest["failure"],
            set(&["type", "message"]),
            "nextest's sample"
        );
    }
}
