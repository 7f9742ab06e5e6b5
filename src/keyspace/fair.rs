//! Fair random picks from a chained hash table (Redis's dictGetFairRandomKey). Picking a
//! random bucket and then a random entry of its chain favours entries in short chains: with
//! ten entries in sixteen buckets, an entry sharing its bucket comes up half as often, which a
//! chi-square test over HRANDFIELD/ZRANDMEMBER/SRANDMEMBER draws shows plainly. Instead,
//! gather the entries of consecutive buckets from a random start until there are
//! `SAMPLE` of them (or the walk gives up), and pick uniformly among those.
//!
//! The three tables (keyspace dict, hash table, sorted-set index) share this through a
//! position space: the live buckets of a table, `first..s0 + s1`, where positions at or past
//! `s0` are the second table's while rehashing (`first` is the rehash index: buckets below it
//! in the first table are empty).

/// Entries to gather before picking (Redis's GETFAIR_NUM_ENTRIES).
const SAMPLE: usize = 15;
/// Buckets a walk may visit (Redis's dictGetSomeKeys gives up after count * 10).
const MAX_STEPS: usize = SAMPLE * 10;

/// Picks (position, index in that bucket's chain) given the live position range
/// `first..end` and each position's chain length. The table must not be empty.
pub fn pick(
    first: usize,
    end: usize,
    rng: &mut dyn FnMut() -> u64,
    chain_len: impl Fn(usize) -> usize,
) -> (usize, usize) {
    let span = end - first;
    let start = first + (rng() as usize) % span;
    let next = |pos: usize| if pos + 1 == end { first } else { pos + 1 };
    let mut total = 0;
    let mut pos = start;
    for _ in 0..span.min(MAX_STEPS) {
        total += chain_len(pos);
        if total >= SAMPLE {
            break;
        }
        pos = next(pos);
    }
    if total == 0 {
        // A sparse stretch: fall back to a random non-empty bucket.
        loop {
            let pos = first + (rng() as usize) % span;
            let len = chain_len(pos);
            if len > 0 {
                return (pos, (rng() as usize) % len);
            }
        }
    }
    let mut k = (rng() as usize) % total;
    let mut pos = start;
    loop {
        let len = chain_len(pos);
        if k < len {
            return (pos, k);
        }
        k -= len;
        pos = next(pos);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ten entries in sixteen buckets, two of them sharing a bucket: every entry comes up
    /// about equally often.
    #[test]
    fn entries_in_long_chains_are_not_disfavoured() {
        let chains = [2, 1, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 1, 0, 1];
        let mut seed = 7u64;
        let mut rng = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            seed >> 11
        };
        let mut counts = std::collections::HashMap::new();
        let draws = 100_000;
        for _ in 0..draws {
            *counts
                .entry(pick(0, 16, &mut rng, |p| chains[p]))
                .or_insert(0) += 1;
        }
        assert_eq!(counts.len(), 10);
        let expected = draws as f64 / 10.0;
        let chi: f64 = counts
            .values()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum();
        assert!(chi < 40.0, "chi-square {chi}: {counts:?}");
    }

    #[test]
    fn rehashing_range_covers_both_tables() {
        // Positions 3..8 of the first table (below 3 is rehashed), 8..24 the second's.
        let mut seed = 1u64;
        let mut rng = move || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            seed >> 11
        };
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let (pos, i) = pick(3, 24, &mut rng, |p| usize::from(p % 4 == 0));
            assert!((3..24).contains(&pos) && pos % 4 == 0 && i == 0);
            seen.insert(pos);
        }
        assert_eq!(seen.len(), 5);
    }
}
