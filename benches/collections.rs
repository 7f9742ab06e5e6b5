//! Collection internals: GEOSEARCH over a big sorted set, and skiplist inserts and ranks.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

use cinnabar::cmd::geo::points_within;
use cinnabar::geo::{score_of, Search, Shape};
use cinnabar::keyspace::types::zset::{AddFlags, Limits, ZSet};

/// A deterministic generator, so runs are comparable.
fn lcg(state: &mut u64) -> f64 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (*state >> 11) as f64 / (1u64 << 53) as f64
}

/// `n` members spread over a 100 km × 100 km area around Paris.
fn city(n: usize) -> ZSet {
    let lim = Limits::default();
    let mut z = ZSet::new_skiplist();
    let mut st = 42u64;
    for i in 0..n {
        let lon = 2.35 + (lcg(&mut st) - 0.5) * 1.4;
        let lat = 48.85 + (lcg(&mut st) - 0.5) * 0.9;
        let score = score_of(lon, lat).unwrap() as f64;
        z.add(
            score,
            format!("driver:{i}").as_bytes(),
            AddFlags::default(),
            lim,
        );
    }
    z
}

fn geosearch(c: &mut Criterion) {
    let z = city(1_000_000);
    let mut g = c.benchmark_group("geosearch_1M");
    for radius_m in [200.0, 1000.0] {
        let s = Search {
            lon: 2.35,
            lat: 48.85,
            shape: Shape::Radius(radius_m),
            conversion: 1.0,
        };
        g.bench_with_input(BenchmarkId::new("radius_m", radius_m), &s, |b, s| {
            b.iter(|| points_within(&z, s, 0).len())
        });
    }
    g.finish();
}

fn skiplist(c: &mut Criterion) {
    let lim = Limits::default();
    const N: u32 = 1_000_000;
    let members: Vec<Vec<u8>> = (0..N).map(|i| format!("m{i}").into_bytes()).collect();
    let z = {
        let mut z = ZSet::new_skiplist();
        for (i, m) in members.iter().enumerate() {
            z.add(i as f64, m, AddFlags::default(), lim);
        }
        z
    };
    // ZRANK of members spread over the set.
    c.bench_function("zset_1M_zrank", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = (i + 7919) % N as usize;
            z.rank(&members[i])
        })
    });
    // ZRANGE key 500000 500009: seek by rank near the middle, then walk ten members.
    c.bench_function("zset_1M_zrange_middle_10", |b| {
        b.iter(|| {
            z.walk(z.at_rank(N as usize / 2), false)
                .take(10)
                .map(|(m, _)| m.len())
                .sum::<usize>()
        })
    });
    c.bench_function("zset_insert_100k", |b| {
        b.iter(|| {
            let mut z = ZSet::new_skiplist();
            for i in 0..100_000u32 {
                z.add(
                    f64::from(i % 977),
                    format!("m{i}").as_bytes(),
                    AddFlags::default(),
                    lim,
                );
            }
            z.len()
        })
    });
}

criterion_group!(benches, geosearch, skiplist);
criterion_main!(benches);
