//! Damaged configs: thousands of small random edits of the example never panic, always
//! produce either a config or at least one located problem, and never leak a value.
//!
//! Deterministic (a fixed-seed xorshift), so a failure reproduces; no extra dependency.

use std::path::Path;

use outscope_config::{EXAMPLE, parse};

const MARKER: &str = "sk_live_MUTATIONleak";

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n.max(1) as u64).unwrap_or(0)
    }
}

/// One random edit: delete, duplicate or insert characters, or plant the marker.
fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let at = rng.below(chars.len());
    match rng.below(6) {
        0 => {
            let len = 1 + rng.below(12);
            chars.drain(at..(at + len).min(chars.len()));
        }
        1 => {
            let len = 1 + rng.below(40);
            let copy: Vec<char> = chars[at..(at + len).min(chars.len())].to_vec();
            chars.splice(at..at, copy);
        }
        2 => {
            let pick = [
                '"', '\'', '[', ']', '{', '}', '=', ',', '\n', '#', '.', '\\', 'é', '\u{0}', '-',
            ];
            chars.insert(at, pick[rng.below(pick.len())]);
        }
        3 => chars.splice(at..at, MARKER.chars()).for_each(drop),
        4 => chars
            .splice(at..at, format!("\"{MARKER}\"").chars())
            .for_each(drop),
        _ => {
            let other = rng.below(chars.len());
            chars.swap(at, other);
        }
    }
    chars.into_iter().collect()
}

#[test]
fn random_damage_is_reported_never_panics_and_never_leaks() {
    let mut rng = Rng(0x05ee_d0f0_75c0_e001);
    let mut rejected = 0;
    for round in 0..3000 {
        let mut text = EXAMPLE.to_owned();
        for _ in 0..=rng.below(3) {
            text = mutate(&mut rng, &text);
        }
        match parse(&text, Path::new("/etc/outscope")) {
            Ok(_) => {}
            Err(problems) => {
                rejected += 1;
                assert!(
                    !problems.0.is_empty(),
                    "round {round}: rejected without a problem"
                );
                // Key paths name keys, and a marker planted inside a key is part of its
                // name; messages must never carry it.
                for p in &problems.0 {
                    let leaked = p.message.contains("MUTATION");
                    assert!(
                        !leaked,
                        "round {round} leaked a value: {p}\n--- input:\n{text}"
                    );
                }
            }
        }
    }
    assert!(
        rejected > 1000,
        "only {rejected} of 3000 damaged configs were rejected"
    );
}
