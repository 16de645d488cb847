//! Keeping dashboard tokens out of every line we print.

/// Replaces every run of 32 or more hex digits (spec-kitty's tokens are
/// `secrets.token_hex(16)`, and ours are made the same way) with `<token>`.
///
/// ```
/// use kitty_fixtures::probe::mask_tokens;
/// assert_eq!(
///     mask_tokens("python -m specify_cli.dashboard._server_main /p 9237 0123456789abcdef0123456789abcdef"),
///     "python -m specify_cli.dashboard._server_main /p 9237 <token>",
/// );
/// ```
pub fn mask_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 32 {
            out.push_str("<token>");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for ch in text.chars() {
        if ch.is_ascii_hexdigit() {
            run.push(ch);
        } else {
            flush(&mut run, &mut out);
            out.push(ch);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Replaces every occurrence of a known `secret` in `text` with `<token>`,
/// then masks anything else that looks like a token.
pub fn mask_secret(text: &str, secret: Option<&str>) -> String {
    match secret {
        Some(s) if !s.is_empty() => mask_tokens(&text.replace(s, "<token>")),
        _ => mask_tokens(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_hex_is_kept() {
        assert_eq!(
            mask_tokens("pid cafe port 9237 deps/foo-0123456789abcdef"),
            "pid cafe port 9237 deps/foo-0123456789abcdef"
        );
        assert_eq!(
            mask_tokens("'AAAAbbbbccccddddeeeeffff0000111122'"),
            "'<token>'"
        );
        assert_eq!(mask_secret("tok=s3cr3t!", Some("s3cr3t!")), "tok=<token>");
    }
}
