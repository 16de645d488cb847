//! Hostile argv (`/proc/PID/cmdline` bytes, split as the process table
//! splits them) -> server profiles (`ServerProfile::matches`, `port_of`):
//! Python's built-in `http.server` profile, a profile whose program glob is
//! taken from the input, and a `--port` flag profile.
//!
//! Asserts: both are deterministic; a match has an `argv[0]` whose file
//! name is one of the profile's programs and the profile's tokens
//! consecutively after it; the same argv behind a wrapper (`timeout 60`) is
//! no match; a port is only read of a match, is non-zero, and is the
//! default or written in the input; a `*` program matches every argv and
//! a glob-free program matches its own name.
#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

use kitty_core::fuzzing::split_proc_cmdline;
use kitty_core::server::{OptionGrammar, PortArg, ServerProfile};
use libfuzzer_sys::fuzz_target;

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

fn file_name(argv0: &OsString) -> &[u8] {
    let b = argv0.as_bytes();
    b.rsplit(|&c| c == b'/').next().unwrap_or(b)
}

fn check(profile: &ServerProfile, argv: &[OsString], raw: &[u8], default: Option<u16>) {
    let matched = profile.matches(argv);
    assert_eq!(profile.matches(argv), matched, "matches is deterministic");
    let port = profile.port_of(argv);
    assert_eq!(profile.port_of(argv), port, "port_of is deterministic");
    // The served directory is read from the input, never made up.
    if let Some(dir) = profile.directory_of(argv) {
        assert!(matched, "a directory of no match: {argv:?}");
        assert!(
            contains(raw, dir.as_encoded_bytes()),
            "directory {dir:?} is not in the input"
        );
    }
    if matched {
        let n = profile.args.len();
        assert!(
            n == 0
                || argv[1..]
                    .windows(n)
                    .any(|w| w.iter().zip(&profile.args).all(|(a, b)| a == b)),
            "matched without its tokens: {argv:?}"
        );
        let mut wrapped: Vec<OsString> = vec!["timeout".into(), "60".into()];
        wrapped.extend(argv.iter().cloned());
        // Unless its programs match `timeout` itself.
        let probe = ServerProfile {
            args: Vec::new(),
            ..profile.clone()
        };
        if !probe.matches(&["timeout".into()]) {
            assert!(!profile.matches(&wrapped), "a wrapper matched: {wrapped:?}");
        }
    }
    if let Some(port) = port {
        assert!(matched, "a port of no match: {argv:?}");
        assert_ne!(port, 0);
        assert!(
            Some(port) == default || contains(raw, port.to_string().as_bytes()),
            "port {port} is neither the default nor in the input"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    // [glob length][glob][cmdline]
    let (glob, raw) = match data.split_first() {
        Some((&len, rest)) if usize::from(len) <= rest.len() => rest.split_at(usize::from(len)),
        _ => (&[][..], data),
    };
    let argv = split_proc_cmdline(raw);

    let http = ServerProfile::python_http_server();
    check(&http, &argv, raw, Some(8000));
    if http.matches(&argv) {
        let name = file_name(&argv[0]);
        assert!(
            name == b"python" || name == b"python3" || name.starts_with(b"python3."),
            "{argv:?}"
        );
    }

    let glob = String::from_utf8_lossy(glob).into_owned();
    let custom = ServerProfile {
        name: "fuzzed".into(),
        program: vec![glob.clone()],
        args: argv.get(1..2).map(<[OsString]>::to_vec).unwrap_or_default(),
        port: PortArg::Flag {
            names: vec!["--port".into(), "-p".into()],
            options: OptionGrammar {
                with_value: vec!["--host".into(), "-h".into()],
                abbreviations: true,
            },
            default: None,
        },
        ports: None,
        health: None,
        record: None,
        directory: vec!["--dir".into(), "-D".into()],
    };
    check(&custom, &argv, raw, None);

    let any = ServerProfile {
        program: vec!["*".into()],
        args: Vec::new(),
        ..custom.clone()
    };
    assert_eq!(
        any.matches(&argv),
        !argv.is_empty(),
        "`*` matches every argv"
    );
    check(&any, &argv, raw, None);

    if let Some(first) = argv.first() {
        if let Ok(name) = std::str::from_utf8(file_name(first)) {
            if !name.contains(['*', '?']) {
                let own = ServerProfile {
                    program: vec![name.to_owned()],
                    ..any.clone()
                };
                assert!(own.matches(&argv), "its own name did not match: {argv:?}");
            }
        }
    }
});
