//! End-to-end tests of `kitty-fixtures` and `cargo-kitty-leakcheck` live in `tests/`;
//! this package has no code of its own.
