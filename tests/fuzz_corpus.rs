//! Replays every fuzzing input committed under fuzz/ (the seed corpus, what the fuzzers kept,
//! and each crash they found, in `fuzz/artifacts/<target>/`) through the same entry points
//! libFuzzer drives, on stable: a crash found once stays fixed.

use std::path::PathBuf;

fn inputs(dir: &str, target: &str) -> Vec<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(dir)
        .join(target);
    let Ok(entries) = std::fs::read_dir(&path) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_committed_fuzz_input_runs_clean() {
    for (target, run) in cinnabar::fuzz::TARGETS {
        let corpus = inputs("corpus", target);
        assert!(!corpus.is_empty(), "no corpus for {target}");
        let crashes = inputs("artifacts", target);
        for file in corpus.iter().chain(&crashes) {
            let data = std::fs::read(file).expect("read input");
            run(&data);
        }
        eprintln!(
            "{target}: {} corpus inputs, {} past crashes",
            corpus.len(),
            crashes.len()
        );
    }
}
