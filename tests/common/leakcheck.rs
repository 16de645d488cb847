//! The `cargo-kitty-leakcheck` binary, as the tests run it, and its JSON
//! report: read, checked for tokens, and validated against the committed
//! JSON Schemas (`cargo-kitty-leakcheck/schema/`).

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use super::detached::TOKEN;
use super::mini::MiniCrate;
use super::scene::Scene;
use super::victim::Background;
use super::{MINUTE, show, target_dir, token_like, workspace_root};

/// `LEAKED` of `cargo-kitty-leakcheck` (see its exit_codes.rs).
pub const LEAKED: i32 = 3;
/// `USAGE`.
pub const USAGE: i32 = 2;
/// `REAP_FAILED`.
pub const REAP_FAILED: i32 = 5;

/// The built `cargo-kitty-leakcheck` binary (scripts/test-all builds it first).
pub fn leakcheck_bin() -> PathBuf {
    let p = target_dir().join("debug/cargo-kitty-leakcheck");
    assert!(
        p.is_file(),
        "{} is missing: run `cargo build -p cargo-kitty-leakcheck` (scripts/test-all does it)",
        p.display()
    );
    p
}

/// Removes from `c` what an outer nextest run (this suite's own, and the
/// `cargo kitty-leakcheck` run around it) exported, such as
/// `NEXTEST_PROFILE`, `NEXTEST_TEST_NAME`, the suite's baseline, run label
/// and records (`KITTY_LEAKCHECK_*`), so that the command sees only what the
/// test gives it.
pub fn without_nextest_env(c: &mut Command) -> &mut Command {
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("NEXTEST")
            || k.to_string_lossy().starts_with("KITTY_LEAKCHECK_")
        {
            c.env_remove(k);
        }
    }
    c
}

/// `cargo-kitty-leakcheck` with none of the outer run's nextest variables,
/// no `KITTY_PORTS` (the ports are the test's to give), stdin on /dev/null.
pub fn leakcheck() -> Command {
    let mut c = Command::new(leakcheck_bin());
    without_nextest_env(&mut c)
        .env_remove("KITTY_PORTS")
        .stdin(Stdio::null());
    c
}

/// The JSON report on stdout: its last line (after COMMAND's own output,
/// which may not end with a newline: the report starts on a line of its own).
/// Its schema is version 1.
pub fn json_report(o: &Output) -> Value {
    let text = String::from_utf8_lossy(&o.stdout);
    let last = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    let v: Value =
        serde_json::from_str(last).unwrap_or_else(|e| panic!("no JSON report ({e}):\n{}", show(o)));
    assert_eq!(v["schema_version"], 1, "{v:#}");
    v
}

/// `cargo-kitty-leakcheck --ports <window> <args>` of `scene` run in `mini`
/// (its cargo and spec-kitty set up as `MiniCrate::cargo` does), with a clean
/// environment: no outer nextest labels, no GITHUB_ACTIONS, no colour.
/// `check` gets no `--ports` (a usage error there: the baseline fixes them).
pub fn in_scene(scene: &Scene, mini: Option<&MiniCrate>, args: &[&str]) -> Command {
    let mut c = leakcheck();
    if args.first() != Some(&"check") {
        c.args(["--ports", scene.ports]);
    }
    c.args(args)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("CARGO_MAKEFLAGS")
        .env_remove("CARGO_TERM_COLOR")
        .env("NO_COLOR", "1")
        .env("KITTY_PORTS", scene.ports)
        .env("LEAK_ROOT", scene.path());
    if let Some(m) = mini {
        m.setup(&mut c);
    }
    c
}

/// The report's `leaks`.
pub fn leaks(report: &Value) -> &Vec<Value> {
    report["leaks"].as_array().expect("leaks")
}

/// The leak on `port`.
pub fn leak_on(report: &Value, port: u16) -> &Value {
    leaks(report)
        .iter()
        .find(|l| l["port"] == port)
        .unwrap_or_else(|| panic!("no leak on port {port}: {report:#}"))
}

/// No token in anything, and nothing token-like in what leakcheck itself
/// printed (its report at the end of stderr, its JSON line); COMMAND's own
/// output (a rustc commit hash in a backtrace) is not ours to mask.
pub fn assert_no_token(o: &Output) {
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        !stdout.contains(TOKEN) && !stderr.contains(TOKEN),
        "a token was printed:\n{}",
        show(o)
    );
    let ours = stderr
        .find("kitty-leakcheck:")
        .map(|i| &stderr[i..])
        .unwrap_or_default();
    let json = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_default();
    for text in [ours, json] {
        let long_hex = token_like(text);
        assert!(
            long_hex.is_none(),
            "something token-like was printed: {long_hex:?}\n{}",
            show(o)
        );
    }
}

/// The committed JSON Schemas of the reports.
#[derive(Debug, Clone, Copy)]
pub enum Schema {
    /// `schema/report-v1.json`: the run, `wrap` and `check` modes.
    Report,
    /// `schema/sweep-v1.json`.
    Sweep,
}

impl Schema {
    fn file(self) -> PathBuf {
        let name = match self {
            Schema::Report => "report-v1.json",
            Schema::Sweep => "sweep-v1.json",
        };
        workspace_root()
            .join("cargo-kitty-leakcheck/schema")
            .join(name)
    }
}

/// Asserts that `report` is valid under the committed `schema` (JSON Schema
/// 2020-12, checked by `boon`), and that every key it has is a property the
/// schema names somewhere: a field added by hand beside the generated types
/// would pass the first check (the schemas allow additional properties, so
/// that newer reports of the same version still validate) but not this one.
pub fn assert_valid(report: &Value, schema: Schema) {
    let path = schema.file();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let schema_json: Value = serde_json::from_str(&text).expect("the schema is JSON");
    let url = format!("file://{}", path.display());
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler
        .add_resource(&url, schema_json.clone())
        .expect("add the schema");
    let index = compiler
        .compile(&url, &mut schemas)
        .unwrap_or_else(|e| panic!("{} does not compile: {e}", path.display()));
    if let Err(e) = schemas.validate(report, index) {
        panic!(
            "the report is not valid under {}:\n{e:#}\n{report:#}",
            path.display()
        );
    }
    let mut named = BTreeSet::new();
    property_names(&schema_json, &mut named);
    let mut keys = BTreeSet::new();
    instance_keys(report, &mut keys);
    let unknown: Vec<_> = keys.difference(&named).collect();
    assert!(
        unknown.is_empty(),
        "report keys {unknown:?} are not in {}:\n{report:#}",
        path.display()
    );
}

/// Reads `path` as a JSON report and [`assert_valid`]s it.
pub fn valid_report_file(path: &Path, schema: Schema) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("no report file {}: {e}", path.display()));
    assert!(
        text.ends_with('\n') && text.lines().count() == 1,
        "{text:?}"
    );
    let report: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON ({e}): {text:?}", path.display()));
    assert_valid(&report, schema);
    report
}

fn property_names(schema: &Value, out: &mut BTreeSet<String>) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::Object(props)) = map.get("properties") {
                out.extend(props.keys().cloned());
            }
            map.values().for_each(|v| property_names(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| property_names(v, out)),
        _ => {}
    }
}

fn instance_keys(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            out.extend(map.keys().cloned());
            map.values().for_each(|v| instance_keys(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| instance_keys(v, out)),
        _ => {}
    }
}

// --- The tool, run to its end (the never-kill suites) ------------------------------------------------------------------

/// `cargo-kitty-leakcheck ARGS` with `envs`, run to its end (a minute at
/// most), with no colour and none of an outer run's nextest variables.
pub fn tool_with(args: &[&OsStr], envs: &[(&str, &OsStr)]) -> Output {
    let mut c = leakcheck();
    c.args(args)
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS");
    for (k, v) in envs {
        c.env(k, v);
    }
    Background::spawn(&mut c).finish(MINUTE)
}

pub fn tool(args: &[&OsStr]) -> Output {
    tool_with(args, &[])
}

/// `cargo-kitty-leakcheck sweep --yes --ports PORTS`.
pub fn sweep(ports: &str) -> Output {
    tool(&os(&["sweep", "--yes", "--ports", ports]))
}

pub fn os<'a>(words: &[&'a str]) -> Vec<&'a OsStr> {
    words.iter().map(|w| OsStr::new(*w)).collect()
}

/// The only assertion on what the tool itself reports: its exit status is
/// one of `allowed`. Checked after the victims (they are what matters).
pub fn assert_tool_exit(o: &Output, allowed: &[i32]) {
    assert!(
        o.status.code().is_some_and(|c| allowed.contains(&c)),
        "cargo-kitty-leakcheck exited {:?}, expected one of {allowed:?}\n{}",
        o.status.code(),
        show(o)
    );
}

/// What just happened, with the tool's output, for a victim's failure message.
pub fn after(what: &str, o: &Output) -> String {
    format!("{what}\n--- cargo-kitty-leakcheck\n{}", show(o))
}
