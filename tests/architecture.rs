//! The invariants of ARCHITECTURE.md that a compiler cannot see, checked on the source: the
//! sans-I/O modules (`cmd/`, `keyspace/`, `resp/`, `exec/`, `repl/`, `cluster/`) use no files, sockets or process
//! exits; `keyspace/`, `resp/` and `cmd/` read no clock (time is passed in); client-visible
//! error texts are written only in `resp/errors.rs`.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("source directory") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Lines of code (comments and the `#[cfg(test)]` tail left out) in `module` that contain any
/// of `forbidden`.
fn violations(module: &str, forbidden: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src")
        .join(module);
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(!files.is_empty(), "no sources under {}", root.display());
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("\n#[cfg(test)]").next().unwrap_or("");
        for (n, line) in code.lines().enumerate() {
            let trimmed = line.trim_start();
            if trimmed.starts_with("//") {
                continue;
            }
            for f in forbidden {
                if line.contains(f) {
                    found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    found
}

const IO: &[&str] = &[
    "std::fs",
    "std::net",
    "TcpStream",
    "TcpListener",
    "UnixStream",
    "process::exit",
    "set_current_dir",
];
const CLOCK: &[&str] = &["Instant::now", "SystemTime"];

#[test]
fn sans_io_modules_touch_no_files_sockets_or_exit() {
    for module in ["cmd", "keyspace", "resp", "exec", "repl", "cluster"] {
        let v = violations(module, IO);
        assert!(v.is_empty(), "I/O in src/{module}:\n{}", v.join("\n"));
    }
}

#[test]
fn data_and_command_modules_read_no_clock() {
    for module in ["cmd", "keyspace", "resp", "cluster"] {
        let v = violations(module, CLOCK);
        assert!(
            v.is_empty(),
            "clock reads in src/{module}:\n{}",
            v.join("\n")
        );
    }
}

/// Literals that start like a Redis error reply (`"ERR ..."`, `b"WRONGTYPE ..."`).
const ERROR_TEXTS: &[&str] = &[
    "\"ERR ",
    "b\"ERR ",
    "\"-ERR",
    "\"WRONGTYPE",
    "\"NOSCRIPT",
    "\"BUSY",
    "\"EXECABORT",
    "\"NOAUTH",
    "\"WRONGPASS",
    "\"OOM ",
    "\"MISCONF",
    "\"NOPROTO",
    "\"IOERR",
    "\"LOADING",
    "\"READONLY ",
    "\"NOREPLICAS",
    "\"UNBLOCKED",
    "\"NOTBUSY",
    "\"UNKILLABLE",
    "\"NOGROUP",
    "b\"NOGROUP",
    "\"MOVED",
    "\"ASK ",
    "\"CROSSSLOT",
    "\"CLUSTERDOWN",
    "\"TRYAGAIN",
];

#[test]
fn error_texts_live_in_resp_errors() {
    let mut found = Vec::new();
    for module in [
        "cmd", "exec", "keyspace", "net", "persist", "repl", "script", "util", "cluster",
    ] {
        found.extend(violations(module, ERROR_TEXTS));
    }
    for file in ["resp/parse.rs", "resp/reply.rs", "config.rs", "main.rs"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text.split("\n#[cfg(test)]").next().unwrap_or("");
        for (n, line) in code.lines().enumerate() {
            if !line.trim_start().starts_with("//") && ERROR_TEXTS.iter().any(|t| line.contains(t))
            {
                found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
            }
        }
    }
    // The generated command table holds Redis's documentation, not replies.
    found.retain(|l| !l.contains("meta_gen.rs"));
    assert!(
        found.is_empty(),
        "error texts outside src/resp/errors.rs:\n{}",
        found.join("\n")
    );
}
