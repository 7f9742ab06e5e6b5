//! The `redis` crate, a real client library, against cinnabar.

mod common;

use common::server::cinnabar;

fn conn(port: u16) -> redis::Connection {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).expect("client");
    client.get_connection().expect("connection")
}

#[test]
fn basic_commands_and_types() {
    let server = cinnabar(&[]);
    let mut c = conn(server.port);
    let _: () = redis::cmd("SET")
        .arg("name")
        .arg("cinnabar")
        .query(&mut c)
        .unwrap();
    let v: String = redis::cmd("GET").arg("name").query(&mut c).unwrap();
    assert_eq!(v, "cinnabar");
    let n: i64 = redis::cmd("INCRBY")
        .arg("counter")
        .arg(41)
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 41);
    let missing: Option<String> = redis::cmd("GET").arg("nope").query(&mut c).unwrap();
    assert_eq!(missing, None);
    let err = redis::cmd("INCR")
        .arg("name")
        .query::<i64>(&mut c)
        .unwrap_err();
    assert_eq!(err.code(), Some("ERR"));
    let vals: Vec<Option<String>> = redis::cmd("MGET")
        .arg("name")
        .arg("nope")
        .query(&mut c)
        .unwrap();
    assert_eq!(vals, vec![Some("cinnabar".to_string()), None]);
}

#[test]
fn pipelines_and_expiry() {
    let server = cinnabar(&[]);
    let mut c = conn(server.port);
    let mut p = redis::pipe();
    for i in 0..1000 {
        p.cmd("SET").arg(format!("k{i}")).arg(i).ignore();
    }
    p.cmd("DBSIZE");
    let (size,): (i64,) = p.query(&mut c).unwrap();
    assert_eq!(size, 1000);
    let _: () = redis::cmd("SET")
        .arg("t")
        .arg("v")
        .arg("PX")
        .arg(50)
        .query(&mut c)
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(120));
    let exists: i64 = redis::cmd("EXISTS").arg("t").query(&mut c).unwrap();
    assert_eq!(exists, 0);
    let ttl: i64 = redis::cmd("TTL").arg("k1").query(&mut c).unwrap();
    assert_eq!(ttl, -1);
}

#[test]
fn scan_iterates_everything_once_stable() {
    let server = cinnabar(&[]);
    let mut c = conn(server.port);
    let mut p = redis::pipe();
    for i in 0..5000 {
        p.cmd("SET").arg(format!("user:{i}")).arg("x").ignore();
    }
    let _: () = p.query(&mut c).unwrap();
    let keys: std::collections::HashSet<String> = redis::cmd("SCAN")
        .cursor_arg(0)
        .arg("MATCH")
        .arg("user:*")
        .arg("COUNT")
        .arg(100)
        .clone()
        .iter::<String>(&mut c)
        .unwrap()
        .map(|k| k.expect("key"))
        .collect();
    assert_eq!(keys.len(), 5000);
}
