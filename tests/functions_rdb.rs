//! Function libraries through dump.rdb: cinnabar saves them and loads them back; redis-server
//! loads ours and we load redis-server's (when it is installed; required under CI).

mod common;

use common::client::Client;
use common::server::{cinnabar, redis, Server};

const LIB: &str = "#!lua name=counters\n\
    redis.register_function('bump', function(keys, args) return redis.call('incrby', keys[1], args[1]) end)\n\
    redis.register_function{function_name='peek', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}, description='read a counter'}";

/// Loads the library and a key, SAVEs, and returns the data directory.
fn save_with_functions(server: &Server) -> String {
    let mut c = server.client();
    assert_eq!(c.cmd_raw(&["FUNCTION", "LOAD", LIB]), b"$8\r\ncounters\r\n");
    assert_eq!(c.cmd_raw(&["FCALL", "bump", "1", "n", "5"]), b":5\r\n");
    assert_eq!(c.cmd_raw(&["SAVE"]), b"+OK\r\n");
    server.dir.to_string_lossy().into_owned()
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

fn dir_args(dir: &str) -> Vec<String> {
    vec!["--dir".into(), dir.into()]
}

#[test]
fn functions_survive_save_and_restart() {
    let src = cinnabar(&[]);
    let dir = save_with_functions(&src);
    let copy = std::env::temp_dir().join(format!("cinnabar-fnrdb-{}", std::process::id()));
    std::fs::create_dir_all(&copy).unwrap();
    std::fs::copy(format!("{dir}/dump.rdb"), copy.join("dump.rdb")).unwrap();
    drop(src);
    let again = cinnabar(&dir_args(&copy.to_string_lossy()));
    let got = check_loaded(&mut again.client());
    assert_eq!(got[2], b"$1\r\n5\r\n");
    assert_eq!(got[3], b":7\r\n");

    match redis(&dir_args(&copy.to_string_lossy())) {
        Some(theirs) => {
            // redis-server loads our file (the library and its data) the same way.
            let expected = check_loaded(&mut theirs.client());
            assert_eq!(got, expected);
        }
        None => assert!(
            std::env::var("CI").is_err(),
            "redis-server is required under CI"
        ),
    }
    let _ = std::fs::remove_dir_all(&copy);
}

#[test]
fn we_load_functions_saved_by_redis() {
    let Some(theirs) = redis(&[]) else {
        assert!(
            std::env::var("CI").is_err(),
            "redis-server is required under CI"
        );
        return;
    };
    let dir = save_with_functions(&theirs);
    let copy = std::env::temp_dir().join(format!("cinnabar-fnrdb-r-{}", std::process::id()));
    std::fs::create_dir_all(&copy).unwrap();
    std::fs::copy(format!("{dir}/dump.rdb"), copy.join("dump.rdb")).unwrap();
    let expected = check_loaded(&mut theirs.client());
    drop(theirs);
    let ours = cinnabar(&dir_args(&copy.to_string_lossy()));
    assert_eq!(check_loaded(&mut ours.client()), expected);
    let _ = std::fs::remove_dir_all(&copy);
}
