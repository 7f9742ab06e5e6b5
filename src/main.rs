//! `cinnabar [redis.conf] [--directive value ...]`: started exactly like redis-server.

use cinnabar::config::{self, CINNABAR_VERSION, REDIS_VERSION};
use cinnabar::exec::Executor;

#[global_allocator]
static ALLOC: cinnabar::alloc::CountingAlloc = cinnabar::alloc::CountingAlloc;

fn usage() -> ! {
    eprintln!(
        "Usage: ./cinnabar [/path/to/redis.conf] [options] [-]\n       \
         ./cinnabar - (read config from stdin)\n       \
         ./cinnabar -v or --version\n       \
         ./cinnabar -h or --help\n\n\
         Examples:\n       \
         ./cinnabar (run the server with default conf)\n       \
         ./cinnabar /etc/redis/6379.conf\n       \
         ./cinnabar --port 7777\n       \
         ./cinnabar /etc/myredis.conf --loglevel verbose -\n       \
         ./cinnabar /etc/myredis.conf --loglevel verbose"
    );
    std::process::exit(1);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(first) = args.first() {
        match first.as_str() {
            "-v" | "--version" => {
                println!(
                    "cinnabar v={CINNABAR_VERSION} (Redis {REDIS_VERSION} compatible) bits=64"
                );
                return;
            }
            "-h" | "--help" => usage(),
            _ => {}
        }
    }
    let cfg = match config::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            cinnabar::log::early(&e);
            std::process::exit(1);
        }
    };
    let settings = cfg.settings();
    if settings.daemonize {
        daemonize();
    }
    if let Err(e) = cinnabar::log::init(settings.loglevel, &settings.logfile) {
        cinnabar::log::early(&format!("Can't open the log file: {e}"));
        std::process::exit(1);
    }
    // A replica by configuration says so from its first line, as Redis (masterhost is set
    // when the configuration loads).
    cinnabar::log::set_replica(matches!(
        cfg.get("replicaof"),
        cinnabar::config::Setting::ReplicaOf(Some(_))
    ));
    // Still one thread: the arguments' block is freed for the process title.
    cinnabar::proctitle::init();
    let pid = std::process::id();
    tracing::warn!("oO0OoO0OoO0Oo cinnabar is starting oO0OoO0OoO0Oo");
    tracing::warn!("cinnabar version={CINNABAR_VERSION} (Redis {REDIS_VERSION} compatible), bits=64, pid={pid}, just started");
    if cfg.file.is_none() {
        tracing::warn!(
            "Warning: no config file specified, using the default config. In order to specify a config file use cinnabar /path/to/redis.conf"
        );
    } else {
        tracing::warn!("Configuration loaded");
    }
    let mut stored: Vec<&str> = cfg
        .touched
        .iter()
        .filter(|i| config::DEFS[**i].effect == config::Effect::Stored)
        .map(|i| config::DEFS[*i].name)
        .collect();
    stored.sort_unstable();
    for name in stored {
        tracing::warn!("Directive '{name}' is accepted and reported by CONFIG GET, but cinnabar does not act on it yet");
    }
    if let Some(p) = &settings.pidfile {
        if let Err(e) = std::fs::write(p, format!("{pid}\n")) {
            tracing::warn!("Failed to write PID file: {e}");
        }
    }
    let mut ex = Executor::new(cfg);
    cinnabar::crash::init_for_server(ex.cfg.get_bool("crash-log-enabled"));
    ex.apply_oom_score();
    let aclfile = ex.settings.aclfile.clone();
    if let Err(lines) =
        cinnabar::acl::file::load_at_startup(&mut ex.acl, &ex.cfg.users, aclfile.as_deref())
    {
        for l in lines {
            tracing::warn!("{l}");
        }
        std::process::exit(1);
    }
    let mut server = match cinnabar::net::Server::bind(&mut ex) {
        Ok(s) if !s.listening() => {
            tracing::warn!("Configured to not listen anywhere, exiting.");
            std::process::exit(1);
        }
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData && settings.tls_port != 0 => {
            tracing::warn!("{e}");
            tracing::warn!("Failed to configure TLS. Check logs for more info.");
            std::process::exit(1);
        }
        Err(e) => {
            tracing::warn!(
                "Failed listening on port {} (tcp), aborting: {e}",
                settings.port
            );
            std::process::exit(1);
        }
    };
    if ex.cfg.get_bool("cluster-enabled") {
        let base = ex.tcp_port;
        if ex.cfg.get_int("cluster-port") == 0 && base > 55535 {
            tracing::warn!("Redis port number too high. Cluster communication port is 10,000 port numbers higher than your Redis port. Your Redis port number must be 55535 or less.");
            std::process::exit(1);
        }
        if let Err(e) = cinnabar::cluster::glue::init(&mut ex) {
            tracing::warn!("{e}");
            std::process::exit(1);
        }
        if let Err(e) = server.bind_cluster_bus(&mut ex) {
            let port = cinnabar::cluster::glue::bus_listen_port(&ex);
            tracing::warn!("Failed listening on port {port} (cluster), aborting. ({e})");
            std::process::exit(1);
        }
    }
    let mode = if ex.cluster.is_some() {
        "cluster"
    } else {
        "standalone"
    };
    // Redis's redisAsciiArt: a banner (ours, not Redis's art) when always-show-logo is set or
    // a terminal shows the output; its "PID: n" line is what tools watching the log wait for.
    // SAFETY: isatty only inspects descriptor 1.
    let on_terminal = unsafe { libc::isatty(1) } == 1 && settings.logfile.is_empty();
    if settings.always_show_logo || on_terminal {
        tracing::info!("cinnabar {CINNABAR_VERSION} (Redis {REDIS_VERSION} compatible) 64 bit");
        tracing::info!("Running in {mode} mode");
        tracing::info!("Port: {}", ex.tcp_port);
        tracing::info!("PID: {}", std::process::id());
    } else {
        tracing::info!("Running mode={mode}, port={}.", ex.tcp_port);
    }
    tracing::warn!("Server initialized");
    ex.stats.startup_memory = cinnabar::alloc::used_memory() as u64;
    // Clients that connect while the dataset loads are answered (-LOADING, INFO).
    server.install_hooks(&mut ex);
    match cinnabar::persist::load(&mut ex) {
        Ok(Some(_)) | Ok(None) => cinnabar::persist::aof::started_without(&mut ex),
        Err(e) => {
            tracing::warn!("{e}");
            std::process::exit(1);
        }
    }
    if let Err(e) = cinnabar::cluster::glue::verify_data(&mut ex) {
        tracing::warn!("{e}");
        std::process::exit(1);
    }
    cinnabar::repl::start(&mut ex);
    tracing::info!("Ready to accept connections tcp");
    if let Err(e) = server.run(&mut ex) {
        tracing::warn!("Event loop failed: {e}");
        std::process::exit(1);
    }
    // The loop stops only after a successful SHUTDOWN (or SIGTERM/SIGINT).
    ex.say_goodbye();
}

/// `daemonize yes`: fork, let the parent exit, detach from the terminal.
fn daemonize() {
    // SAFETY: called before any thread starts; the child continues single-threaded.
    unsafe {
        match libc::fork() {
            -1 => {
                cinnabar::log::early("fork failed");
                std::process::exit(1);
            }
            0 => {}
            _ => libc::_exit(0),
        }
        libc::setsid();
        let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if fd >= 0 {
            libc::dup2(fd, 0);
            libc::dup2(fd, 1);
            libc::dup2(fd, 2);
            if fd > 2 {
                libc::close(fd);
            }
        }
    }
}
