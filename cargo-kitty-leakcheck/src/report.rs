//! The report: human lines, JSON (versioned schema), GitHub annotations.
