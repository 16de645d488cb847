//! Running a command with stdout and stderr on a new pseudo-terminal (or on
//! pipes), and what it wrote there.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use super::wait_for;

/// What leakcheck wrote to a pseudo-terminal (stdout and stderr both), and
/// how it exited.
pub struct OnTerminal {
    /// stdout and stderr, as the terminal got them (`\n` is `\r\n` there).
    pub text: String,
    /// The exit status.
    pub code: Option<i32>,
}

/// Runs `c` with stdout and stderr on a new pseudo-terminal (or on pipes).
pub fn capture(mut c: Command, terminal: bool) -> OnTerminal {
    if !terminal {
        let out: Output = c.output().expect("run leakcheck");
        return OnTerminal {
            text: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
            code: out.status.code(),
        };
    }
    let (master, slave) = open_pty();
    c.stdout(Stdio::from(slave.try_clone().expect("dup")))
        .stderr(Stdio::from(slave));
    let mut child = c.spawn().expect("spawn leakcheck");
    drop(c); // closes our copies of the terminal's slave side
    let mut text = Vec::new();
    let mut master = std::fs::File::from(master);
    // Read until the slave side is closed by the child's exit (EIO on Linux).
    let mut buf = [0u8; 4096];
    loop {
        match master.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => text.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    let status = wait_for(Duration::from_secs(60), "leakcheck to exit", || {
        child.try_wait().expect("wait")
    });
    OnTerminal {
        text: String::from_utf8_lossy(&text).into_owned(),
        code: status.code(),
    }
}

/// A new pseudo-terminal: (master, slave).
pub fn open_pty() -> (OwnedFd, OwnedFd) {
    use rustix::fs::{Mode, OFlags};
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    let master =
        openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).expect("openpt");
    grantpt(&master).expect("grantpt");
    unlockpt(&master).expect("unlockpt");
    let name = ptsname(&master, Vec::new()).expect("ptsname");
    let slave = rustix::fs::open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .expect("open the pty's slave side");
    (master, slave)
}
