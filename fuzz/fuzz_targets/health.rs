//! `GET /api/health` bodies (`Health::parse`): whatever listens on a watched
//! port answers them.
//!
//! Each input is used twice:
//! 1. as the body: parsing is deterministic, and `Debug` of what it parses
//!    to is that of the same answer with another token;
//! 2. split at its first NUL into a project path (any bytes) and a token
//!    (UTF-8, lossy), written as a dashboard's answer the way Python's
//!    `json.dumps` writes it (lone surrogates `\udcXX` for bytes that are not
//!    UTF-8; the first byte picks `ensure_ascii` or not): it must parse to a
//!    dashboard with exactly that path and token.
#![no_main]

use std::os::unix::ffi::OsStrExt;

use kitty_core::spec_kitty::Health;
use libfuzzer_sys::fuzz_target;

/// `json.dumps(str)` of `os.fsdecode(bytes)`; raw UTF-8 where `ensure_ascii`
/// is off and the bytes are UTF-8 (Python could not encode a lone surrogate).
fn json_str(bytes: &[u8], ensure_ascii: bool) -> String {
    let ensure_ascii = ensure_ascii || std::str::from_utf8(bytes).is_err();
    let mut s = String::from("\"");
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => s.push_str("\\\""),
                '\\' => s.push_str("\\\\"),
                '\n' => s.push_str("\\n"),
                '\r' => s.push_str("\\r"),
                '\t' => s.push_str("\\t"),
                '\x08' => s.push_str("\\b"),
                '\x0c' => s.push_str("\\f"),
                c if (c as u32) < 0x20 || (ensure_ascii && !c.is_ascii()) => {
                    let mut units = [0u16; 2];
                    for u in c.encode_utf16(&mut units) {
                        s.push_str(&format!("\\u{u:04x}"));
                    }
                }
                c => s.push(c),
            }
        }
        for b in chunk.invalid() {
            s.push_str(&format!("\\udc{b:02x}"));
        }
    }
    s.push('"');
    s
}

fuzz_target!(|data: &[u8]| {
    // 1. The input as the body.
    if let Some(h) = Health::parse(data) {
        assert_eq!(Health::parse(data).as_ref(), Some(&h));
        if let Some(t) = h.token() {
            let other = if t == "T" { "U" } else { "T" };
            let mut g = Health::parse(format!(r#"{{"status":"","token":"{other}"}}"#).as_bytes())
                .expect("parses");
            (g.status, g.project_path, g.daemon_family) = (
                h.status.clone(),
                h.project_path.clone(),
                h.daemon_family.clone(),
            );
            assert_eq!(g.token(), Some(other));
            assert_eq!(format!("{h:?}"), format!("{g:?}"), "Debug shows the token");
        }
    }

    // 2. A path and a token of the input, answered as a dashboard answers.
    let Some((&style, rest)) = data.split_first() else {
        return;
    };
    let (path, token) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (
            &rest[..i],
            String::from_utf8_lossy(&rest[i + 1..]).into_owned(),
        ),
        None => (rest, String::new()),
    };
    let ensure_ascii = style & 1 == 0;
    let body = format!(
        r#"{{"status": "ok", "project_path": {}, "token": {}, "sync": {{}}, "websocket_status": null, "preflight_warning": null}}"#,
        json_str(path, ensure_ascii),
        json_str(token.as_bytes(), ensure_ascii)
    );
    let h = Health::parse(body.as_bytes())
        .unwrap_or_else(|| panic!("a dashboard's answer does not parse: {body:?}"));
    assert!(h.is_dashboard());
    assert_eq!(
        h.project_path.as_deref().map(|p| p.as_os_str().as_bytes()),
        Some(path),
        "{body:?}"
    );
    assert_eq!(h.token(), Some(token.as_str()));
});
