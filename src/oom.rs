//! oom-score-adj (Redis's setOOMScoreAdj): the kernel's OOM-killer preference for this
//! process, by role (master, replica, background child) from oom-score-adj-values, relative
//! to the score the process started with or absolute. Turning it off restores that score.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use crate::config::Config;

/// Which of oom-score-adj-values applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Master = 0,
    Replica = 1,
    BackgroundChild = 2,
}

const PROC_FILE: &str = "/proc/self/oom_score_adj";

/// Whether we changed the score (and so must restore `BASE` when turned off).
static ADJUSTED: AtomicBool = AtomicBool::new(false);
/// The score before we first changed it.
static BASE: AtomicI64 = AtomicI64::new(0);

/// The oom-score-adj-values triple.
pub fn values(cfg: &Config) -> [i64; 3] {
    match cfg.get("oom-score-adj-values") {
        crate::config::Setting::Oom(v) => *v,
        other => panic!("oom-score-adj-values is {other:?}"),
    }
}

/// Sets the score for `class` as `cfg` says (nothing when off and never adjusted). Err: the
/// file could not be read or written (logged, as Redis logs it).
pub fn apply(cfg: &Config, class: Class) -> Result<(), String> {
    let logged = |e: String| {
        tracing::warn!("{e}");
        e
    };
    let mode = cfg.get_enum("oom-score-adj");
    let value = if mode != "no" {
        if !ADJUSTED.swap(true, Ordering::SeqCst) {
            let base = std::fs::read_to_string(PROC_FILE).map_err(|e| {
                ADJUSTED.store(false, Ordering::SeqCst);
                logged(format!("Unable to read oom_score_adj: {e}"))
            })?;
            BASE.store(base.trim().parse().unwrap_or(0), Ordering::SeqCst);
        }
        let mut v = values(cfg)[class as usize];
        if mode != "absolute" {
            v += BASE.load(Ordering::SeqCst);
        }
        v.clamp(-1000, 1000)
    } else if ADJUSTED.swap(false, Ordering::SeqCst) {
        BASE.load(Ordering::SeqCst)
    } else {
        return Ok(());
    };
    std::fs::write(PROC_FILE, format!("{value}\n"))
        .map_err(|e| logged(format!("Unable to write oom_score_adj: {e}")))
}
