//! Function libraries through dump.rdb: cinnabar saves them and loads them back; redis-server
//! loads ours and we load redis-server's (when it is installed; required under CI).

mod common;

use common::client::Client;
use common::server::{cinnabar, oracle, with_dump, Server};

const LIB: &str = "#!lua name=counters\n\
    redis.register_function('bump', function(keys, args) return redis.call('incrby', keys[1], args[1]) end)\n\
    redis.register_function{function_name='peek', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}, description='read a counter'}";

/// Loads the library and a key, SAVEs, and returns the dump file.
fn save_with_functions(server: &Server) -> std::path::PathBuf {
    let mut c = server.client();
    assert_eq!(c.cmd_raw(&["FUNCTION", "LOAD", LIB]), b"$8\r\ncounters\r\n");
    assert_eq!(c.cmd_raw(&["FCALL", "bump", "1", "n", "5"]), b":5\r\n");
    assert_eq!(c.cmd_raw(&["SAVE"]), b"+OK\r\n");
    server.dir.join("dump.rdb")
}

/// What a server that loaded the file answers about the library (DUMP rather than LIST: the
/// order of functions inside a library is Redis's hash order).
fn check_loaded(c: &mut Client) -> Vec<Vec<u8>> {
    vec![
        c.cmd_raw(&["FUNCTION", "DUMP"]),
        c.cmd_raw(&["FUNCTION", "STATS"]),
        c.cmd_raw(&["FCALL_RO", "peek", "1", "n"]),
        c.cmd_raw(&["FCALL", "bump", "1", "n", "2"]),
    ]
}

#[test]
fn functions_survive_save_and_restart() {
    let src = cinnabar(&[]);
    let file = save_with_functions(&src);
    let again = with_dump(&file, |a| Some(cinnabar(a))).unwrap();
    let got = check_loaded(&mut again.client());
    assert_eq!(got[2], b"$1\r\n5\r\n");
    assert_eq!(got[3], b":7\r\n");
    if oracle(&[]).is_some() {
        // redis-server loads our file (the library and its data) the same way.
        let theirs = with_dump(&file, oracle).expect("redis-server loads our dump");
        assert_eq!(got, check_loaded(&mut theirs.client()));
    }
}

#[test]
fn we_load_functions_saved_by_redis() {
    let Some(theirs) = oracle(&[]) else {
        return;
    };
    let file = save_with_functions(&theirs);
    let expected = check_loaded(&mut theirs.client());
    let ours = with_dump(&file, |a| Some(cinnabar(a))).unwrap();
    assert_eq!(check_loaded(&mut ours.client()), expected);
}
