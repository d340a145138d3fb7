//! Mutation fuzzing of the avatar manifest parser and checks, with a fixed
//! seed and a bounded number of cases (`BYTEMEET_FUZZ_CASES`, default
//! 100000): the built-in manifests are mutated (bytes flipped, dropped,
//! duplicated, spliced with manifest tokens) and every result must be a
//! pack or a list of problems that each name a file and a reason. Never a
//! panic, never an empty problem list.

use std::path::Path;

use bytemeetd::avatar::pack::{self, PackError};

const TOKENS: &[&str] = &[
    "[[layer]]\n",
    "[canvas]\n",
    "driver = \"jaw\"\n",
    "driver = \"effect\"\n",
    "effect = \"flicker\"\n",
    "trigger = \"mouth-wide\"\n",
    "threshold = 2.5\n",
    "pivot = [1e30, -5]\n",
    "size = [0, 99999999]\n",
    "file = \"../../etc/passwd\"\n",
    "file = \"\"\n",
    "angle = nan\n",
    "range = inf\n",
    "format = 1\n",
    "mode = \"full\"\n",
    "name = \"\u{1F409}\"\n",
    "=",
    "\"",
    "[",
    "]",
    "\n",
    "#",
    "\u{0}",
];

fn mutate(rng: &mut fastrand::Rng, text: &[u8]) -> Vec<u8> {
    let mut b = text.to_vec();
    for _ in 0..rng.usize(1..6) {
        let at = rng.usize(0..=b.len());
        match rng.u8(0..5) {
            0 if !b.is_empty() => {
                let i = rng.usize(0..b.len());
                b[i] ^= 1 << rng.u8(0..8);
            }
            1 if !b.is_empty() => {
                let end = (at + rng.usize(1..40)).min(b.len());
                b.drain(at.min(end)..end);
            }
            2 => {
                let t = TOKENS[rng.usize(0..TOKENS.len())];
                b.splice(at..at, t.bytes());
            }
            3 if !b.is_empty() => {
                let from = rng.usize(0..b.len());
                let end = (from + rng.usize(1..60)).min(b.len());
                let piece: Vec<u8> = b[from..end].to_vec();
                b.splice(at..at, piece);
            }
            _ => b.insert(at, rng.u8(..)),
        }
    }
    b
}

#[test]
fn mutated_manifests_give_problems_never_panics() {
    let cases: usize = std::env::var("BYTEMEET_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../avatars");
    let mut seeds = Vec::new();
    for e in std::fs::read_dir(&root).expect("avatars") {
        let m = e.expect("entry").path().join(pack::MANIFEST);
        if m.exists() {
            seeds.push(std::fs::read(m).expect("manifest"));
        }
    }
    assert!(seeds.len() >= 8);
    let file = Path::new("fuzz/avatar.toml");
    let mut rng = fastrand::Rng::with_seed(0x00B7_E3EE);
    let (mut parsed, mut refused) = (0usize, 0usize);
    for _ in 0..cases {
        let seed = &seeds[rng.usize(0..seeds.len())];
        let bytes = mutate(&mut rng, seed);
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        match pack::parse_manifest(text, file) {
            Ok(m) => {
                parsed += 1;
                for p in pack::check_manifest(&m, file) {
                    assert!(!p.reason.is_empty() && !p.key.is_empty(), "{p:?}\n{text}");
                }
            }
            Err(PackError(problems)) => {
                refused += 1;
                assert!(!problems.is_empty(), "{text}");
                for p in problems {
                    assert_eq!(p.file, file);
                    assert!(!p.reason.is_empty(), "{text}");
                }
            }
        }
    }
    eprintln!("{cases} cases: {parsed} parsed and checked, {refused} refused");
    assert!(
        parsed > 0 && refused > 0,
        "the mutations explore both outcomes"
    );
}
