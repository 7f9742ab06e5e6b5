//! Arbitrary argv through the executor (every command handler): no input may panic.
#![no_main]

use cinnabar::config::Config;
use cinnabar::exec::Executor;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|cmds: Vec<Vec<Vec<u8>>>| {
    thread_local! {
        static EX: std::cell::RefCell<Executor> = std::cell::RefCell::new({
            let mut ex = Executor::new(Config::new());
            ex.add_client(0, "127.0.0.1:1".into(), "127.0.0.1:6379".into(), -1, false);
            ex
        });
    }
    EX.with(|ex| {
        let mut ex = ex.borrow_mut();
        for argv in cmds.iter().take(64) {
            let name = argv.first().map(|a| a.to_ascii_lowercase()).unwrap_or_default();
            // Commands that sleep, exit or write files are not interesting here.
            if matches!(name.as_slice(), b"debug" | b"shutdown" | b"save" | b"config" | b"flushall") {
                continue;
            }
            let refs: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
            ex.execute(0, &refs);
            if let Some(c) = ex.client_mut(0) {
                c.out.buf.clear();
                c.out_sent = 0;
            }
        }
    });
});
