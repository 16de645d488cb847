//! Snapshots of the TCP listeners on a set of ports.

use std::collections::HashSet;
use std::io;
use std::net::IpAddr;

use crate::ports::PortSet;

use crate::os as sys;

/// One listening TCP socket (IPv4 or IPv6).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Listener {
    /// The local port.
    pub port: u16,
    /// The local address (`127.0.0.1` for a dashboard).
    pub addr: IpAddr,
    /// The socket's inode: what links it to the process holding it.
    pub inode: u64,
    /// The uid that created the socket.
    pub uid: u32,
}

impl From<sys::ListeningSocket> for Listener {
    fn from(s: sys::ListeningSocket) -> Self {
        Listener {
            port: s.port,
            addr: s.addr,
            inode: s.inode,
            uid: s.uid,
        }
    }
}

/// Every TCP listener on a [`PortSet`] at one moment. Taking one costs about
/// 0.1 ms (netlink `sock_diag`); no process is looked at.
///
/// ```
/// use kitty_core::PortSet;
/// use kitty_core::ListenerSnapshot;
/// let ports: PortSet = "9237-9336".parse().unwrap();
/// let before = ListenerSnapshot::take(&ports).unwrap();
/// let after = ListenerSnapshot::take(&ports).unwrap();
/// assert!(after.new_since(&before).count() <= after.listeners().len());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListenerSnapshot {
    listeners: Vec<Listener>,
}

impl ListenerSnapshot {
    /// Takes a snapshot of the listeners on `ports`.
    pub fn take(ports: &PortSet) -> io::Result<Self> {
        let mut listeners: Vec<Listener> = sys::listening_sockets(&|p| ports.contains(p))?
            .into_iter()
            .map(Listener::from)
            .collect();
        listeners.sort_by_key(|l| (l.port, l.inode));
        Ok(ListenerSnapshot { listeners })
    }

    /// Builds a snapshot from known listeners (for baselines read from a file).
    pub fn from_listeners(mut listeners: Vec<Listener>) -> Self {
        listeners.sort_by_key(|l| (l.port, l.inode));
        ListenerSnapshot { listeners }
    }

    /// The listeners, by port.
    pub fn listeners(&self) -> &[Listener] {
        &self.listeners
    }

    /// Listeners in `self` that `before` did not have (a socket is the same
    /// socket when its inode and port are the same).
    pub fn new_since<'a>(
        &'a self,
        before: &ListenerSnapshot,
    ) -> impl Iterator<Item = &'a Listener> + 'a {
        let old: HashSet<(u16, u64)> = before.listeners.iter().map(|l| (l.port, l.inode)).collect();
        self.listeners
            .iter()
            .filter(move |l| !old.contains(&(l.port, l.inode)))
    }

    /// True when some socket listens on `port`.
    pub fn holds(&self, port: u16) -> bool {
        self.listeners.iter().any(|l| l.port == port)
    }

    /// The ports held, sorted, without repeats.
    pub fn ports(&self) -> Vec<u16> {
        let mut p: Vec<u16> = self.listeners.iter().map(|l| l.port).collect();
        p.dedup();
        p
    }
}

/// Every TCP listener, on any port, whose socket `root` or a process below
/// it holds (an interpreter shim's forked child may hold a server's socket).
/// Empty when none of them holds a socket at all.
pub fn held_by_tree(root: u32) -> io::Result<Vec<Listener>> {
    let mut mine: HashSet<u64> = sys::socket_inodes(root).into_iter().collect();
    for below in crate::ProcessTree::read_below(root).descendants_of(root) {
        mine.extend(sys::socket_inodes(below));
    }
    if mine.is_empty() {
        return Ok(Vec::new());
    }
    Ok(sys::listening_sockets(&|_| true)?
        .into_iter()
        .filter(|l| mine.contains(&l.inode))
        .map(Listener::from)
        .collect())
}
