//! dump.rdb files written by redis-server 7.0.15 (listpacks, quicklists, intsets, streams,
//! expiries, function libraries) load into cinnabar with the same contents and encodings.
//! Needs redis-server (required under CI).

mod common;

use common::dataset::{fill, snapshot};
use common::server::{cinnabar, oracle, with_dump};

#[test]
fn redis_7_dump_loads_with_same_contents_and_encodings() {
    let Some(theirs) = oracle(&[]) else {
        return;
    };
    let mut c = theirs.client();
    fill(&mut c);
    assert_eq!(c.cmd_raw(&["SAVE"]), b"+OK\r\n");
    let expected = snapshot(&mut c);
    // 16 keys, plus the stream's groups.
    assert_eq!(expected.len(), 17);
    for enc in [
        "listpack",
        "quicklist",
        "intset",
        "hashtable",
        "skiplist",
        "embstr",
        "raw",
    ] {
        assert!(expected.iter().any(|l| l.contains(enc)), "no {enc} key");
    }
    let ours = with_dump(&theirs.dir.join("dump.rdb"), |a| Some(cinnabar(a))).unwrap();
    let mut o = ours.client();
    assert_eq!(snapshot(&mut o), expected);
    assert_eq!(o.cmd_raw(&["FCALL", "f", "0"]), b":1\r\n");
}

/// A corrupt file is refused (the server does not start with part of the data).
#[test]
fn corrupt_compact_value_is_refused() {
    let Some(theirs) = oracle(&[]) else {
        return;
    };
    let mut c = theirs.client();
    c.cmd(&["HSET", "h", "field", "value"]);
    c.cmd(&["CONFIG", "SET", "rdbchecksum", "no"]);
    assert_eq!(c.cmd_raw(&["SAVE"]), b"+OK\r\n");
    let path = theirs.dir.join("dump.rdb");
    let mut bytes = std::fs::read(&path).unwrap();
    // Break the listpack's total-length header, just after the key "h".
    let at = bytes.windows(2).position(|w| w == b"\x01h").expect("key") + 3;
    bytes[at] ^= 0x40;
    let copy = std::env::temp_dir().join(format!("cinnabar-rdbbad-{}", std::process::id()));
    std::fs::create_dir_all(&copy).unwrap();
    std::fs::write(copy.join("dump.rdb"), &bytes).unwrap();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_cinnabar"))
        .args(["--port", &common::server::free_port().to_string(), "--dir"])
        .arg(&copy)
        .stdout(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert!(!status.status.success());
    let log = String::from_utf8_lossy(&status.stdout);
    // Redis's lines: the failed check, then the refusal to go on.
    assert!(
        log.contains("Hash listpack integrity check failed."),
        "{log}"
    );
    assert!(
        log.contains("Terminating server after rdb file reading failure."),
        "{log}"
    );
    let _ = std::fs::remove_dir_all(&copy);
}
