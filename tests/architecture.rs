//! The invariants of ARCHITECTURE.md that a compiler cannot see, checked on the source: the
//! sans-I/O modules (`cmd/`, `keyspace/`, `resp/`, `exec/`) use no files, sockets or process
//! exits; `keyspace/`, `resp/` and `cmd/` read no clock (time is passed in); error replies are
//! built from `resp/errors.rs`.

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
    for module in ["cmd", "keyspace", "resp", "exec"] {
        let v = violations(module, IO);
        assert!(v.is_empty(), "I/O in src/{module}:\n{}", v.join("\n"));
    }
}

#[test]
fn data_and_command_modules_read_no_clock() {
    for module in ["cmd", "keyspace", "resp"] {
        let v = violations(module, CLOCK);
        assert!(
            v.is_empty(),
            "clock reads in src/{module}:\n{}",
            v.join("\n")
        );
    }
}
