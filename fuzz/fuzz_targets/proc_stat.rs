//! `/proc/PID/stat` (`parse_stat`, through the hidden
//! `kitty_core::fuzzing::parse_proc_stat`): the command name in it is
//! whatever the process chose (`prctl(PR_SET_NAME)`, up to 15 bytes of
//! anything but NUL, `)` and spaces included).
//!
//! Asserts: a parsed line has a `)`, its state character comes after the
//! last one, and each number's decimal digits are in the line;
//! and a real-looking line built around any 15-byte name parses to exactly
//! the fields written.
#![no_main]

use kitty_core::fuzzing::parse_proc_stat;
use libfuzzer_sys::fuzz_target;

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fuzz_target!(|data: &[u8]| {
    if let Some((state, ppid, pgid, sid, start)) = parse_proc_stat(data) {
        let close = data.iter().rposition(|&b| b == b')').expect("a ')'");
        assert!(data[close + 1..].contains(&(state as u8)) || !state.is_ascii());
        for n in [u64::from(ppid), u64::from(pgid), u64::from(sid), start] {
            assert!(contains(data, n.to_string().as_bytes()), "{n}");
        }
    }

    // The kernel's own format around a name of the input (NULs dropped, as
    // the kernel has none), the numbers taken from the input's length.
    let name: Vec<u8> = data.iter().copied().filter(|&b| b != 0).take(15).collect();
    let n = data.len() as u32;
    let mut line = format!("{} (", n + 1).into_bytes();
    line.extend_from_slice(&name);
    line.extend_from_slice(
        format!(
            ") S {} {} {} 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 {} 1000 10\n",
            n,
            n + 2,
            n + 3,
            u64::from(n) * 1_000_000_007
        )
        .as_bytes(),
    );
    assert_eq!(
        parse_proc_stat(&line),
        Some(('S', n, n + 2, n + 3, u64::from(n) * 1_000_000_007)),
        "{:?}",
        String::from_utf8_lossy(&line)
    );
});
