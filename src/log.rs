//! Logging through `tracing` in Redis's line format:
//! `pid:M 23 Nov 2026 15:30:00.123 * message` (levels `.` debug, `-` verbose, `*` notice,
//! `#` warning), to stdout or the configured logfile.

use std::fmt;
use std::io::Write;
use std::sync::Mutex;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

struct RedisFormat;

/// The process's role letter and pid in its log lines: `M` for a master, `S` for a replica,
/// `C` in a forked child (its own pid), as Redis's serverLogRaw.
static ROLE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(b'M');
static PID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// The server's replication role in its lines: `S` while it follows a master, `M` else.
pub fn set_replica(replica: bool) {
    use std::sync::atomic::Ordering::Relaxed;
    let _ = ROLE.fetch_update(Relaxed, Relaxed, |r| {
        (r != b'C').then_some(if replica { b'S' } else { b'M' })
    });
}

/// Called first thing in a forked child: its lines say `C` and give its own pid.
pub fn mark_child() {
    use std::sync::atomic::Ordering::Relaxed;
    ROLE.store(b'C', Relaxed);
    PID.store(std::process::id(), Relaxed);
}

fn role_and_pid() -> (char, u32) {
    use std::sync::atomic::Ordering::Relaxed;
    (char::from(ROLE.load(Relaxed)), PID.load(Relaxed))
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// "23 Nov 2026 15:30:00.123" in UTC.
pub fn timestamp(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000);
    let ms = unix_ms.rem_euclid(1000);
    let (y, m, d) = civil(secs.div_euclid(86400));
    let t = secs.rem_euclid(86400);
    format!(
        "{d:02} {} {y} {:02}:{:02}:{:02}.{ms:03}",
        MONTHS[(m - 1) as usize],
        t / 3600,
        t / 60 % 60,
        t % 60
    )
}

impl<S, N> FormatEvent<S, N> for RedisFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let level = match *event.metadata().level() {
            Level::TRACE => '.',
            Level::DEBUG => '-',
            Level::INFO => '*',
            Level::WARN | Level::ERROR => '#',
        };
        let (role, pid) = role_and_pid();
        write!(
            w,
            "{pid}:{role} {} {level} ",
            timestamp(crate::clock::unix_us() / 1000)
        )?;
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}

/// Maps Redis's loglevel names onto tracing levels.
fn level(name: &str) -> tracing::level_filters::LevelFilter {
    use tracing::level_filters::LevelFilter;
    match name {
        "debug" => LevelFilter::TRACE,
        "verbose" => LevelFilter::DEBUG,
        "notice" => LevelFilter::INFO,
        _ => LevelFilter::WARN,
    }
}

/// The log's file descriptor, for lines written from a signal handler (stdout until a
/// logfile is opened).
static LOG_FD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(1);

/// A log line built without allocation, for signal handlers (a stack buffer, cut at 512
/// bytes), written with one write(2) on the log's descriptor.
pub struct RawLine {
    buf: [u8; 512],
    len: usize,
}

impl RawLine {
    fn new() -> RawLine {
        RawLine {
            buf: [0; 512],
            len: 0,
        }
    }

    /// Redis's line prefix: `pid:M 23 Nov 2026 15:30:00.123 # `.
    pub fn log_prefix(level: u8) -> RawLine {
        let mut line = RawLine::new();
        // SAFETY: getpid and clock_gettime are async-signal-safe.
        let (pid, ts) = unsafe {
            let mut ts: libc::timespec = std::mem::zeroed();
            libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts);
            (libc::getpid(), ts)
        };
        line.number(pid as i64);
        line.push(b":");
        line.push(&[role_and_pid().0 as u8]);
        line.push(b" ");
        let secs: i64 = ts.tv_sec;
        let (y, m, d) = civil(secs.div_euclid(86400));
        let t = secs.rem_euclid(86400);
        line.padded(d as i64, 2);
        line.push(b" ");
        line.push(MONTHS[(m - 1) as usize].as_bytes());
        line.push(b" ");
        line.number(y);
        line.push(b" ");
        line.padded(t / 3600, 2);
        line.push(b":");
        line.padded(t / 60 % 60, 2);
        line.push(b":");
        line.padded(t % 60, 2);
        line.push(b".");
        let nanos: i64 = ts.tv_nsec;
        line.padded(nanos / 1_000_000, 3);
        line.push(&[b' ', level, b' ']);
        line
    }

    pub fn push(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
    }

    pub fn number(&mut self, v: i64) {
        if v < 0 {
            self.push(b"-");
        }
        self.padded(v.unsigned_abs() as i64, 1);
    }

    /// `v` in decimal, zero-padded to `width` digits.
    fn padded(&mut self, v: i64, width: usize) {
        let mut digits = [b'0'; 20];
        let mut v = v.unsigned_abs();
        let mut i = digits.len();
        while v > 0 || digits.len() - i < width {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        self.push(&digits[i..]);
    }

    pub fn hex(&mut self, mut v: u64) {
        let mut digits = [b'0'; 16];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b"0123456789abcdef"[(v & 15) as usize];
            v >>= 4;
            if v == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }

    /// Adds the newline and writes the line.
    pub fn end(mut self) {
        self.push(b"\n");
        write_raw(&self.buf[..self.len]);
    }
}

/// The log's descriptor (stdout until a logfile is opened).
pub fn raw_fd() -> i32 {
    LOG_FD.load(std::sync::atomic::Ordering::Relaxed)
}

/// Writes bytes as they are to the log, from anywhere (a signal handler included).
pub fn write_raw(bytes: &[u8]) {
    // SAFETY: write(2) on our own log descriptor from a caller's buffer.
    unsafe {
        libc::write(raw_fd(), bytes.as_ptr().cast(), bytes.len());
    }
}

/// Logs from inside a signal handler, where neither locks nor allocation may be used
/// (Redis's serverLogFromHandler): `pid:signal-handler (unix seconds) message`.
pub fn from_signal_handler(msg: &str) {
    let mut line = RawLine::new();
    // SAFETY: getpid and time are async-signal-safe.
    let (pid, now) = unsafe { (libc::getpid(), libc::time(std::ptr::null_mut())) };
    line.number(pid as i64);
    line.push(b":signal-handler (");
    line.number(now);
    line.push(b") ");
    line.push(msg.as_bytes());
    line.end();
}

/// Installs the global logger. An empty `logfile` logs to stdout.
pub fn init(loglevel: &str, logfile: &str) -> std::io::Result<()> {
    PID.store(std::process::id(), std::sync::atomic::Ordering::Relaxed);
    let format = RedisFormat;
    let builder = tracing_subscriber::fmt()
        .event_format(format)
        .with_max_level(level(loglevel));
    if logfile.is_empty() {
        let _ = builder.with_writer(std::io::stdout).try_init();
    } else {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(logfile)?;
        // The descriptor stays open for the process's life: the logger owns the file.
        use std::os::fd::AsRawFd;
        let fd = file.as_raw_fd();
        if builder.with_writer(Mutex::new(file)).try_init().is_ok() {
            LOG_FD.store(fd, std::sync::atomic::Ordering::Relaxed);
        }
    }
    Ok(())
}

/// Prints to stderr before logging is set up (config errors), as Redis does.
pub fn early(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

#[cfg(test)]
mod tests {
    #[test]
    fn raw_lines_format_without_allocating() {
        let mut line = super::RawLine::new();
        line.number(-12);
        line.push(b" ");
        line.hex(255);
        line.push(b" ");
        line.padded(7, 3);
        assert_eq!(&line.buf[..line.len], b"-12 ff 007");
        let prefix = super::RawLine::log_prefix(b'#');
        let text = String::from_utf8_lossy(&prefix.buf[..prefix.len]).into_owned();
        assert!(
            text.starts_with(&format!("{}:M ", std::process::id())),
            "{text}"
        );
        assert!(text.ends_with(" # ") && text.len() > 30, "{text}");
        // A replica's lines say S.
        super::set_replica(true);
        let prefix = super::RawLine::log_prefix(b'#');
        let text = String::from_utf8_lossy(&prefix.buf[..prefix.len]).into_owned();
        super::set_replica(false);
        assert!(
            text.starts_with(&format!("{}:S ", std::process::id())),
            "{text}"
        );
    }

    #[test]
    fn timestamps() {
        assert_eq!(super::timestamp(0), "01 Jan 1970 00:00:00.000");
        assert_eq!(
            super::timestamp(1_795_449_116_997),
            "23 Nov 2026 15:51:56.997"
        );
    }
}
