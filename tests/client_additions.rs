//! The CLIENT subcommands cinnabar takes from Redis 7.2 and 7.4 (docs/compat.md lists them):
//! SETINFO LIB-NAME/LIB-VER (shown in CLIENT LIST and CLIENT INFO), NO-TOUCH (reads leave the
//! LRU clock alone, TOUCH still touches, flag T), KILL MAXAGE (clients older than N seconds).

mod common;

use std::time::Duration;

use common::client::Client;
use common::server::cinnabar;

fn text(r: Vec<u8>) -> String {
    String::from_utf8_lossy(&r).into_owned()
}

#[test]
fn setinfo_names_the_library() {
    let server = cinnabar(&[]);
    let mut c = server.client();
    c.ok("CLIENT SETINFO LIB-NAME redis-py");
    c.ok("CLIENT SETINFO lib-ver 5.0.1");
    let info = text(c.cmd_raw(&["CLIENT", "INFO"]));
    assert!(info.contains(" lib-name=redis-py lib-ver=5.0.1"), "{info}");
    assert_eq!(
        text(c.cmd_raw(&["CLIENT", "SETINFO", "LIB-NAME", "has space"])),
        "-ERR LIB-NAME cannot contain spaces, newlines or special characters.\r\n"
    );
    assert_eq!(
        text(c.cmd_raw(&["CLIENT", "SETINFO", "colour", "x"])),
        "-ERR Unrecognized option 'colour'\r\n"
    );
    // An empty value clears it.
    c.ok("CLIENT SETINFO LIB-NAME ");
    let list = text(c.cmd_raw(&["CLIENT", "LIST"]));
    assert!(list.contains(" lib-name= lib-ver=5.0.1"), "{list}");
}

#[test]
fn no_touch_reads_leave_the_lru_alone() {
    let server = cinnabar(&[]);
    let mut c = server.client();
    c.ok("SET k v");
    std::thread::sleep(Duration::from_millis(2100));
    c.ok("CLIENT NO-TOUCH ON");
    assert!(text(c.cmd_raw(&["CLIENT", "INFO"])).contains("flags=T"));
    c.ok("GET k");
    let idle = text(c.cmd_raw(&["OBJECT", "IDLETIME", "k"]));
    assert!(idle != ":0\r\n", "a NO-TOUCH GET touched the key: {idle}");
    // TOUCH is the exception: it always touches.
    c.ok("TOUCH k");
    assert_eq!(c.cmd_raw(&["OBJECT", "IDLETIME", "k"]), b":0\r\n");
    c.ok("CLIENT NO-TOUCH OFF");
    assert_eq!(
        c.cmd_raw(&["CLIENT", "NO-TOUCH", "maybe"]),
        b"-ERR syntax error\r\n"
    );
}

#[test]
fn kill_maxage_closes_only_older_clients() {
    let server = cinnabar(&[]);
    let mut old = server.client();
    old.ok("PING");
    std::thread::sleep(Duration::from_millis(2100));
    let mut admin = Client::connect(server.port).unwrap();
    // Only `old` is over one second old (the admin connection is new).
    assert_eq!(admin.cmd_raw(&["CLIENT", "KILL", "MAXAGE", "1"]), b":1\r\n");
    assert!(old.send_raw(b"PING\r\n").is_err() || old.read_raw().map_or(true, |r| r.is_empty()));
    assert_eq!(admin.cmd_raw(&["PING"]), b"+PONG\r\n");
    assert_eq!(
        admin.cmd_raw(&["CLIENT", "KILL", "MAXAGE", "x"]),
        b"-ERR value is not an integer or out of range\r\n"
    );
}
