//! `--ports` / `KITTY_PORTS` (`PortSet`'s `FromStr`).
//!
//! Asserts: a parsed set is not empty, its `Display` parses back to an equal
//! set whose `Display` is the same (a fixed point), every range's ends are
//! in it, and (for sets small enough to list) `iter_descending` is strictly
//! descending, holds exactly the ports `contains` says, and `len` counts
//! them with repeats.
#![no_main]

use kitty_core::PortSet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(set) = text.parse::<PortSet>() else {
        return;
    };
    assert!(!set.is_empty());
    let shown = set.to_string();
    let back: PortSet = shown.parse().expect("Display parses back");
    assert_eq!(back, set, "{shown:?}");
    assert_eq!(back.to_string(), shown);
    for part in shown.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (u16, u16) = (a.parse().expect("start"), b.parse().expect("end"));
        assert!(
            a <= b && a > 0 && set.contains(a) && set.contains(b),
            "{part}"
        );
    }
    let len = set.len();
    if len <= 1 << 16 {
        let down: Vec<u16> = set.iter_descending().collect();
        assert!(down.windows(2).all(|w| w[0] > w[1]));
        assert!(down.iter().all(|&p| set.contains(p)));
        assert_eq!(set.iter().count(), len);
        assert!(down.len() <= len);
        if let (Some(&hi), Some(&lo)) = (down.first(), down.last()) {
            assert!(!set.contains(hi.wrapping_add(1)) || hi == u16::MAX);
            assert!(!set.contains(lo - 1) || lo == 1);
        }
    }
});
