//! The files and pipes of a full sync: on a master, the snapshot a forked child makes for
//! replicas (to the dump file, or into a pipe for a diskless transfer) and reading it back in
//! chunks; on a replica, the temp file the master's snapshot lands in before it replaces the
//! dataset. `repl` decides; this module does the I/O.

use std::fs::File;
use std::io::{BufWriter, ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::PathBuf;

use super::{fork_child, rdb_path, write_rdb_full, write_snapshot_with, ChildKind};
use crate::exec::Executor;

/// The replication history a snapshot belongs to (its `repl-*` aux fields).
#[derive(Clone, Debug)]
pub struct SyncInfo {
    pub replid: String,
    pub offset: u64,
    pub stream_db: usize,
    /// Only these parts of the dataset (REPLCONF rdb-filter-only); None: all of it.
    pub filter: Option<crate::exec::client::RdbFilter>,
}

/// What a snapshot written now should record (Redis's rdbPopulateSaveInfo): a master with a
/// backlog, or a replica, saves its history so that a restart can continue it.
pub fn save_info(ex: &Executor) -> Option<SyncInfo> {
    let repl = &ex.repl;
    if let Some(m) = &repl.master {
        if m.state == crate::repl::LinkState::Connected {
            let db = m.slot.and_then(|s| ex.client(s)).map_or(0, |c| c.db);
            return Some(SyncInfo {
                replid: repl.replid.clone(),
                offset: repl.offset,
                stream_db: db,
                filter: None,
            });
        }
        return repl.cached_master.as_ref().map(|c| SyncInfo {
            replid: c.replid.clone(),
            offset: c.offset,
            stream_db: c.db,
            filter: None,
        });
    }
    repl.backlog.as_ref().map(|_| SyncInfo {
        replid: repl.replid.clone(),
        offset: repl.offset,
        stream_db: ex.prop.repl_stream_db().unwrap_or(0),
        filter: None,
    })
}

/// The read end of a diskless snapshot's pipe.
pub struct SyncPipe {
    file: File,
    /// The child closed its end: it is exiting.
    ended: bool,
}

/// Forks the child of a full sync: the dump file (disk), or the RDB into a pipe the loop
/// reads (diskless).
pub fn start(ex: &mut Executor, diskless: bool, info: SyncInfo) -> Result<(), String> {
    if super::live::enabled(ex) {
        return start_live(ex, diskless, info);
    }
    if !diskless {
        let child = fork_child(ex, "RDB", |ex| {
            write_snapshot_with(ex, Some(&info))
                .map_err(|e| tracing::warn!("{e}"))
                .is_ok()
        })?;
        tracing::info!("Background RDB transfer started by pid {}", child.pid);
        ex.persist.child = Some(super::RdbChild {
            kind: ChildKind::SyncDisk,
            ..child
        });
        return Ok(());
    }
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors pipe writes.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: both descriptors were just created and are owned here.
    let (read_end, write_end) = unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
    let mut write_end = Some(write_end);
    let read_fd = read_end.as_raw_fd();
    let child = fork_child(ex, "RDB", |ex| {
        // The child must not hold the read end: once the parent dies (killed), the next
        // write then fails and the child ends instead of blocking on a full pipe for ever.
        // SAFETY: closes the child's copy of a descriptor it never uses.
        unsafe { libc::close(read_fd) };
        let Some(w) = write_end.take() else {
            return false;
        };
        write_rdb_full(ex, BufWriter::with_capacity(1 << 16, w), false, Some(&info))
            .and_then(|mut w| w.flush())
            .map_err(|e| tracing::warn!("Diskless RDB: {e}"))
            .is_ok()
    });
    drop(write_end);
    let child = child?;
    set_nonblocking(&read_end);
    tracing::info!("Background RDB transfer started by pid {}", child.pid);
    ex.persist.sync_pipe = Some(SyncPipe {
        file: read_end,
        ended: false,
    });
    ex.persist.sync_mark = new_mark();
    ex.persist.child = Some(super::RdbChild {
        kind: ChildKind::SyncSocket,
        ..child
    });
    Ok(())
}

/// `start` without fork (`snapshot-mode live`): this process writes the snapshot.
fn start_live(ex: &mut Executor, diskless: bool, info: SyncInfo) -> Result<(), String> {
    use super::live::{LiveSnapshot, Plan, Target};
    let plan = Plan::rdb(ex, false, Some(&info));
    if !diskless {
        let target = Target::File {
            tmp: PathBuf::from(format!("temp-{}.rdb", super::live::own_pid())),
            rename_to: Some(rdb_path(ex)),
            incremental_fsync: ex.cfg.get_bool("rdb-save-incremental-fsync"),
        };
        let snapshot = LiveSnapshot::start(ex, plan, target)?;
        tracing::info!("Background RDB transfer started (live, without fork)");
        ex.persist.child = Some(super::RdbChild::live(ex, ChildKind::SyncDisk, snapshot));
        return Ok(());
    }
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors pipe writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: both descriptors were just created and are owned here.
    let (read_end, write_end) = unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
    set_nonblocking(&read_end);
    let snapshot = LiveSnapshot::start(ex, plan, Target::Pipe(write_end))?;
    tracing::info!("Background RDB transfer started (live, without fork)");
    ex.persist.sync_pipe = Some(SyncPipe {
        file: read_end,
        ended: false,
    });
    ex.persist.sync_mark = new_mark();
    ex.persist.child = Some(super::RdbChild::live(ex, ChildKind::SyncSocket, snapshot));
    Ok(())
}

fn set_nonblocking(f: &File) {
    // SAFETY: sets O_NONBLOCK on our own descriptor.
    unsafe {
        let fd = f.as_raw_fd();
        let flags = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
}

fn new_mark() -> [u8; 40] {
    let mut m = [0u8; 40];
    for (b, c) in m.iter_mut().zip(crate::repl::random_replid().bytes()) {
        *b = c;
    }
    m
}

/// The EOF mark of the running diskless transfer.
pub fn eof_mark(ex: &Executor) -> [u8; 40] {
    ex.persist.sync_mark
}

pub fn has_pipe(ex: &Executor) -> bool {
    ex.persist.sync_pipe.is_some()
}

/// Reads what the pipe has, up to `max` bytes; true at its end.
pub fn read_pipe(ex: &mut Executor, out: &mut Vec<u8>, max: usize) -> bool {
    let Some(pipe) = ex.persist.sync_pipe.as_mut() else {
        return true;
    };
    let mut buf = vec![0u8; 64 * 1024];
    while out.len() < max {
        match pipe.file.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
            Err(e) => {
                tracing::warn!("Diskless rdb transfer, read error: {e}");
                return true;
            }
        }
    }
    false
}

pub fn pipe_ended(ex: &Executor) -> bool {
    ex.persist.sync_pipe.as_ref().is_some_and(|p| p.ended)
}

pub fn mark_pipe_ended(ex: &mut Executor) {
    if let Some(p) = ex.persist.sync_pipe.as_mut() {
        p.ended = true;
    }
}

pub fn close_pipe(ex: &mut Executor) {
    ex.persist.sync_pipe = None;
}

/// Nobody reads the diskless snapshot any more: the child is stopped.
pub fn abandon_pipe(ex: &mut Executor) {
    if ex.persist.sync_pipe.take().is_some() {
        if let Some(mut child) = ex
            .persist
            .child
            .take_if(|c| c.kind == ChildKind::SyncSocket)
        {
            tracing::warn!("Diskless rdb transfer, last replica dropped, killing fork child.");
            child.kill(&mut ex.dbs);
        }
    }
}

/// A snapshot file being sent to one replica.
pub struct FileTransfer {
    file: File,
    left: u64,
}

impl FileTransfer {
    /// Appends up to `max` bytes; true once the whole file went out.
    pub fn read_chunk(&mut self, out: &mut Vec<u8>, max: usize) -> std::io::Result<bool> {
        let n = (self.left as usize).min(max);
        let start = out.len();
        out.resize(start + n, 0);
        self.file.read_exact(&mut out[start..])?;
        self.left -= n as u64;
        Ok(self.left == 0)
    }
}

/// Opens the dump file a disk sync just wrote.
pub fn open_snapshot(ex: &Executor) -> std::io::Result<(FileTransfer, u64)> {
    let file = File::open(rdb_path(ex))?;
    let size = file.metadata()?.len();
    Ok((FileTransfer { file, left: size }, size))
}

/// A snapshot arriving from our master into a temp file (Redis's
/// temp-<unixtime>.<pid>.rdb) that becomes our dump file. (Under repl-diskless-load the
/// snapshot is parsed from the socket instead: `Received::Stream`.)
pub struct Receiver {
    file: BufWriter<File>,
    path: PathBuf,
}

/// What a replica loads its master's snapshot from.
pub enum Received<'a> {
    /// The dump file the transfer became.
    DumpFile,
    /// The link itself, read as the snapshot arrives; `total`: its size when announced;
    /// `end`: what must follow it.
    Stream {
        source: super::rdb::Source<'a>,
        total: u64,
        end: super::StreamEnd,
    },
}

impl Receiver {
    pub fn create(now_ms: i64) -> std::io::Result<Receiver> {
        let path = PathBuf::from(format!("temp-{}.{}.rdb", now_ms / 1000, std::process::id()));
        let file = File::create(&path)?;
        Ok(Receiver {
            file: BufWriter::with_capacity(1 << 16, file),
            path,
        })
    }

    pub fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.file.write_all(data)
    }

    /// The file is synced and renamed over dbfilename (it becomes our dump file).
    pub fn finish(self, ex: &Executor) -> std::io::Result<Received<'static>> {
        let mut file = self.file.into_inner().map_err(|e| e.into_error())?;
        super::sync_file(&mut file)?;
        std::fs::rename(&self.path, rdb_path(ex))?;
        Ok(Received::DumpFile)
    }

    pub fn discard(self) {
        let _ = std::fs::remove_file(self.path);
    }
}
