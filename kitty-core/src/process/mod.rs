//! Who a process is, the tree it sits in, and what listens: the generic
//! half's data, read from the kernel through the private `os` seam and
//! plain values from then on.
//!
//! - [`ProcessIdentity`]: pid, start time, uid, session and group, argv as
//!   bytes, and its [`Place`] (namespaces and root); read once, compared
//!   exactly.
//! - [`ProcessTree`]: parents and children of a moment.
//! - [`ListenerSnapshot`]: the TCP listeners on a [`PortSet`](crate::PortSet),
//!   and [`socket_owners`] for who holds them.

mod identity;
pub(crate) mod listeners;
pub(crate) mod table;

pub use identity::{
    Namespace, Place, ProcessIdentity, ProcessTree, ancestors_and_self, socket_owners,
};
pub use listeners::{Listener, ListenerSnapshot, held_by_tree};
