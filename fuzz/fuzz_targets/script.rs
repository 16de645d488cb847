//! spec-kitty 0.5.x's `python -c` server script: `parse_script`, and the
//! decoder of Python's `repr` of a str (`python_str`) it uses for the
//! project dir and the token, both through `DashboardCommand::parse`.
//!
//! Each input is used twice:
//! 1. as the script itself (`python3 -c <input>`): a recognised script
//!    names a non-zero port whose digits it contains, its dir written back
//!    as `repr` reads back the same, and its `Debug` is that of the same
//!    dir and port with another token;
//! 2. split at its first NUL into a project dir (any bytes) and a token
//!    (UTF-8, lossy), written into the script as Python's `repr` writes
//!    them (surrogateescape for bytes that are not UTF-8; the first byte
//!    picks quoting and escape style): the command must give back exactly
//!    that dir, port and token, and print the same `Debug` with another token.
#![no_main]

use std::os::unix::ffi::OsStrExt;

use kitty_core::spec_kitty::{CommandForm, DashboardCommand};
use libfuzzer_sys::fuzz_target;

const IMPORT: &str = "from specify_cli.dashboard.server import run_dashboard_server";

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// A Python `repr` of the str `os.fsdecode(bytes)` (surrogateescape):
/// `style` bit 0 escapes every non-ASCII char (`\xNN`/`\uNNNN`/`\UNNNNNNNN`,
/// as `ascii()` does), bit 1 prefers double quotes.
fn repr(bytes: &[u8], style: u8) -> String {
    let mut s = String::new();
    let push_char = |s: &mut String, c: char, quote: char| match c {
        '\\' => s.push_str("\\\\"),
        '\n' => s.push_str("\\n"),
        '\r' => s.push_str("\\r"),
        '\t' => s.push_str("\\t"),
        c if c == quote => {
            s.push('\\');
            s.push(c);
        }
        c if (c as u32) < 0x20 || c as u32 == 0x7f => s.push_str(&format!("\\x{:02x}", c as u32)),
        c if style & 1 == 1 && !c.is_ascii() => match c as u32 {
            n @ 0..=0xff => s.push_str(&format!("\\x{n:02x}")),
            n @ 0..=0xffff => s.push_str(&format!("\\u{n:04x}")),
            n => s.push_str(&format!("\\U{n:08x}")),
        },
        c => s.push(c),
    };
    let quote = if style & 2 == 2 { '"' } else { '\'' };
    s.push(quote);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            push_char(&mut s, c, quote);
        }
        for b in chunk.invalid() {
            s.push_str(&format!("\\udc{b:02x}"));
        }
    }
    s.push(quote);
    s
}

fn script(dir: &str, port: u16, token: &str) -> String {
    format!(
        "\nimport sys\nfrom pathlib import Path\nrepo_root = Path('/v/lib/python3.11/site-packages')\n\
         sys.path.insert(0, str(repo_root))\n{IMPORT}\n\
         run_dashboard_server(Path({dir}), {port}, {token})\n"
    )
}

fuzz_target!(|data: &[u8]| {
    // 1. The input as the script.
    let argv = [b"python3".as_slice(), b"-c", data].map(|a| std::ffi::OsStr::from_bytes(a));
    if let Some(cmd) = DashboardCommand::parse(&argv) {
        assert_eq!(cmd.form, CommandForm::Script);
        let port = cmd.port.expect("port");
        assert_ne!(port, 0);
        assert!(contains(data, port.to_string().as_bytes()));
        // The same dir and port in spec-kitty's own script, with another
        // token: the same dir back, and the same Debug (it shows no token).
        let dir = cmd.project_dir.as_os_str().as_bytes();
        let text = script(&repr(dir, 0), port, &repr(b"T", 0));
        let again = DashboardCommand::parse(&["python3", "-c", &text]).expect("recognised");
        assert_eq!(again.project_dir, cmd.project_dir);
        if cmd.token().is_some() {
            assert_eq!(
                format!("{cmd:?}"),
                format!("{again:?}"),
                "Debug shows the token"
            );
        }
    }

    // 2. A dir and a token of the input, written as spec-kitty writes them.
    let Some((&style, rest)) = data.split_first() else {
        return;
    };
    let (dir, token) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (
            &rest[..i],
            Some(String::from_utf8_lossy(&rest[i + 1..]).into_owned()),
        ),
        None => (rest, None),
    };
    let port = (u16::from(style) * 257).max(1);
    let token_repr = token
        .as_ref()
        .map_or("None".to_string(), |t| repr(t.as_bytes(), style >> 2));
    let text = script(&repr(dir, style), port, &token_repr);
    let cmd = DashboardCommand::parse(&["python3", "-c", &text])
        .unwrap_or_else(|| panic!("spec-kitty's own script is not recognised: {text:?}"));
    assert_eq!(cmd.project_dir.as_os_str().as_bytes(), dir, "{text:?}");
    assert_eq!(cmd.port, Some(port));
    assert_eq!(cmd.token(), token.as_deref());
    if let Some(t) = &token {
        let other = if t == "T" { "U" } else { "T" };
        let text = script(&repr(dir, style), port, &repr(other.as_bytes(), 0));
        let again = DashboardCommand::parse(&["python3", "-c", &text]).expect("recognised");
        assert_eq!(
            format!("{cmd:?}"),
            format!("{again:?}"),
            "Debug shows the token"
        );
    }
});
