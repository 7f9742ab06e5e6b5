//! In-process command runner for handler unit tests: no sockets, RESP text out.

use super::Executor;
use crate::config::Config;

/// An executor with one connected client in slot 0.
pub fn executor() -> Executor {
    let mut ex = Executor::new(Config::new());
    ex.add_client(
        0,
        "127.0.0.1:1".into(),
        "127.0.0.1:6379".into(),
        -1,
        crate::exec::client::Transport::Tcp,
    );
    ex
}

/// Runs a redis-cli style command line and returns the raw reply bytes as a string.
pub fn run(ex: &mut Executor, line: &str) -> String {
    let argv = crate::util::splitargs::split_args(line.as_bytes()).expect("quoting");
    let refs: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
    ex.execute(0, &refs);
    let c = ex.client_mut(0).expect("client");
    let out = String::from_utf8_lossy(&c.out.buf[c.out_sent..]).to_string();
    c.out.buf.clear();
    c.out_sent = 0;
    out
}
