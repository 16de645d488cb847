//! Everything that talks to the operating system directly.
//!
//! The rest of [`probe`](crate::probe) is portable: it works on the plain data
//! these functions return. A macOS port adds a `macos.rs` beside `linux.rs`
//! (libproc for process facts, `proc_pidfdinfo` for sockets) and leaves the
//! callers alone.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub(crate) use linux::*;

#[cfg(not(target_os = "linux"))]
compile_error!("kitty-fixtures supports Linux only for now; the probe needs a port for this OS");
