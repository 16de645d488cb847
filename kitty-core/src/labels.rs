//! The labels that tie a process to the run and the test that started it:
//! environment variables, inherited by every process started below.

/// The environment variable `cargo kitty-leakcheck` sets for COMMAND (and the
/// `snapshot` setup script exports to nextest's tests): a label unique to the
/// run, inherited by every process the run starts. A dashboard carrying the
/// label of the run being checked was started by it, wherever it was
/// re-parented.
pub const RUN_LABEL_ENV: &str = "KITTY_LEAKCHECK_RUN";

/// A fresh run label: `lk-` and 16 random hex digits (short of the 32 that
/// reports mask as a token).
///
/// ```
/// let label = kitty_core::new_run_label().unwrap();
/// assert!(label.to_str().unwrap().starts_with("lk-"));
/// ```
pub fn new_run_label() -> std::io::Result<std::ffi::OsString> {
    Ok(format!("lk-{}", crate::os::random_hex(8)?).into())
}

/// The environment variable set on every dashboard `kitty-fixtures` starts
/// (and on its `KittyProject::spec_kitty` commands) when the calling thread
/// has a name: the name of that thread. libtest names each test's thread
/// after the test, so under `cargo test` it is the test that started the
/// dashboard, and `cargo kitty-leakcheck` blames it by name. Unset on
/// unnamed threads and on `main`.
pub const TEST_ENV: &str = "KITTY_FIXTURES_TEST";
