//! `/proc/PID/cmdline` bytes -> argv words (`split_cmdline`) -> dashboard
//! recognition (`DashboardCommand::parse`), as the process table does it.
//!
//! Asserts: the split is lossless (joined back with NULs it is the input);
//! a recognised command came from a `python*` argv[0], its port is non-zero
//! and its digits are in the input (only the 4.x flag form may name no port:
//! `--port 0`), a module-form project dir is one of the argv words (or the
//! value of a `--project-dir=` word); what the writer writes for it is
//! recognised as the same command (the round trip); its `Debug` does not
//! depend on its token (the same argv with another token prints the same),
//! and parsing is deterministic.
#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use kitty_core::fuzzing::split_proc_cmdline;
use kitty_core::spec_kitty::{CommandForm, DashboardCommand, SERVER_FUNCTION, is_sync_daemon};
use libfuzzer_sys::fuzz_target;

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

fuzz_target!(|raw: &[u8]| {
    let argv = split_proc_cmdline(raw);
    if raw.is_empty() {
        assert!(argv.is_empty());
    } else {
        let mut joined = argv
            .iter()
            .map(|a| a.as_bytes())
            .collect::<Vec<_>>()
            .join(&b"\0"[..]);
        if raw.ends_with(b"\0") {
            joined.push(0);
        }
        assert_eq!(joined, raw, "split_cmdline lost bytes: {argv:?}");
    }
    let _ = is_sync_daemon(&argv);
    let Some(cmd) = DashboardCommand::parse(&argv) else {
        return;
    };
    assert_eq!(DashboardCommand::parse(&argv).as_ref(), Some(&cmd));
    let name = Path::new(&argv[0]).file_name().expect("argv[0] has a name");
    assert!(name.as_bytes().starts_with(b"python"), "{argv:?}");
    match cmd.port {
        Some(port) => {
            assert_ne!(port, 0);
            assert!(
                contains(raw, port.to_string().as_bytes()),
                "port {port} is not in the input"
            );
        }
        None => assert_eq!(
            cmd.form,
            CommandForm::ModuleFlags,
            "only --port 0 names no port"
        ),
    }
    let dir = cmd.project_dir.as_os_str().as_bytes();
    match cmd.form {
        CommandForm::Module => {
            assert!(
                argv.iter().any(|a| a.as_bytes() == dir),
                "the project dir is not an argv word"
            );
        }
        CommandForm::ModuleFlags => {
            assert!(
                argv.iter().any(|a| a.as_bytes() == dir
                    || a.as_bytes() == [&b"--project-dir="[..], dir].concat()),
                "the project dir is not an argv word"
            );
        }
        CommandForm::Script => {
            assert!(contains(raw, SERVER_FUNCTION.as_bytes()));
        }
    }
    // The round trip: what the writer writes for this command is it again.
    if let (Some(port), Some(token)) = (cmd.port, cmd.token()) {
        let mut written: Vec<OsString> = vec![argv[0].clone()];
        written.extend(cmd.form.server_args(&cmd.project_dir, port, token));
        let back = DashboardCommand::parse(&written).expect("what we write is recognised");
        assert_eq!(
            (
                back.form,
                back.port,
                back.project_dir.as_path(),
                back.token()
            ),
            (cmd.form, cmd.port, cmd.project_dir.as_path(), Some(token)),
            "the round trip changed the command"
        );
    }
    if let Some(token) = cmd.token() {
        // In the module form the token is the last word: swap it for
        // another one and the Debug output must not change.
        if cmd.form == CommandForm::Module {
            let other = if token == "T" { "U" } else { "T" };
            let mut swapped = argv.clone();
            *swapped.last_mut().expect("argv") = OsString::from_vec(other.as_bytes().to_vec());
            let again = DashboardCommand::parse(&swapped).expect("still a dashboard");
            assert_eq!(again.token(), Some(other));
            assert_eq!(
                format!("{cmd:?}"),
                format!("{again:?}"),
                "Debug shows the token"
            );
        }
    }
});
