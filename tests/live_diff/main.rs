//! Seeded random command sequences sent to redis-server and to cinnabar side by side; every
//! reply must be byte-identical. Needs redis-server (CI installs it; elsewhere the test skips
//! with a message). A failure prints the seed and the command; replay one seed with
//! `LIVE_DIFF_SEED=<n> cargo test --test live_diff`.

#[path = "../common/mod.rs"]
mod common;
mod hashes;
mod lists;
mod sets;
mod streams;
mod strings;
mod zsets;

use common::client::Client;
use common::server::{cinnabar, oracle};

/// xorshift64*: reproducible across platforms.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    pub fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.below(v.len() as u64) as usize]
    }
}

/// A family's random command generator.
pub type Generator = fn(&mut Rng) -> Vec<String>;

fn run_seed(
    gen: Generator,
    seed: u64,
    steps: usize,
    a: &mut Client,
    b: &mut Client,
) -> Result<(), String> {
    let mut r = Rng(seed | 1);
    let mut history: Vec<(usize, Vec<String>, String)> = Vec::new();
    for step in 0..steps {
        let cmd = gen(&mut r);
        let expected = a.cmd_raw(&cmd);
        let actual = b.cmd_raw(&cmd);
        if expected != actual {
            // Show how the keys of the failing command got their values.
            let related: Vec<String> = history
                .iter()
                .filter(|(_, c, _)| {
                    c.iter()
                        .skip(1)
                        .any(|a| cmd.iter().skip(1).any(|k| k == a && k.starts_with('k')))
                })
                .rev()
                .take(12)
                .map(|(i, c, rep)| format!("    {i}: {c:?} -> {rep:?}"))
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            return Err(format!(
                "seed {seed} step {step}: {:?}\n  redis: {:?}\n  ours:  {:?}\n  earlier commands on these keys:\n{}",
                cmd,
                String::from_utf8_lossy(&expected),
                String::from_utf8_lossy(&actual),
                related.join("\n")
            ));
        }
        history.push((step, cmd, String::from_utf8_lossy(&expected).to_string()));
    }
    Ok(())
}

/// Runs `gen` for each seed against a fresh redis-server and cinnabar started with `args`,
/// requiring identical replies. LIVE_DIFF_SEED picks one seed; skips without redis-server
/// (fails under CI, which installs it).
pub fn run_family(
    gen: Generator,
    args: &[&str],
    seeds: std::ops::RangeInclusive<u64>,
    steps: usize,
) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let Some(oracle) = oracle(&args) else {
        return;
    };
    let ours = cinnabar(&args);
    let seeds: Vec<u64> = match std::env::var("LIVE_DIFF_SEED") {
        Ok(s) => vec![s.parse().expect("seed")],
        Err(_) => seeds.collect(),
    };
    let mut a = oracle.client();
    let mut b = ours.client();
    for seed in seeds {
        a.cmd(&["FLUSHALL"]);
        b.cmd(&["FLUSHALL"]);
        if let Err(e) = run_seed(gen, seed, steps, &mut a, &mut b) {
            panic!("{e}");
        }
    }
}
