//! Linux: netlink `sock_diag`, `/proc`, pidfds, prctl, signalfd, namespaces,
//! private directories.

mod files;
#[allow(unsafe_code)] // atexit(3) and a pre_exec closure, each with its SAFETY comment
mod processes;
mod procfs;
#[allow(unsafe_code)] // a pre_exec closure and SIG_DFL, each with its SAFETY comment
mod signals;
mod sockets;

use std::io;

pub use files::*;
pub use processes::*;
pub use procfs::*;
pub use signals::*;
pub(crate) use sockets::*;

/// `bytes` random bytes from the kernel, as lowercase hex digits.
pub fn random_hex(bytes: usize) -> io::Result<String> {
    let mut buf = vec![0u8; bytes];
    let mut filled = 0;
    while filled < bytes {
        match rustix::rand::getrandom(&mut buf[filled..], rustix::rand::GetRandomFlags::empty()) {
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}
