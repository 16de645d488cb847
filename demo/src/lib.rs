//! Nothing here: the demo is its tests.
