//! The process title (Redis's setproctitle.c and redisSetProcTitle): what `ps` and
//! /proc/<pid>/cmdline show, `proc-title-template` expanded ("{title} {listen-addr}
//! {server-mode}" by default).
//!
//! Linux keeps no title apart from the arguments: the title is written over the block that
//! holds the process's original arguments and environment, once the environment has been
//! copied elsewhere. The kernel then reads the title from there.

use std::sync::Mutex;

/// The writable block (start address, length) once `init` has freed it.
static AREA: Mutex<Option<(usize, usize)>> = Mutex::new(None);
/// argv[0] as the process was started ({title}).
static EXEC_NAME: Mutex<String> = Mutex::new(String::new());
/// The executable and the whole command line, as started (DEBUG RESTART runs them again).
static EXEC_LINE: Mutex<Option<(std::path::PathBuf, Vec<std::ffi::OsString>)>> = Mutex::new(None);

/// What a template's variables stand for.
pub struct Vars<'a> {
    pub title: &'a str,
    pub bind: Option<&'a str>,
    pub port: u16,
    pub tls_port: u16,
    pub unixsocket: &'a str,
    pub config_file: Option<&'a str>,
    pub cluster: bool,
}

impl Vars<'_> {
    fn get(&self, name: &str) -> Option<String> {
        Some(match name {
            "title" => self.title.to_string(),
            "listen-addr" if self.port != 0 || self.tls_port != 0 => {
                let port = if self.port != 0 {
                    self.port
                } else {
                    self.tls_port
                };
                format!("{}:{port}", self.bind.unwrap_or("*"))
            }
            "listen-addr" => format!("unixsocket:{}", self.unixsocket),
            "server-mode" if self.cluster => "[cluster]".to_string(),
            "server-mode" => String::new(),
            "config-file" => self.config_file.unwrap_or("-").to_string(),
            "port" => self.port.to_string(),
            "tls-port" => self.tls_port.to_string(),
            "unixsocket" => self.unixsocket.to_string(),
            _ => return None,
        })
    }
}

/// Expands `{name}` variables (`{{` is a literal brace; a `}` outside a variable is just a
/// character), trimming spaces at both ends (Redis's sdstemplate + sdstrim). None for an
/// unknown variable or an unterminated one.
pub fn expand(template: &[u8], vars: &Vars) -> Option<String> {
    let text = std::str::from_utf8(template).ok()?;
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let name = &rest[i + 1..];
        if let Some(after) = name.strip_prefix('{') {
            out.push('{');
            rest = after;
            continue;
        }
        let end = name.find('}')?;
        out.push_str(&vars.get(&name[..end])?);
        rest = &name[end + 1..];
    }
    out.push_str(rest);
    Some(out.trim_matches(' ').to_string())
}

/// CONFIG SET's check: the template expands, to something.
pub fn valid_template(template: &[u8]) -> bool {
    let vars = Vars {
        title: "",
        bind: None,
        port: 0,
        tls_port: 0,
        unixsocket: "",
        config_file: None,
        cluster: false,
    };
    expand(template, &vars).is_some_and(|t| !t.is_empty())
}

/// The executable and the command line the process started with.
pub fn exec_line() -> Option<(std::path::PathBuf, Vec<std::ffi::OsString>)> {
    EXEC_LINE.lock().ok()?.clone()
}

/// argv[0], for {title}.
pub fn exec_name() -> String {
    EXEC_NAME.lock().map(|n| n.clone()).unwrap_or_default()
}

/// Frees the arguments' block for the title: the environment moves to the heap (libc's
/// `environ` then points there). Call once, early, before other threads start and after
/// everything that reads the original arguments.
pub fn init() {
    if let Ok(mut name) = EXEC_NAME.lock() {
        *name = std::env::args().next().unwrap_or_default();
    }
    if let (Ok(mut line), Ok(exe)) = (EXEC_LINE.lock(), std::env::current_exe()) {
        *line = Some((exe, std::env::args_os().collect()));
    }
    let Some((start, end)) = argument_block() else {
        return;
    };
    let vars: Vec<(std::ffi::OsString, std::ffi::OsString)> = std::env::vars_os().collect();
    // SAFETY: single-threaded at this point (the caller's contract); clearenv drops the
    // pointers into the block and setenv copies every variable to the heap.
    unsafe {
        libc::clearenv();
        for (k, v) in vars {
            std::env::set_var(k, v);
        }
    }
    if let Ok(mut area) = AREA.lock() {
        *area = Some((start, end - start));
    }
}

/// The process's argument and environment block, [arg_start, env_end), from
/// /proc/self/stat (fields 48 and 51), when the two are contiguous.
fn argument_block() -> Option<(usize, usize)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start with field 3.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<usize>().ok();
    let (arg_start, arg_end) = (field(48)?, field(49)?);
    let (env_start, env_end) = (field(50)?, field(51)?);
    (arg_end <= env_start && env_start - arg_end <= 1 && arg_start < env_end)
        .then_some((arg_start, env_end))
}

/// Shows `title` as the process's command line (cut to the block's size).
pub fn set(title: &str) {
    let Ok(area) = AREA.lock() else {
        return;
    };
    let Some((start, len)) = *area else {
        return;
    };
    let n = title.len().min(len - 1);
    // SAFETY: [start, start + len) is this process's own argument block, which nothing
    // reads any more (`init` moved the environment out and runs after argument parsing).
    unsafe {
        let block = start as *mut u8;
        std::ptr::copy_nonoverlapping(title.as_ptr(), block, n);
        std::ptr::write_bytes(block.add(n), 0, len - n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars<'static> {
        Vars {
            title: "/usr/bin/cinnabar",
            bind: Some("127.0.0.1"),
            port: 6379,
            tls_port: 0,
            unixsocket: "/tmp/s.sock",
            config_file: None,
            cluster: false,
        }
    }

    #[test]
    fn templates_expand_like_redis() {
        let v = vars();
        let t = |s: &str| expand(s.as_bytes(), &v);
        assert_eq!(
            t("{title} {listen-addr} {server-mode}").as_deref(),
            Some("/usr/bin/cinnabar 127.0.0.1:6379")
        );
        assert_eq!(
            t("TEST {port} {tls-port} {unixsocket} {config-file}").as_deref(),
            Some("TEST 6379 0 /tmp/s.sock -")
        );
        assert_eq!(t("{{x}}").as_deref(), Some("{x}}"));
        assert_eq!(t("{invalid-var}"), None);
        assert_eq!(t("{title"), None);
        assert_eq!(t("x{"), None);
        assert_eq!(t("title}").as_deref(), Some("title}"));
        assert!(!valid_template(b"  "));
        assert!(valid_template(b"{title} {listen-addr} {server-mode}"));
    }
}
