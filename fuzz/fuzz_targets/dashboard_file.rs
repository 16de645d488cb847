//! `.kittify/.dashboard` (`DashboardFile::parse`), which any process able
//! to write into a project can fill with anything.
//!
//! Asserts: parsing is deterministic; the url is a masked, non-empty,
//! stripped line (masking it again changes nothing); a port or pid is
//! non-zero; `Debug` is that of the same file with another token; and what `DashboardFile::write` writes of a parsed file reads
//! back equal (whenever it has a port: the format has no way to write a
//! missing port before a token, and only `DashboardFile::new`, which always
//! has one, is ever written).
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use kitty_core::mask_tokens;
use kitty_core::spec_kitty::DashboardFile;
use libfuzzer_sys::fuzz_target;

/// One project dir for the whole run, in memory when /dev/shm exists.
fn project() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = std::path::Path::new("/dev/shm");
        let base = if base.is_dir() {
            base.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("kitty-fuzz-dashboard-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("project dir");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(f) = DashboardFile::parse(data) else {
        return;
    };
    assert_eq!(DashboardFile::parse(data).as_ref(), Ok(&f));
    assert!(!f.url.is_empty() && f.url.trim() == f.url, "{:?}", f.url);
    assert_eq!(mask_tokens(&f.url), f.url);
    assert_ne!(f.port, Some(0));
    assert_ne!(f.pid, Some(0));
    if let Some(t) = f.token() {
        assert!(!t.is_empty());
        // The same file with another token prints the same.
        let other = if t == "T" { "U" } else { "T" };
        let mut g = DashboardFile::new(1, Some(other.into()), None);
        (g.url, g.port, g.pid) = (f.url.clone(), f.port, f.pid);
        assert_eq!(format!("{f:?}"), format!("{g:?}"), "Debug shows the token");
    }
    if f.port.is_some() {
        f.write(project()).expect("write");
        let back = DashboardFile::read(project())
            .expect("read")
            .expect("a file");
        assert_eq!(back, f, "what write wrote reads back otherwise");
    }
});
