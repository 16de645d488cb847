//! The baseline file of `cargo kitty-leakcheck check --baseline FILE`
//! (`read_baseline` in cargo-kitty-leakcheck/src/baseline.rs).
//!
//! cargo-kitty-leakcheck is a binary crate with no library target, so this
//! target compiles its baseline.rs itself, unchanged (`#[path]` below), with
//! what it takes from the rest of the binary: the escaping of paths for
//! people (`report/visible.rs`, compiled as it is too), and a stand-in for
//! the three variants of `crate::errors::Error` it builds (the real enum
//! needs the rest of the binary). The input is written to a file and read
//! with the real `read_baseline`, the function `check` calls.
//!
//! Asserts: an error is `BadBaseline`, one line that names the file (what
//! its doc comment and unit test promise); an accepted baseline has the
//! schema version this build reads, and what `write_baseline` writes of it
//! is read back to the same baseline.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
mod errors {
    //! The variants of cargo-kitty-leakcheck's `errors::Error` that
    //! baseline.rs builds.
    use std::path::PathBuf;

    #[derive(Debug)]
    pub enum Error {
        BadBaseline(String),
        EncodeBaseline(serde_json::Error),
        WriteBaseline {
            path: PathBuf,
            source: std::io::Error,
        },
    }
}

#[allow(dead_code, clippy::all)]
#[path = "../../cargo-kitty-leakcheck/src/baseline.rs"]
mod baseline;

/// What baseline.rs uses of cargo-kitty-leakcheck's `report` module.
#[path = "../../cargo-kitty-leakcheck/src/report"]
mod report {
    #[allow(dead_code)]
    pub mod visible;
}

/// One file for the whole run, in memory when /dev/shm exists.
fn file() -> &'static PathBuf {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let base = std::path::Path::new("/dev/shm");
        let base = if base.is_dir() {
            base.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        base.join(format!("kitty-fuzz-baseline-{}.json", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let path = file();
    std::fs::write(path, data).expect("write the baseline");
    match baseline::read_baseline(path) {
        Err(errors::Error::BadBaseline(e)) => {
            assert!(!e.contains('\n'), "not one line: {e}");
            assert!(
                e.contains(&path.display().to_string()),
                "does not name the file: {e}"
            );
        }
        Err(e) => panic!("reading is BadBaseline or nothing: {e:?}"),
        Ok(b) => {
            assert_eq!(b.schema_version, baseline::BASELINE_SCHEMA_VERSION);
            std::fs::remove_file(path).expect("make room");
            baseline::write_baseline(path, &b).expect("write it back");
            let again = baseline::read_baseline(path).expect("what we wrote reads back");
            assert_eq!(
                format!("{again:?}"),
                format!("{b:?}"),
                "the round trip changed it"
            );
        }
    }
});
