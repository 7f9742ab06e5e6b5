//! `io-threads`: helper threads that do the socket reads (parsing the first command read)
//! and writes of a busy turn while the loop thread alone runs commands, in arrival order, as
//! Redis 6+ does.
//!
//! A turn hands each helper a batch of jobs (one connection each, round-robin, the loop
//! thread keeping the first share), runs its own share, then waits for every helper to
//! finish before it touches those connections again. So a connection is only ever used by
//! one thread at a time, and the keyspace never leaves the loop thread. Helpers spin briefly
//! for the next batch, then park; threads are used only while enough clients have output
//! due (Redis's `io-threads * 2`), since waking a helper costs more than a few writes.

use std::cell::UnsafeCell;
use std::io::{self, ErrorKind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle, Thread};

use super::conn::Conn;
use crate::resp::parse::ParseLimits;

/// How long an idle helper polls for its next batch before parking (in spin iterations).
const SPIN_BEFORE_PARK: u32 = 20_000;

/// One connection's share of a turn.
pub enum Job {
    /// One read into the query buffer (`want`: a pending big bulk's size hint), then the
    /// parse of the first command in it (the loop thread finds it parsed).
    Read {
        conn: *mut Conn,
        want: usize,
        limits: ParseLimits,
        result: io::Result<usize>,
    },
    /// Write `buf[..len]` until it is out, the socket would block, or it fails.
    Write {
        conn: *mut Conn,
        buf: *const u8,
        len: usize,
        outcome: WriteOutcome,
    },
}

/// What a threaded write did.
#[derive(Clone, Copy, Default)]
pub struct WriteOutcome {
    pub written: usize,
    pub blocked: bool,
    pub failed: bool,
}

// SAFETY: a job's pointers reach a connection (and its client's output) that the loop
// thread does not touch until the job's batch is finished; see `IoThreads::run`.
unsafe impl Send for Job {}

impl Job {
    pub fn read(conn: &mut Conn, want: usize, limits: ParseLimits) -> Job {
        Job::Read {
            conn,
            want,
            limits,
            result: Ok(0),
        }
    }

    pub fn write(conn: &mut Conn, out: &[u8]) -> Job {
        Job::Write {
            conn,
            buf: out.as_ptr(),
            len: out.len(),
            outcome: WriteOutcome::default(),
        }
    }

    /// # Safety
    /// The job's connection and buffer are live and used by no other thread meanwhile.
    unsafe fn run(&mut self) {
        match self {
            Job::Read {
                conn,
                want,
                limits,
                result,
            } => {
                // SAFETY: per the contract.
                let conn = unsafe { &mut **conn };
                *result = loop {
                    match conn.read_some(*want) {
                        Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                        other => break other,
                    }
                };
                // Parsing again after a complete command returns it at once. A protocol
                // error is left for the loop thread to find (and report) from the start.
                if matches!(result, Ok(n) if *n > 0) {
                    let input = &conn.qbuf[conn.qpos..conn.qend];
                    if conn.parser.parse(input, *limits).is_err() {
                        conn.parser.reset();
                    }
                }
            }
            Job::Write {
                conn,
                buf,
                len,
                outcome,
            } => {
                // SAFETY: per the contract.
                let (conn, out) = unsafe { (&mut **conn, std::slice::from_raw_parts(*buf, *len)) };
                *outcome = write_all(conn, out);
            }
        }
    }
}

/// Writes until done, WouldBlock or an error (the loop thread's writes do the same).
pub fn write_all(conn: &mut Conn, out: &[u8]) -> WriteOutcome {
    let mut o = WriteOutcome::default();
    while o.written < out.len() {
        match conn.write(&out[o.written..]) {
            Ok(n) => o.written += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                o.blocked = true;
                break;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => {
                o.failed = true;
                break;
            }
        }
    }
    o
}

/// A helper's mailbox: the loop thread fills `jobs` while `pending` is false, then sets it;
/// the helper runs them and clears it.
struct Mailbox {
    pending: AtomicBool,
    stop: AtomicBool,
    jobs: UnsafeCell<Vec<Job>>,
}

// SAFETY: `jobs` is handed between the two threads by `pending` (Release on each hand-over,
// Acquire before each use), so only one of them uses it at a time.
unsafe impl Sync for Mailbox {}

struct Helper {
    mailbox: Arc<Mailbox>,
    thread: Thread,
    handle: Option<JoinHandle<()>>,
}

/// The helper threads (io-threads minus one: the loop thread is the first I/O thread).
pub struct IoThreads {
    helpers: Vec<Helper>,
    /// A batch dealt out: one share per thread, the loop thread's first (kept for reuse).
    shares: Vec<Vec<Job>>,
    /// Threads were used in the last turn that had output due (INFO io_threads_active).
    pub active: bool,
}

impl IoThreads {
    /// `io_threads` counts the loop thread, as Redis's io-threads does; 1 starts none.
    pub fn start(io_threads: usize) -> io::Result<IoThreads> {
        let mut helpers = Vec::new();
        for i in 1..io_threads.max(1) {
            let mailbox = Arc::new(Mailbox {
                pending: AtomicBool::new(false),
                stop: AtomicBool::new(false),
                jobs: UnsafeCell::new(Vec::new()),
            });
            let m = Arc::clone(&mailbox);
            let handle = thread::Builder::new()
                .name(format!("io_thd_{i}"))
                .spawn(move || helper_main(&m))?;
            helpers.push(Helper {
                mailbox,
                thread: handle.thread().clone(),
                handle: Some(handle),
            });
        }
        let shares = (0..=helpers.len()).map(|_| Vec::new()).collect();
        Ok(IoThreads {
            helpers,
            shares,
            active: false,
        })
    }

    /// Threads in all, the loop thread included.
    pub fn count(&self) -> usize {
        self.helpers.len() + 1
    }

    /// Whether a turn with `due` clients to serve is worth the threads (Redis's
    /// stopThreadedIOIfNeeded), and records the answer for INFO.
    pub fn worth_it(&mut self, due: usize) -> bool {
        self.active = !self.helpers.is_empty() && due >= self.count() * 2;
        self.active
    }

    /// Runs `jobs` spread over the threads and returns them with their results, in order.
    ///
    /// # Safety
    /// Each job's connection and buffer stay live and untouched by the caller until this
    /// returns, and no two jobs share a connection.
    pub unsafe fn run(&mut self, jobs: &mut Vec<Job>) {
        let n = self.count();
        let total = jobs.len();
        // Deal the jobs round-robin: job i goes to thread i % n (share 0 is this thread's).
        for (i, job) in jobs.drain(..).enumerate() {
            self.shares[i % n].push(job);
        }
        let (own, theirs) = self.shares.split_at_mut(1);
        for (helper, share) in self.helpers.iter().zip(theirs.iter_mut()) {
            if share.is_empty() {
                continue;
            }
            // SAFETY: `pending` is false, so the helper does not use its jobs now.
            unsafe { std::ptr::swap(helper.mailbox.jobs.get(), share) };
            helper.mailbox.pending.store(true, Ordering::Release);
            helper.thread.unpark();
        }
        for job in &mut own[0] {
            // SAFETY: per the contract.
            unsafe { job.run() };
        }
        let mut spins = 0u32;
        for (helper, share) in self.helpers.iter().zip(theirs.iter_mut()) {
            while helper.mailbox.pending.load(Ordering::Acquire) {
                spins += 1;
                if spins < SPIN_BEFORE_PARK {
                    std::hint::spin_loop();
                } else {
                    thread::yield_now();
                }
            }
            // SAFETY: the helper cleared `pending`: its jobs are ours again (or it got none,
            // and two empty vectors trade places).
            unsafe { std::ptr::swap(helper.mailbox.jobs.get(), share) };
        }
        // Gather the results back in the original order; the shares keep their capacity.
        for share in &mut self.shares {
            share.reverse();
        }
        for i in 0..total {
            if let Some(job) = self.shares[i % n].pop() {
                jobs.push(job);
            }
        }
    }
}

impl Drop for IoThreads {
    fn drop(&mut self) {
        for h in &mut self.helpers {
            h.mailbox.stop.store(true, Ordering::Release);
            h.thread.unpark();
            if let Some(handle) = h.handle.take() {
                let _ = handle.join();
            }
        }
    }
}

fn helper_main(m: &Mailbox) {
    loop {
        let mut spins = 0u32;
        while !m.pending.load(Ordering::Acquire) {
            if m.stop.load(Ordering::Acquire) {
                return;
            }
            spins += 1;
            if spins < SPIN_BEFORE_PARK {
                std::hint::spin_loop();
            } else {
                // An unpark that came since the check makes this return at once.
                thread::park();
                spins = 0;
            }
        }
        // SAFETY: `pending` is set: the loop thread handed the jobs over and waits.
        let jobs = unsafe { &mut *m.jobs.get() };
        for job in jobs.iter_mut() {
            // SAFETY: the loop thread made each job's connection ours until we clear
            // `pending` (IoThreads::run's contract).
            unsafe { job.run() };
        }
        m.pending.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Conn, std::os::unix::net::UnixStream) {
        let (a, b) = std::os::unix::net::UnixStream::pair().expect("a socket pair");
        a.set_nonblocking(true).expect("nonblocking");
        let stream = super::super::conn::Stream::Unix(mio::net::UnixStream::from_std(a));
        (Conn::new(stream), b)
    }

    #[test]
    fn batches_read_and_write_every_connection_and_keep_their_order() {
        use std::io::{Read, Write};
        let mut threads = IoThreads::start(3).expect("threads");
        assert_eq!(threads.count(), 3);
        assert!(!threads.worth_it(5));
        assert!(threads.worth_it(6));
        let mut conns: Vec<(Conn, std::os::unix::net::UnixStream)> =
            (0..10).map(|_| pair()).collect();
        for (i, (_, peer)) in conns.iter_mut().enumerate() {
            peer.write_all(format!("request {i}").as_bytes())
                .expect("write");
        }
        for _round in 0..50 {
            let limits = ParseLimits {
                max_bulk_len: 1 << 20,
                auth_required: false,
            };
            let mut jobs: Vec<Job> = conns
                .iter_mut()
                .map(|(c, _)| Job::read(c, 0, limits))
                .collect();
            // SAFETY: every connection is live and in exactly one job.
            unsafe { threads.run(&mut jobs) };
            assert_eq!(jobs.len(), 10);
            for (i, job) in jobs.iter().enumerate() {
                let Job::Read { conn, result, .. } = job else {
                    panic!("a read");
                };
                assert!(std::ptr::eq(*conn, &conns[i].0));
                let _ = result;
            }
            if conns.iter().all(|(c, _)| c.qend > 0) {
                break;
            }
        }
        for (i, (c, _)) in conns.iter().enumerate() {
            assert_eq!(c.input(), format!("request {i}").as_bytes());
        }
        let replies: Vec<Vec<u8>> = (0..10)
            .map(|i| format!("+reply {i}\r\n").into_bytes())
            .collect();
        let mut jobs: Vec<Job> = conns
            .iter_mut()
            .zip(&replies)
            .map(|((c, _), r)| Job::write(c, r))
            .collect();
        // SAFETY: as above; the replies outlive the call.
        unsafe { threads.run(&mut jobs) };
        for (i, job) in jobs.iter().enumerate() {
            let Job::Write { outcome, .. } = job else {
                panic!("a write");
            };
            assert_eq!(outcome.written, replies[i].len());
            assert!(!outcome.blocked && !outcome.failed);
        }
        for (i, (_, peer)) in conns.iter_mut().enumerate() {
            let mut got = vec![0u8; replies[i].len()];
            peer.read_exact(&mut got).expect("read");
            assert_eq!(got, replies[i]);
        }
    }
}
