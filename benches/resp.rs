//! Parser and reply-encoder throughput: the per-command work outside the keyspace.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use cinnabar::resp::parse::{ParseLimits, Parsed, RequestParser};
use cinnabar::resp::reply::ReplyBuf;

fn pipeline(n: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for i in 0..n {
        let key = format!("key:{i:012}");
        v.extend(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n$3\r\nxxx\r\n",
                key.len()
            )
            .bytes(),
        );
    }
    v
}

fn parse_all(buf: &[u8]) -> usize {
    let limits = ParseLimits {
        max_bulk_len: 512 << 20,
        auth_required: false,
    };
    let mut p = RequestParser::new();
    let mut scratch: Vec<&'static [u8]> = Vec::with_capacity(8);
    let mut pos = 0;
    let mut n = 0;
    while pos < buf.len() {
        match p.parse(&buf[pos..], limits).expect("valid") {
            Parsed::Command { consumed } => {
                n += p.with_argv(&buf[pos..], &mut scratch, |argv| argv.len());
                p.reset();
                pos += consumed;
            }
            Parsed::Incomplete => break,
        }
    }
    n
}

fn bench(c: &mut Criterion) {
    let buf = pipeline(1000);
    let mut g = c.benchmark_group("resp");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("parse 1000 pipelined SETs", |b| {
        b.iter(|| parse_all(std::hint::black_box(&buf)))
    });
    g.bench_function("encode 1000 bulk replies", |b| {
        let mut out = ReplyBuf::new();
        b.iter(|| {
            out.buf.clear();
            for i in 0..1000i64 {
                out.bulk(b"some value");
                out.int(i);
            }
            out.buf.len()
        })
    });
    g.bench_function("encode LRANGE_600's reply (600 3-byte bulks)", |b| {
        let mut out = ReplyBuf::new();
        b.iter(|| {
            out.buf.clear();
            out.array(600);
            for _ in 0..600 {
                out.bulk(std::hint::black_box(b"xxx"));
            }
            out.buf.len()
        })
    });
    let inline = b"SET key:000000000001 xxx\r\n".repeat(1000);
    g.bench_function("parse 1000 inline SETs", |b| {
        b.iter(|| parse_all(std::hint::black_box(&inline)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
