//! nodes.conf, the cluster's own configuration file: read at startup, written whenever the
//! cluster view changes (a temporary file, fsync when asked, rename), and locked so that two
//! nodes never share one.

use std::io::Write;
use std::os::fd::AsRawFd;

/// The file's text, or None when it does not exist or is empty (a fresh node).
pub fn read(path: &str) -> Result<Option<String>, String> {
    match std::fs::read(path) {
        Ok(bytes) if bytes.is_empty() => Ok(None),
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("Loading the cluster node config from {path}: {e}")),
    }
}

/// Takes an exclusive lock on the file for the life of the process (the descriptor is kept
/// open on purpose), as Redis's clusterLockConfig.
pub fn lock(path: &str) -> Result<(), String> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| format!("Can't open {path} in order to acquire a lock: {e}"))?;
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == -1 {
        let e = std::io::Error::last_os_error();
        return Err(if e.kind() == std::io::ErrorKind::WouldBlock {
            format!(
                "Sorry, the cluster configuration file {path} is already used by a different \
                 Redis Cluster node. Please make sure that different nodes use different \
                 cluster configuration files."
            )
        } else {
            format!("Impossible to lock {path}: {e}")
        });
    }
    std::mem::forget(file);
    Ok(())
}

/// Replaces the file with `text` atomically: a crash leaves the old file or the new one.
pub fn write(path: &str, text: &str, fsync: bool) -> std::io::Result<()> {
    let tmp = format!("{path}.tmp-{}", std::process::id());
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    if fsync {
        f.sync_all()?;
    }
    drop(f);
    std::fs::rename(&tmp, path)?;
    if fsync {
        let dir = std::path::Path::new(path)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// `write`, or the end of the process (Redis's clusterSaveConfigOrDie).
pub fn write_or_exit(path: &str, text: &str, fsync: bool) {
    if let Err(e) = write(path, text, fsync) {
        tracing::warn!("Fatal: can't update cluster config file. ({e})");
        std::process::exit(1);
    }
}
