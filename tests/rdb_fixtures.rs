//! Every file in tests/fixtures/rdb (RDB versions 2–10, every encoding Redis 2.x–7.0 writes:
//! zipmap, ziplist, intset, quicklist v1/v2, listpack, streams v1/v2, text zset scores,
//! expiry in seconds and ms, function libraries) loads into cinnabar exactly as into
//! redis-server 7.0.15 (required under CI). One test per file, so `cargo test` reports how
//! many fixtures loaded; a missing file fails its test, an unlisted one fails `all_listed`.

mod common;

use std::path::{Path, PathBuf};

use common::dataset::snapshot_all;
use common::server::{cinnabar, oracle, with_dump};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rdb")
}

/// Loads `name`.rdb into both servers and compares every key and library.
fn loads_as_in_redis(name: &str) {
    let file = dir().join(format!("{name}.rdb"));
    assert!(file.is_file(), "fixture {} is missing", file.display());
    let ours = with_dump(&file, |a| Some(cinnabar(a))).unwrap();
    let got = snapshot_all(&mut ours.client());
    let Some(theirs) = with_dump(&file, oracle) else {
        return;
    };
    let expected = snapshot_all(&mut theirs.client());
    if got != expected {
        let first = got.iter().zip(&expected).position(|(a, b)| a != b);
        panic!(
            "{name}: first difference at line {first:?}\n  ours:  {:?}\n  redis: {:?}",
            first.map(|i| &got[i]),
            first.map(|i| &expected[i]),
        );
    }
}

macro_rules! fixtures {
    ($($test:ident => $file:literal,)*) => {
        $(
            #[test]
            fn $test() {
                loads_as_in_redis($file);
            }
        )*

        /// Every .rdb in the directory has its test above.
        #[test]
        fn all_listed() {
            let listed = [$($file),*];
            let mut found: Vec<String> = std::fs::read_dir(dir())
                .unwrap()
                .filter_map(|e| {
                    let name = e.unwrap().file_name().into_string().unwrap();
                    name.strip_suffix(".rdb").map(str::to_string)
                })
                .collect();
            found.sort();
            assert_eq!(found, listed, "tests/fixtures/rdb/*.rdb and the list here differ");
        }
    };
}

fixtures! {
    crafted_v8_plain_types => "crafted_v8_plain_types",
    crafted_v9_stream_v1 => "crafted_v9_stream_v1",
    easily_compressible_string_key => "easily_compressible_string_key",
    empty_database => "empty_database",
    gen_v10_all_types => "gen_v10_all_types",
    gen_v10_functions => "gen_v10_functions",
    hash_as_ziplist => "hash_as_ziplist",
    integer_keys => "integer_keys",
    intset_16 => "intset_16",
    intset_32 => "intset_32",
    intset_64 => "intset_64",
    keys_with_expiry => "keys_with_expiry",
    keys_with_mixed_expiry => "keys_with_mixed_expiry",
    multidb_skipping => "multidb-skipping",
    multiple_databases => "multiple_databases",
    parser_filters => "parser_filters",
    quicklist_with_multiple_nodes => "quicklist_with_multiple_nodes",
    quicklist_with_one_node => "quicklist_with_one_node",
    rdb_v7_list_quicklist => "rdb_v7_list_quicklist",
    rdb_version_5_with_checksum => "rdb_version_5_with_checksum",
    regular_set => "regular_set",
    regular_sorted_set => "regular_sorted_set",
    sorted_set_as_ziplist => "sorted_set_as_ziplist",
    uncompressible_string_keys => "uncompressible_string_keys",
    ziplist_that_compresses_easily => "ziplist_that_compresses_easily",
    ziplist_that_doesnt_compress => "ziplist_that_doesnt_compress",
    ziplist_with_integers => "ziplist_with_integers",
    zipmap_that_compresses_easily => "zipmap_that_compresses_easily",
    zipmap_that_doesnt_compress => "zipmap_that_doesnt_compress",
    zipmap_with_big_values => "zipmap_with_big_values",
}
