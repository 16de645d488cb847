//! The baseline file of `cargo kitty-leakcheck check --baseline FILE`
//! (`read_baseline` in cargo-kitty-leakcheck/src/baseline.rs).
//!
//! cargo-kitty-leakcheck is a binary crate with no library target, so this
//! target compiles its baseline.rs itself, unchanged (`#[path]` below), with
//! what it takes from the rest of the binary: the escaping of paths for
//! people (`report/visible.rs`, compiled as it is too), and a stand-in for the
//! two argument structs of `crate::cli` that `snapshot` reads (`read_baseline`
//! never touches them). The input is written to a file and read with the
//! real `read_baseline`, the function `check` calls.
//!
//! Asserts: an error is one line that names the file (what its doc comment
//! and unit test promise); an accepted baseline has the schema version this
//! build reads and ports that parse, and what serde writes of it is read
//! back to the same JSON.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
mod cli {
    //! What baseline.rs uses of cargo-kitty-leakcheck's `cli` module.
    use std::path::PathBuf;

    use kitty_core::PortSet;

    pub struct CommonArgs {
        pub ports: PortSet,
    }

    pub struct SnapshotArgs {
        pub output: Option<PathBuf>,
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
        Err(e) => {
            assert!(!e.contains('\n'), "not one line: {e}");
            assert!(
                e.contains(&path.display().to_string()),
                "does not name the file: {e}"
            );
        }
        Ok(b) => {
            assert_eq!(b.schema_version, baseline::BASELINE_SCHEMA_VERSION);
            b.ports
                .parse::<kitty_core::PortSet>()
                .expect("accepted ports parse");
            let json = serde_json::to_vec(&b).expect("serialises");
            std::fs::write(path, &json).expect("write the baseline");
            let again = baseline::read_baseline(path).expect("what serde wrote reads back");
            assert_eq!(serde_json::to_vec(&again).expect("serialises"), json);
        }
    }
});
