//! CONFIG SET is all or nothing, even when a value only fails as it is applied: a port that
//! cannot be bound leaves every parameter of the call (and the listener) as it was. A port
//! that can be bound moves the listener; connected clients stay.

mod common;

use common::client::Client;
use common::server::{cinnabar, free_port};

#[test]
fn port_change_binds_first_and_rolls_back_on_failure() {
    let server = cinnabar(&[]);
    let mut c = server.client();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port().to_string();
    let reply = c.cmd_raw(&[
        "CONFIG",
        "SET",
        "maxmemory",
        "10000001",
        "port",
        &taken_port,
        "client-query-buffer-limit",
        "10m",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&reply),
        "-ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port\r\n"
    );
    assert_eq!(
        c.cmd_raw(&["CONFIG", "GET", "maxmemory"]),
        b"*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"
    );
    assert!(
        Client::connect(server.port).is_ok(),
        "the old listener still serves"
    );

    let new_port = free_port();
    c.ok(&format!("CONFIG SET port {new_port}"));
    let mut moved = Client::connect(new_port).expect("listening on the new port");
    assert_eq!(moved.cmd_raw(&["PING"]), b"+PONG\r\n");
    assert!(
        Client::connect(server.port).is_err(),
        "the old port is closed"
    );
    // The client that asked is still connected.
    assert_eq!(c.cmd_raw(&["PING"]), b"+PONG\r\n");
}
