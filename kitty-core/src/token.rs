//! Keeping dashboard tokens out of every line we print: [`Token`], whose
//! `Debug` and `Display` never show it, and [`mask_tokens`] for text.

use std::fmt;

/// A dashboard's API token (`/api/shutdown` wants it). `Debug` and `Display`
/// print `<token>`; only [`Token::expose`] gives the secret, for the request
/// that needs it. Types holding one derive `Debug` safely.
///
/// ```
/// use kitty_core::Token;
/// let t = Token::new("0123456789abcdef0123456789abcdef");
/// assert_eq!(format!("{t} {t:?}"), "<token> <token>");
/// assert_eq!(t.expose().len(), 32);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Token(String);

impl Token {
    /// Wraps a token.
    pub fn new(secret: impl Into<String>) -> Self {
        Token(secret.into())
    }

    /// The secret itself. Never print or log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<token>")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<token>")
    }
}

/// Replaces every run of 32 or more hex digits (spec-kitty's tokens are
/// `secrets.token_hex(16)`, and ours are made the same way) with `<token>`.
///
/// ```
/// use kitty_core::mask_tokens;
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
    }
}
