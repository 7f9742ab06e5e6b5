//! Configuration: every redis.conf directive Redis 7.0 knows (plus 7.2's additions), parsed and
//! validated with Redis's rules and error texts, for the config file, the command line and
//! CONFIG GET / SET / REWRITE. Directives whose feature cinnabar does not have yet are still
//! validated and stored (so a real redis.conf loads), and `effect` says so for the log.
//!
//! Values live in one uniform table; `Settings` is the typed view the server reads, rebuilt
//! after every change.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::util::glob::glob_match;
use crate::util::num::parse_i64;
use crate::util::splitargs::{repr, split_args};

/// Version we report as `redis_version`: the Redis level cinnabar is compatible with.
pub const REDIS_VERSION: &str = "7.2.4";
pub const REDIS_VERSION_NUM: i64 = 0x00070204;
pub const CINNABAR_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Hard bounds that are not directives.
pub mod limits {
    /// Redis's CONFIG_MIN_HZ / CONFIG_MAX_HZ.
    pub const HZ_MIN: i64 = 1;
    pub const HZ_MAX: i64 = 500;
    /// Descriptors reserved for purposes other than clients (Redis's CONFIG_MIN_RESERVED_FDS).
    pub const RESERVED_FDS: u64 = 32;
    /// Keys sampled per active-expiry loop (ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP).
    pub const EXPIRE_KEYS_PER_LOOP: usize = 20;
    /// Share of CPU the slow expiry cycle may use, in percent.
    pub const EXPIRE_SLOW_CYCLE_PERCENT: u64 = 25;
    /// Budget of the fast expiry cycle in microseconds.
    pub const EXPIRE_FAST_CYCLE_US: u64 = 1000;
    /// Stale share above which an expiry loop repeats, in percent.
    pub const EXPIRE_ACCEPTABLE_STALE_PERCENT: usize = 10;
    /// Bytes read from a socket per read call (Redis's PROTO_IOBUF_LEN).
    pub const IOBUF_LEN: usize = 16 * 1024;
    /// Reads per client per event-loop turn before others get a go.
    pub const READS_PER_TURN: usize = 16;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// cinnabar acts on the value.
    Active,
    /// Accepted and reported, but the feature behind it is not built yet.
    Stored,
}

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Bool,
    /// Plain integer within bounds.
    Int {
        min: i64,
        max: i64,
    },
    /// Integer or memory value ("1gb").
    Memory {
        min: i64,
        max: i64,
    },
    /// Unsigned memory value (maxmemory).
    UMemory,
    /// Memory value or percentage ("10%"), stored negative for percent (maxmemory-clients).
    MemoryPercent {
        min: i64,
        max: i64,
    },
    Octal {
        min: i64,
        max: i64,
    },
    Enum(&'static [&'static str]),
    /// A set of flags from the list (shutdown-on-sigint).
    Flags(&'static [&'static str]),
    Str,
    /// A hostname to announce (cluster-announce-hostname): checked as Redis checks it.
    Hostname,
    Save,
    ObufLimit,
    Bind,
    Dir,
    Notify,
    OomValues,
    Percentiles,
    ReplicaOf,
}

pub const IMMUTABLE: u32 = 1;
pub const PROTECTED: u32 = 2;
pub const SENSITIVE: u32 = 4;
pub const HIDDEN: u32 = 8;
pub const MULTI_ARG: u32 = 16;
/// CONFIG SET refuses it while a dataset loads (Redis's DENY_LOADING_CONFIG).
pub const DENY_LOADING: u32 = 32;

pub struct Def {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    pub kind: Kind,
    pub default: &'static str,
    pub flags: u32,
    pub effect: Effect,
}

const fn d(
    name: &'static str,
    kind: Kind,
    default: &'static str,
    flags: u32,
    effect: Effect,
) -> Def {
    Def {
        name,
        alias: None,
        kind,
        default,
        flags,
        effect,
    }
}

const fn da(
    name: &'static str,
    alias: &'static str,
    kind: Kind,
    default: &'static str,
    flags: u32,
    effect: Effect,
) -> Def {
    Def {
        name,
        alias: Some(alias),
        kind,
        default,
        flags,
        effect,
    }
}

const I32: Kind = Kind::Int {
    min: i32::MIN as i64,
    max: i32::MAX as i64,
};
const NONNEG_I32: Kind = Kind::Int {
    min: 0,
    max: i32::MAX as i64,
};
const NONNEG_I64: Kind = Kind::Int {
    min: 0,
    max: i64::MAX,
};
const PORT: Kind = Kind::Int { min: 0, max: 65535 };
const NONNEG_MEM: Kind = Kind::Memory {
    min: 0,
    max: i64::MAX,
};
const YES_NO_LOCAL: &[&str] = &["no", "yes", "local"];
const SHUTDOWN_FLAGS: &[&str] = &["default", "save", "nosave", "now", "force"];

use Effect::{Active as A, Stored as S};

/// Every directive, in no particular order (CONFIG GET order is unspecified, as in Redis).
pub static DEFS: &[Def] = &[
    // Networking and clients.
    // Redis 7.0 binds every interface when started without a config file; cinnabar keeps to
    // loopback unless told otherwise (the default of the redis.conf Redis ships).
    d("bind", Kind::Bind, "* -::*", MULTI_ARG, A),
    d("bind-source-addr", Kind::Str, "", 0, A),
    d("port", PORT, "6379", 0, A),
    d("tcp-backlog", NONNEG_I32, "511", IMMUTABLE, A),
    d("unixsocket", Kind::Str, "", IMMUTABLE, A),
    d(
        "unixsocketperm",
        Kind::Octal { min: 0, max: 0o777 },
        "0",
        IMMUTABLE,
        A,
    ),
    d("protected-mode", Kind::Bool, "yes", 0, A),
    d("timeout", NONNEG_I32, "0", 0, A),
    d("tcp-keepalive", NONNEG_I32, "300", 0, A),
    d(
        "maxclients",
        Kind::Int {
            min: 1,
            max: u32::MAX as i64,
        },
        "10000",
        0,
        A,
    ),
    d(
        "socket-mark-id",
        Kind::Int {
            min: 0,
            max: u32::MAX as i64,
        },
        "0",
        IMMUTABLE,
        S,
    ),
    d(
        "client-query-buffer-limit",
        Kind::Memory {
            min: 1024 * 1024,
            max: i64::MAX,
        },
        "1073741824",
        0,
        A,
    ),
    d(
        "proto-max-bulk-len",
        Kind::Memory {
            min: 1024 * 1024,
            max: i64::MAX,
        },
        "536870912",
        0,
        A,
    ),
    d(
        "client-output-buffer-limit",
        Kind::ObufLimit,
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        MULTI_ARG,
        A,
    ),
    d(
        "maxmemory-clients",
        Kind::MemoryPercent {
            min: -100,
            max: i64::MAX,
        },
        "0",
        0,
        A,
    ),
    d(
        "io-threads",
        Kind::Int { min: 1, max: 128 },
        "1",
        IMMUTABLE,
        A,
    ),
    d("io-threads-do-reads", Kind::Bool, "no", IMMUTABLE, A),
    // General.
    d("daemonize", Kind::Bool, "no", IMMUTABLE, A),
    d(
        "supervised",
        Kind::Enum(&["upstart", "systemd", "auto", "no"]),
        "no",
        IMMUTABLE,
        S,
    ),
    d("pidfile", Kind::Str, "", IMMUTABLE, A),
    d(
        "loglevel",
        Kind::Enum(&["debug", "verbose", "notice", "warning"]),
        "notice",
        0,
        A,
    ),
    d("logfile", Kind::Str, "", IMMUTABLE, A),
    d("syslog-enabled", Kind::Bool, "no", IMMUTABLE, S),
    d("syslog-ident", Kind::Str, "redis", IMMUTABLE, S),
    d(
        "syslog-facility",
        Kind::Enum(&[
            "user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
        ]),
        "local0",
        IMMUTABLE,
        S,
    ),
    d("crash-log-enabled", Kind::Bool, "yes", 0, A),
    d("crash-memcheck-enabled", Kind::Bool, "yes", 0, S),
    d(
        "databases",
        Kind::Int {
            min: 1,
            max: i32::MAX as i64,
        },
        "16",
        IMMUTABLE,
        A,
    ),
    d("always-show-logo", Kind::Bool, "no", IMMUTABLE, A),
    d("set-proc-title", Kind::Bool, "yes", IMMUTABLE, A),
    d(
        "proc-title-template",
        Kind::Str,
        "{title} {listen-addr} {server-mode}",
        0,
        A,
    ),
    d("locale-collate", Kind::Str, "", 0, S),
    d(
        "enable-protected-configs",
        Kind::Enum(YES_NO_LOCAL),
        "no",
        IMMUTABLE,
        A,
    ),
    d(
        "enable-debug-command",
        Kind::Enum(YES_NO_LOCAL),
        "no",
        IMMUTABLE,
        A,
    ),
    d(
        "enable-module-command",
        Kind::Enum(YES_NO_LOCAL),
        "no",
        IMMUTABLE,
        A,
    ),
    d("hz", NONNEG_I32, "10", 0, A),
    d("dynamic-hz", Kind::Bool, "yes", 0, S),
    d("disable-thp", Kind::Bool, "yes", IMMUTABLE, S),
    d("ignore-warnings", Kind::Str, "", 0, S),
    d("server_cpulist", Kind::Str, "", IMMUTABLE, S),
    d("bio_cpulist", Kind::Str, "", IMMUTABLE, S),
    d("aof_rewrite_cpulist", Kind::Str, "", IMMUTABLE, S),
    d("bgsave_cpulist", Kind::Str, "", IMMUTABLE, S),
    d(
        "oom-score-adj",
        Kind::Enum(&["no", "yes", "relative", "absolute"]),
        "no",
        0,
        A,
    ),
    d(
        "oom-score-adj-values",
        Kind::OomValues,
        "0 200 800",
        MULTI_ARG,
        A,
    ),
    d(
        "shutdown-on-sigint",
        Kind::Flags(SHUTDOWN_FLAGS),
        "default",
        MULTI_ARG,
        A,
    ),
    d(
        "shutdown-on-sigterm",
        Kind::Flags(SHUTDOWN_FLAGS),
        "default",
        MULTI_ARG,
        A,
    ),
    d("shutdown-timeout", NONNEG_I32, "10", 0, A),
    // Snapshotting.
    d("save", Kind::Save, "3600 1 300 100 60 10000", MULTI_ARG, A),
    d("stop-writes-on-bgsave-error", Kind::Bool, "yes", 0, A),
    d("rdbcompression", Kind::Bool, "yes", 0, A),
    d("rdbchecksum", Kind::Bool, "yes", IMMUTABLE, A),
    d(
        "sanitize-dump-payload",
        Kind::Enum(&["no", "yes", "clients"]),
        "no",
        0,
        S,
    ),
    d("dbfilename", Kind::Str, "dump.rdb", PROTECTED, A),
    d("rdb-del-sync-files", Kind::Bool, "no", 0, S),
    d("dir", Kind::Dir, "", PROTECTED | DENY_LOADING, A),
    d("rdb-save-incremental-fsync", Kind::Bool, "yes", 0, A),
    d("rdb-key-save-delay", I32, "0", HIDDEN, A),
    // cinnabar's own: background snapshots by fork (as Redis) or live, without fork.
    d("snapshot-mode", Kind::Enum(&["fork", "live"]), "fork", 0, A),
    d("key-load-delay", I32, "0", HIDDEN, A),
    d(
        "loading-process-events-interval-bytes",
        Kind::Int {
            min: 1024,
            max: i32::MAX as i64,
        },
        "2097152",
        HIDDEN,
        A,
    ),
    // Replication.
    da(
        "replicaof",
        "slaveof",
        Kind::ReplicaOf,
        "",
        IMMUTABLE | MULTI_ARG,
        A,
    ),
    d("masterauth", Kind::Str, "", SENSITIVE, A),
    d("masteruser", Kind::Str, "", SENSITIVE, A),
    da(
        "replica-serve-stale-data",
        "slave-serve-stale-data",
        Kind::Bool,
        "yes",
        0,
        A,
    ),
    da(
        "replica-read-only",
        "slave-read-only",
        Kind::Bool,
        "yes",
        0,
        A,
    ),
    d("repl-diskless-sync", Kind::Bool, "yes", 0, A),
    d("repl-diskless-sync-delay", NONNEG_I32, "5", 0, A),
    d("repl-diskless-sync-max-replicas", NONNEG_I32, "0", 0, A),
    d(
        "repl-diskless-load",
        Kind::Enum(&["disabled", "on-empty-db", "swapdb"]),
        "disabled",
        0,
        A,
    ),
    da(
        "repl-ping-replica-period",
        "repl-ping-slave-period",
        Kind::Int {
            min: 1,
            max: i32::MAX as i64,
        },
        "10",
        0,
        A,
    ),
    d(
        "repl-timeout",
        Kind::Int {
            min: 1,
            max: i32::MAX as i64,
        },
        "60",
        0,
        A,
    ),
    d("repl-disable-tcp-nodelay", Kind::Bool, "no", 0, A),
    d(
        "repl-backlog-size",
        Kind::Memory {
            min: 1,
            max: i64::MAX,
        },
        "1048576",
        0,
        A,
    ),
    d("repl-backlog-ttl", NONNEG_I64, "3600", 0, A),
    da(
        "replica-priority",
        "slave-priority",
        NONNEG_I32,
        "100",
        0,
        A,
    ),
    d("replica-announced", Kind::Bool, "yes", 0, A),
    da(
        "min-replicas-to-write",
        "min-slaves-to-write",
        NONNEG_I32,
        "0",
        0,
        A,
    ),
    da(
        "min-replicas-max-lag",
        "min-slaves-max-lag",
        NONNEG_I32,
        "10",
        0,
        A,
    ),
    da(
        "replica-announce-ip",
        "slave-announce-ip",
        Kind::Str,
        "",
        0,
        A,
    ),
    da(
        "replica-announce-port",
        "slave-announce-port",
        PORT,
        "0",
        0,
        A,
    ),
    da(
        "replica-lazy-flush",
        "slave-lazy-flush",
        Kind::Bool,
        "no",
        0,
        A,
    ),
    da(
        "replica-ignore-maxmemory",
        "slave-ignore-maxmemory",
        Kind::Bool,
        "yes",
        0,
        A,
    ),
    d("replica-ignore-disk-write-errors", Kind::Bool, "no", 0, S),
    d(
        "propagation-error-behavior",
        Kind::Enum(&["ignore", "panic", "panic-on-replicas"]),
        "ignore",
        0,
        A,
    ),
    // Keys tracking.
    d("tracking-table-max-keys", NONNEG_I64, "1000000", 0, A),
    // Security.
    d("requirepass", Kind::Str, "", SENSITIVE, A),
    d("aclfile", Kind::Str, "", IMMUTABLE, A),
    d("acllog-max-len", NONNEG_I64, "128", 0, A),
    d(
        "acl-pubsub-default",
        Kind::Enum(&["allchannels", "resetchannels"]),
        "resetchannels",
        0,
        A,
    ),
    // Memory management.
    d("maxmemory", Kind::UMemory, "0", 0, A),
    d(
        "maxmemory-policy",
        Kind::Enum(&[
            "volatile-lru",
            "volatile-lfu",
            "volatile-random",
            "volatile-ttl",
            "allkeys-lru",
            "allkeys-lfu",
            "allkeys-random",
            "noeviction",
        ]),
        "noeviction",
        0,
        A,
    ),
    d(
        "maxmemory-samples",
        Kind::Int {
            min: 1,
            max: i32::MAX as i64,
        },
        "5",
        0,
        A,
    ),
    d(
        "maxmemory-eviction-tenacity",
        Kind::Int { min: 0, max: 100 },
        "10",
        0,
        A,
    ),
    d("lazyfree-lazy-eviction", Kind::Bool, "no", 0, A),
    d("lazyfree-lazy-expire", Kind::Bool, "no", 0, A),
    d("lazyfree-lazy-server-del", Kind::Bool, "no", 0, A),
    d("lazyfree-lazy-user-del", Kind::Bool, "no", 0, A),
    d("lazyfree-lazy-user-flush", Kind::Bool, "no", 0, A),
    d("jemalloc-bg-thread", Kind::Bool, "yes", 0, S),
    d("activedefrag", Kind::Bool, "no", 0, S),
    d(
        "active-defrag-ignore-bytes",
        Kind::Memory {
            min: 1,
            max: i64::MAX,
        },
        "104857600",
        0,
        S,
    ),
    d(
        "active-defrag-threshold-lower",
        Kind::Int { min: 0, max: 1000 },
        "10",
        0,
        S,
    ),
    d(
        "active-defrag-threshold-upper",
        Kind::Int { min: 0, max: 1000 },
        "100",
        0,
        S,
    ),
    d(
        "active-defrag-cycle-min",
        Kind::Int { min: 1, max: 99 },
        "1",
        0,
        S,
    ),
    d(
        "active-defrag-cycle-max",
        Kind::Int { min: 1, max: 99 },
        "25",
        0,
        S,
    ),
    d(
        "active-defrag-max-scan-fields",
        Kind::Int {
            min: 1,
            max: i64::MAX,
        },
        "1000",
        0,
        S,
    ),
    d(
        "active-expire-effort",
        Kind::Int { min: 1, max: 10 },
        "1",
        0,
        A,
    ),
    d("activerehashing", Kind::Bool, "yes", 0, A),
    d("lfu-log-factor", NONNEG_I32, "10", 0, A),
    d("lfu-decay-time", NONNEG_I32, "1", 0, A),
    // Append only mode.
    d("appendonly", Kind::Bool, "no", DENY_LOADING, A),
    d("appendfilename", Kind::Str, "appendonly.aof", IMMUTABLE, A),
    d("appenddirname", Kind::Str, "appendonlydir", IMMUTABLE, A),
    d(
        "appendfsync",
        Kind::Enum(&["everysec", "always", "no"]),
        "everysec",
        0,
        A,
    ),
    d("no-appendfsync-on-rewrite", Kind::Bool, "no", 0, A),
    d("auto-aof-rewrite-percentage", NONNEG_I32, "100", 0, A),
    d("auto-aof-rewrite-min-size", NONNEG_MEM, "67108864", 0, A),
    d("aof-load-truncated", Kind::Bool, "yes", 0, A),
    d("aof-use-rdb-preamble", Kind::Bool, "yes", 0, A),
    d("aof-timestamp-enabled", Kind::Bool, "no", 0, A),
    d("aof-rewrite-incremental-fsync", Kind::Bool, "yes", 0, A),
    d("aof-disable-auto-gc", Kind::Bool, "no", HIDDEN, A),
    // Scripting.
    da(
        "busy-reply-threshold",
        "lua-time-limit",
        NONNEG_I64,
        "5000",
        0,
        A,
    ),
    // Cluster.
    d("cluster-enabled", Kind::Bool, "no", IMMUTABLE, A),
    d("cluster-config-file", Kind::Str, "nodes.conf", IMMUTABLE, A),
    d("cluster-node-timeout", NONNEG_I64, "15000", 0, A),
    d("cluster-port", PORT, "0", IMMUTABLE, A),
    da(
        "cluster-replica-validity-factor",
        "cluster-slave-validity-factor",
        NONNEG_I32,
        "10",
        0,
        A,
    ),
    d("cluster-migration-barrier", NONNEG_I32, "1", 0, A),
    d("cluster-allow-replica-migration", Kind::Bool, "yes", 0, A),
    d("cluster-require-full-coverage", Kind::Bool, "yes", 0, A),
    da(
        "cluster-replica-no-failover",
        "cluster-slave-no-failover",
        Kind::Bool,
        "no",
        0,
        A,
    ),
    d("cluster-allow-reads-when-down", Kind::Bool, "no", 0, A),
    d(
        "cluster-allow-pubsubshard-when-down",
        Kind::Bool,
        "yes",
        0,
        A,
    ),
    d("cluster-link-sendbuf-limit", Kind::UMemory, "0", 0, A),
    d("cluster-announce-hostname", Kind::Hostname, "", 0, A),
    d("cluster-announce-human-nodename", Kind::Str, "", 0, S),
    d("cluster-announce-ip", Kind::Str, "", 0, A),
    d("cluster-announce-port", PORT, "0", 0, A),
    d("cluster-announce-bus-port", PORT, "0", 0, A),
    d("cluster-announce-tls-port", PORT, "0", 0, A),
    d(
        "cluster-preferred-endpoint-type",
        Kind::Enum(&["ip", "hostname", "unknown-endpoint"]),
        "ip",
        0,
        A,
    ),
    // Slow log, latency.
    d(
        "slowlog-log-slower-than",
        Kind::Int {
            min: -1,
            max: i64::MAX,
        },
        "10000",
        0,
        A,
    ),
    d("slowlog-max-len", NONNEG_I64, "128", 0, A),
    d("latency-monitor-threshold", NONNEG_I64, "0", 0, A),
    d("latency-tracking", Kind::Bool, "yes", 0, A),
    d(
        "latency-tracking-info-percentiles",
        Kind::Percentiles,
        "50 99 99.9",
        MULTI_ARG,
        A,
    ),
    // Event notification.
    d("notify-keyspace-events", Kind::Notify, "", 0, A),
    // Advanced config: encodings.
    da(
        "hash-max-listpack-entries",
        "hash-max-ziplist-entries",
        NONNEG_I64,
        "512",
        0,
        A,
    ),
    da(
        "hash-max-listpack-value",
        "hash-max-ziplist-value",
        NONNEG_MEM,
        "64",
        0,
        A,
    ),
    da(
        "list-max-listpack-size",
        "list-max-ziplist-size",
        I32,
        "-2",
        0,
        A,
    ),
    d("list-compress-depth", NONNEG_I32, "0", 0, A),
    d("set-max-intset-entries", NONNEG_I64, "512", 0, A),
    d("set-max-listpack-entries", NONNEG_I64, "128", 0, A),
    d("set-max-listpack-value", NONNEG_MEM, "64", 0, A),
    da(
        "zset-max-listpack-entries",
        "zset-max-ziplist-entries",
        NONNEG_I64,
        "128",
        0,
        A,
    ),
    da(
        "zset-max-listpack-value",
        "zset-max-ziplist-value",
        NONNEG_MEM,
        "64",
        0,
        A,
    ),
    d("hll-sparse-max-bytes", NONNEG_MEM, "3000", 0, A),
    d("stream-node-max-bytes", NONNEG_MEM, "4096", 0, A),
    d("stream-node-max-entries", NONNEG_I64, "100", 0, A),
    // TLS.
    d("tls-port", PORT, "0", 0, A),
    d("tls-cert-file", Kind::Str, "", 0, A),
    d("tls-key-file", Kind::Str, "", 0, A),
    d("tls-key-file-pass", Kind::Str, "", SENSITIVE, A),
    d("tls-client-cert-file", Kind::Str, "", 0, A),
    d("tls-client-key-file", Kind::Str, "", 0, A),
    d("tls-client-key-file-pass", Kind::Str, "", SENSITIVE, A),
    d("tls-dh-params-file", Kind::Str, "", 0, S),
    d("tls-ca-cert-file", Kind::Str, "", 0, A),
    d("tls-ca-cert-dir", Kind::Str, "", 0, A),
    d(
        "tls-auth-clients",
        Kind::Enum(&["no", "yes", "optional"]),
        "yes",
        0,
        A,
    ),
    d("tls-replication", Kind::Bool, "no", 0, A),
    d("tls-cluster", Kind::Bool, "no", 0, A),
    d("tls-protocols", Kind::Str, "", 0, A),
    d("tls-ciphers", Kind::Str, "", 0, A),
    d("tls-ciphersuites", Kind::Str, "", 0, A),
    d("tls-prefer-server-ciphers", Kind::Bool, "no", 0, A),
    d("tls-session-caching", Kind::Bool, "yes", 0, A),
    d("tls-session-cache-size", NONNEG_I32, "20480", 0, A),
    d("tls-session-cache-timeout", NONNEG_I32, "300", 0, S),
    d("use-exit-on-panic", Kind::Bool, "no", HIDDEN, S),
    d("watchdog-period", NONNEG_I32, "0", HIDDEN, A),
];

/// Directives Redis 7.0 still accepts and ignores (with their argument count range).
const DEPRECATED: &[(&str, usize, usize)] = &[
    ("list-max-ziplist-entries", 2, 2),
    ("list-max-ziplist-value", 2, 2),
    ("lua-replicate-commands", 2, 2),
];

/// A parsed value.
#[derive(Debug, Clone, PartialEq)]
pub enum Setting {
    Bool(bool),
    Int(i64),
    UInt(u64),
    Enum(usize),
    Flags(u32),
    Str(Vec<u8>),
    Save(Vec<(u64, u64)>),
    Obuf([ObufLimit; 3]),
    List(Vec<String>),
    Notify(u32),
    Oom([i64; 3]),
    Percentiles(Vec<f64>),
    ReplicaOf(Option<(String, u16)>),
}

/// One class's output buffer limit (client-output-buffer-limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ObufLimit {
    pub hard_bytes: u64,
    pub soft_bytes: u64,
    pub soft_secs: u64,
}

/// Client classes for output buffer limits, in Redis's order.
pub const OBUF_CLASSES: [&str; 3] = ["normal", "slave", "pubsub"];

/// Keyspace notification classes (notify-keyspace-events).
pub mod notify {
    pub const KEYSPACE: u32 = 1 << 0; // K
    pub const KEYEVENT: u32 = 1 << 1; // E
    pub const GENERIC: u32 = 1 << 2; // g
    pub const STRING: u32 = 1 << 3; // $
    pub const LIST: u32 = 1 << 4; // l
    pub const SET: u32 = 1 << 5; // s
    pub const HASH: u32 = 1 << 6; // h
    pub const ZSET: u32 = 1 << 7; // z
    pub const EXPIRED: u32 = 1 << 8; // x
    pub const EVICTED: u32 = 1 << 9; // e
    pub const STREAM: u32 = 1 << 10; // t
    pub const KEY_MISS: u32 = 1 << 11; // m
    pub const LOADED: u32 = 1 << 12; // module only
    pub const MODULE: u32 = 1 << 13; // d
    pub const NEW: u32 = 1 << 14; // n
    /// Redis 8.2: a key's value was replaced whole (SET, MSET, RENAME, COPY/RESTORE REPLACE,
    /// BITOP, the STORE commands). Not in 'A', as 'n' is not.
    pub const OVERWRITTEN: u32 = 1 << 15; // o
    /// Redis 8.2: such a replacement changed the key's type.
    pub const TYPE_CHANGED: u32 = 1 << 16; // c
    pub const ALL: u32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

    /// Redis's keyspaceEventsStringToFlags; None on an unknown character.
    pub fn parse(s: &[u8]) -> Option<u32> {
        let mut flags = 0;
        for &c in s {
            flags |= match c {
                b'A' => ALL,
                b'g' => GENERIC,
                b'$' => STRING,
                b'l' => LIST,
                b's' => SET,
                b'h' => HASH,
                b'z' => ZSET,
                b'x' => EXPIRED,
                b'e' => EVICTED,
                b'K' => KEYSPACE,
                b'E' => KEYEVENT,
                b't' => STREAM,
                b'm' => KEY_MISS,
                b'd' => MODULE,
                b'n' => NEW,
                b'o' => OVERWRITTEN,
                b'c' => TYPE_CHANGED,
                _ => return None,
            };
        }
        Some(flags)
    }

    /// Redis's keyspaceEventsFlagsToString.
    pub fn format(flags: u32) -> String {
        let mut s = String::new();
        if flags & ALL == ALL {
            s.push('A');
        } else {
            for (bit, c) in [
                (GENERIC, 'g'),
                (STRING, '$'),
                (LIST, 'l'),
                (SET, 's'),
                (HASH, 'h'),
                (ZSET, 'z'),
                (EXPIRED, 'x'),
                (EVICTED, 'e'),
                (STREAM, 't'),
                (MODULE, 'd'),
            ] {
                if flags & bit != 0 {
                    s.push(c);
                }
            }
        }
        for (bit, c) in [
            (KEYSPACE, 'K'),
            (KEYEVENT, 'E'),
            (KEY_MISS, 'm'),
            (NEW, 'n'),
            // Outside 'A' like 'n' (Redis 8.2 prints them only without 'A', so "AKEoc" would
            // read back as "AKE"; here it reads back as given).
            (OVERWRITTEN, 'o'),
            (TYPE_CHANGED, 'c'),
        ] {
            if flags & bit != 0 {
                s.push(c);
            }
        }
        s
    }
}

/// The whole configuration: one value per directive.
#[derive(Clone)]
pub struct Config {
    pub values: Vec<Setting>,
    /// Absolute path of the config file, if started with one (CONFIG REWRITE target).
    pub file: Option<PathBuf>,
    /// rename-command directives: (from, to); an empty `to` disables the command.
    pub renames: Vec<(String, String)>,
    /// `user` directives: the name, then its rules (selectors merged), checked for syntax
    /// when read and applied at startup (Redis's UsersToLoad).
    pub users: Vec<Vec<Vec<u8>>>,
    /// Directives that were set from the config file or command line, for the log.
    pub touched: HashSet<usize>,
    /// A `save` line was read: the next ones add save points instead of replacing.
    save_loaded: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

/// A configuration error with Redis's wording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

pub fn lookup(name: &str) -> Option<usize> {
    DEFS.iter().position(|d| {
        d.name.eq_ignore_ascii_case(name) || d.alias.is_some_and(|a| a.eq_ignore_ascii_case(name))
    })
}

impl Config {
    pub fn new() -> Self {
        let values = DEFS
            .iter()
            .map(|def| {
                let args: Vec<Vec<u8>> = if def.flags & MULTI_ARG != 0 {
                    split_args(def.default.as_bytes()).expect("default")
                } else {
                    vec![def.default.as_bytes().to_vec()]
                };
                parse_value(def, &args)
                    .unwrap_or_else(|e| panic!("default of {}: {}", def.name, e.0))
            })
            .collect();
        let mut c = Config {
            values,
            file: None,
            renames: Vec::new(),
            users: Vec::new(),
            touched: HashSet::new(),
            save_loaded: false,
        };
        let dir = std::env::current_dir()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let i = lookup("dir").expect("dir");
        c.values[i] = Setting::Str(dir.into_bytes());
        c
    }

    pub fn get(&self, name: &str) -> &Setting {
        &self.values[lookup(name).unwrap_or_else(|| panic!("unknown config {name}"))]
    }

    pub fn get_bool(&self, name: &str) -> bool {
        matches!(self.get(name), Setting::Bool(true))
    }

    pub fn get_int(&self, name: &str) -> i64 {
        match self.get(name) {
            Setting::Int(i) => *i,
            Setting::UInt(u) => *u as i64,
            other => panic!("{name} is not an integer: {other:?}"),
        }
    }

    pub fn get_str(&self, name: &str) -> &[u8] {
        match self.get(name) {
            Setting::Str(s) => s,
            other => panic!("{name} is not a string: {other:?}"),
        }
    }

    /// A string directive as text (lossy for non-UTF-8 bytes).
    pub fn get_string(&self, name: &str) -> String {
        String::from_utf8_lossy(self.get_str(name)).into_owned()
    }

    pub fn get_enum(&self, name: &str) -> &'static str {
        let i = lookup(name).expect("config");
        match (&self.values[i], DEFS[i].kind) {
            (Setting::Enum(v), Kind::Enum(names)) => names[*v],
            _ => panic!("{name} is not an enum"),
        }
    }

    /// Sets a directive from its arguments, applying Redis's side rules (hz clamping).
    pub fn set(&mut self, idx: usize, args: &[Vec<u8>]) -> Result<(), ConfigError> {
        let def = &DEFS[idx];
        let mut v = self.parse_for(idx, args)?;
        if def.name == "proc-title-template" {
            if let Setting::Str(t) = &v {
                if !crate::proctitle::valid_template(t) {
                    return Err(ConfigError(
                        "template format is invalid or contains unknown variables".into(),
                    ));
                }
            }
        }
        if def.name == "hz" {
            if let Setting::Int(hz) = &mut v {
                *hz = (*hz).clamp(limits::HZ_MIN, limits::HZ_MAX);
            }
        }
        self.values[idx] = v;
        Ok(())
    }

    /// Parses a new value for directive `idx`. client-output-buffer-limit merges into the
    /// current limits: the classes a line does not name keep theirs, as in Redis.
    fn parse_for(&self, idx: usize, args: &[Vec<u8>]) -> Result<Setting, ConfigError> {
        match (&self.values[idx], DEFS[idx].kind) {
            (Setting::Obuf(current), Kind::ObufLimit) => parse_obuf(args, Some(*current)),
            _ => parse_value(&DEFS[idx], args),
        }
    }

    /// CONFIG GET's rendering of a value. `dir` reports the working directory, as Redis does.
    pub fn format(&self, idx: usize) -> Vec<u8> {
        if matches!(DEFS[idx].kind, Kind::Dir) {
            return std::env::current_dir()
                .map(|p| p.display().to_string().into_bytes())
                .unwrap_or_default();
        }
        format_value(&DEFS[idx], &self.values[idx])
    }

    /// Loads directives from config text (a file's contents, then the command line).
    pub fn load_str(&mut self, text: &str, base: Option<&Path>) -> Result<(), FileError> {
        for (lineno, raw) in text.split('\n').enumerate() {
            let line = raw.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fail = |msg: &str| FileError {
                line: lineno + 1,
                text: line.to_string(),
                msg: msg.to_string(),
            };
            let Some(argv) = split_args(line.as_bytes()) else {
                return Err(fail("Unbalanced quotes in configuration line"));
            };
            if argv.is_empty() {
                continue;
            }
            let name = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
            if let Some(idx) = lookup(&name) {
                let def = &DEFS[idx];
                let args: Vec<Vec<u8>> = if def.flags & MULTI_ARG == 0 {
                    if argv.len() != 2 {
                        return Err(fail("wrong number of arguments"));
                    }
                    argv[1..].to_vec()
                } else if argv.len() == 2 && !argv[1].is_empty() {
                    split_args(&argv[1])
                        .ok_or_else(|| fail("Unbalanced quotes in configuration line"))?
                } else {
                    argv[1..].to_vec()
                };
                let mut v = self.parse_for(idx, &args).map_err(|e| fail(&e.0))?;
                if def.name == "hz" {
                    if let Setting::Int(hz) = &mut v {
                        *hz = (*hz).clamp(limits::HZ_MIN, limits::HZ_MAX);
                    }
                }
                // While reading config, the first `save` replaces the default points and the
                // next ones add to them; `save ""` empties them (Redis's setConfigSaveOption).
                if let (Setting::Save(points), Setting::Save(current)) = (&mut v, &self.values[idx])
                {
                    if self.save_loaded && !points.is_empty() {
                        let mut all = current.clone();
                        all.append(points);
                        *points = all;
                    }
                    self.save_loaded = true;
                }
                if def.name == "dir" {
                    if let Setting::Str(p) = &v {
                        let p = String::from_utf8_lossy(p).to_string();
                        std::env::set_current_dir(&p).map_err(|e| fail(&format!("{e}")))?;
                    }
                }
                self.values[idx] = v;
                self.touched.insert(idx);
                continue;
            }
            if DEPRECATED
                .iter()
                .any(|(n, lo, hi)| *n == name && (*lo..=*hi).contains(&argv.len()))
            {
                continue;
            }
            match name.as_str() {
                "include" if argv.len() == 2 => {
                    let path = PathBuf::from(String::from_utf8_lossy(&argv[1]).to_string());
                    let path = match base {
                        Some(b) if path.is_relative() => b.join(path),
                        _ => path,
                    };
                    let text = std::fs::read_to_string(&path).map_err(|e| {
                        fail(&format!(
                            "Fatal error, can't open config file '{}': {e}",
                            path.display()
                        ))
                    })?;
                    self.load_str(&text, path.parent())?;
                }
                "rename-command" if argv.len() == 3 => {
                    let from = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
                    let to = String::from_utf8_lossy(&argv[2]).to_ascii_lowercase();
                    if !crate::cmd::meta_gen::ALL.iter().any(|m| m.name == from) {
                        return Err(fail("No such command in rename-command"));
                    }
                    if !to.is_empty() && crate::cmd::meta_gen::ALL.iter().any(|m| m.name == to) {
                        return Err(fail("Target command name already exists"));
                    }
                    self.renames.push((from, to));
                }
                "user" if argv.len() >= 2 => self.add_user(&argv).map_err(|e| fail(&e))?,
                "loadmodule" | "sentinel" if argv.len() >= 2 => {
                    return Err(fail(&format!("'{name}' is not supported by cinnabar yet")));
                }
                _ => return Err(fail("Bad directive or wrong number of arguments")),
            }
        }
        Ok(())
    }

    /// A `user` directive (Redis's ACLAppendUserForLoading): rule syntax is checked now,
    /// command names when the users are loaded.
    fn add_user(&mut self, argv: &[Vec<u8>]) -> Result<(), String> {
        use crate::acl::{merge_selector_args, RuleError, User};
        let declared = |i: usize, e: RuleError| {
            format!(
                "Error in user declaration '{}': {}",
                String::from_utf8_lossy(&argv[i]),
                e.message()
            )
        };
        if self.users.iter().any(|u| u[0] == argv[1]) {
            return Err(declared(1, RuleError::DuplicateUser));
        }
        let rules: Vec<&[u8]> = argv[2..].iter().map(Vec::as_slice).collect();
        let merged = merge_selector_args(&rules).map_err(|i| declared(i, RuleError::Syntax))?;
        let mut probe = User::new(&argv[1], false);
        for (j, rule) in merged.iter().enumerate() {
            match probe.apply(rule, false) {
                Ok(()) | Err(RuleError::UnknownCommand) => {}
                // Redis names argv[j] here, counting from the directive's name.
                Err(e) => return Err(declared(j, e)),
            }
        }
        let mut user = vec![argv[1].clone()];
        user.extend(merged);
        self.users.push(user);
        Ok(())
    }

    /// CONFIG GET: (name, value) pairs, in argument order, each name once (any case). A name
    /// without glob characters is looked up directly and echoed as given, hidden directives
    /// included; a pattern matches the names and aliases of the visible ones (Redis's
    /// configGetCommand).
    pub fn get_matching<'a>(&self, patterns: &[&'a [u8]]) -> Vec<(&'a [u8], Vec<u8>)> {
        let mut out: Vec<(&'a [u8], Vec<u8>)> = Vec::new();
        let add = |name: &'a [u8], i: usize, out: &mut Vec<(&'a [u8], Vec<u8>)>| {
            if !out.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
                out.push((name, self.format(i)));
            }
        };
        for &pattern in patterns {
            if !pattern.iter().any(|c| matches!(c, b'*' | b'?' | b'[')) {
                if let Some(i) = lookup(&String::from_utf8_lossy(pattern)) {
                    add(pattern, i, &mut out);
                }
                continue;
            }
            for (i, def) in DEFS.iter().enumerate() {
                if def.flags & HIDDEN != 0 {
                    continue;
                }
                for name in std::iter::once(def.name).chain(def.alias) {
                    if glob_match(pattern, name.as_bytes(), true) {
                        add(name.as_bytes(), i, &mut out);
                    }
                }
            }
        }
        out
    }
}

/// A config-file error, printed Redis-style before exiting with status 1.
#[derive(Debug)]
pub struct FileError {
    pub line: usize,
    pub text: String,
    pub msg: String,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "\n*** FATAL CONFIG FILE ERROR (cinnabar {CINNABAR_VERSION}, Redis {REDIS_VERSION}) ***\n\
             Reading the configuration file, at line {}\n>>> '{}'\n{}",
            self.line, self.text, self.msg
        )
    }
}

fn err(s: &str) -> ConfigError {
    ConfigError(s.to_string())
}

/// Redis's memtoull: digits with an optional b/k/kb/m/mb/g/gb unit.
pub fn parse_memory(s: &[u8]) -> Option<u64> {
    if s.first() == Some(&b'-') {
        return None;
    }
    let digits = s.iter().take_while(|c| c.is_ascii_digit()).count();
    let unit = std::str::from_utf8(&s[digits..]).ok()?.to_ascii_lowercase();
    let mul: u64 = match unit.as_str() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    let val: u64 = if digits == 0 {
        0
    } else {
        std::str::from_utf8(&s[..digits]).ok()?.parse().ok()?
    };
    val.checked_mul(mul)
}

fn bounds_err(min: i64, max: i64) -> ConfigError {
    ConfigError(format!(
        "argument must be between {min} and {max} inclusive"
    ))
}

/// Redis's reply to `activedefrag yes` when its jemalloc cannot move allocations.
const ACTIVE_DEFRAG_UNSUPPORTED: &str = "Active defragmentation cannot be enabled: it requires a Redis server compiled with a modified Jemalloc like the one shipped by default with the Redis source distribution";

fn parse_value(def: &Def, args: &[Vec<u8>]) -> Result<Setting, ConfigError> {
    let one = || -> Result<&[u8], ConfigError> {
        match args {
            [a] => Ok(a.as_slice()),
            _ => Err(err("wrong number of arguments")),
        }
    };
    match def.kind {
        Kind::Bool => match one()?.to_ascii_lowercase().as_slice() {
            // cinnabar does no active defragmentation: refused as a Redis built with a stock
            // jemalloc (Debian's) refuses it, so nobody relies on it silently.
            b"yes" if def.name == "activedefrag" => Err(err(ACTIVE_DEFRAG_UNSUPPORTED)),
            b"yes" => Ok(Setting::Bool(true)),
            b"no" => Ok(Setting::Bool(false)),
            _ => Err(err("argument must be 'yes' or 'no'")),
        },
        Kind::Int { min, max } => {
            let v = parse_i64(one()?)
                .ok_or_else(|| err("argument couldn't be parsed into an integer"))?;
            if v < min || v > max {
                return Err(bounds_err(min, max));
            }
            Ok(Setting::Int(v))
        }
        Kind::Memory { min, max } => {
            let v = parse_memory(one()?).ok_or_else(|| err("argument must be a memory value"))?;
            let v = i64::try_from(v).map_err(|_| bounds_err(min, max))?;
            if v < min || v > max {
                return Err(bounds_err(min, max));
            }
            Ok(Setting::Int(v))
        }
        Kind::UMemory => {
            let v = parse_memory(one()?).ok_or_else(|| err("argument must be a memory value"))?;
            Ok(Setting::UInt(v))
        }
        Kind::MemoryPercent { min, max } => {
            let a = one()?;
            let v = if let Some(m) = parse_memory(a) {
                i64::try_from(m).map_err(|_| bounds_err(min, max))?
            } else if a.len() > 1 && a.ends_with(b"%") {
                match parse_i64(&a[..a.len() - 1]) {
                    Some(p) if p >= 0 => -p,
                    _ => return Err(err("argument must be a memory or percent value")),
                }
            } else {
                return Err(err("argument must be a memory or percent value"));
            };
            if v < 0 && v < min {
                return Err(ConfigError(format!(
                    "percentage argument must be less or equal to {}",
                    -min
                )));
            }
            if v < min || v > max {
                return Err(bounds_err(min, max));
            }
            Ok(Setting::Int(v))
        }
        Kind::Octal { min, max } => {
            let a = one()?;
            let s = std::str::from_utf8(a)
                .map_err(|_| err("argument couldn't be parsed as an octal number"))?;
            let v = i64::from_str_radix(s, 8)
                .map_err(|_| err("argument couldn't be parsed as an octal number"))?;
            if v < min || v > max {
                return Err(bounds_err(min, max));
            }
            Ok(Setting::Int(v))
        }
        Kind::Enum(names) => {
            let a = one()?;
            names
                .iter()
                .position(|n| n.as_bytes().eq_ignore_ascii_case(a))
                .map(Setting::Enum)
                .ok_or_else(|| enum_err(names))
        }
        Kind::Flags(names) => {
            if args.is_empty() {
                return Err(enum_err(names));
            }
            let mut flags = 0u32;
            for a in args {
                let i = names
                    .iter()
                    .position(|n| n.as_bytes().eq_ignore_ascii_case(a))
                    .ok_or_else(|| enum_err(names))?;
                flags |= 1 << i;
            }
            // "default" (bit 0) cannot be combined with others.
            if flags & 1 != 0 && flags != 1 {
                return Err(err(
                    "shutdown-on-sig* can't combine 'default' with other flags",
                ));
            }
            Ok(Setting::Flags(flags))
        }
        Kind::Str => Ok(Setting::Str(one()?.to_vec())),
        Kind::Hostname => {
            let host = one()?;
            if host.len() >= 256 {
                return Err(err("Hostnames must be less than 256 characters"));
            }
            if !host
                .iter()
                .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.')
            {
                return Err(err(
                    "Hostnames may only contain alphanumeric characters, hyphens or dots",
                ));
            }
            Ok(Setting::Str(host.to_vec()))
        }
        Kind::Dir => Ok(Setting::Str(one()?.to_vec())),
        Kind::Save => parse_save(args),
        Kind::ObufLimit => parse_obuf(args, None),
        Kind::Bind => {
            // `bind ""` (no address): no TCP listener, as Redis allows.
            if args.len() > 16 {
                return Err(err("Too many bind addresses specified."));
            }
            if args.len() == 1 && args[0].is_empty() {
                return Ok(Setting::List(Vec::new()));
            }
            Ok(Setting::List(
                args.iter()
                    .map(|a| String::from_utf8_lossy(a).to_string())
                    .collect(),
            ))
        }
        Kind::Notify => notify::parse(one()?)
            .map(Setting::Notify)
            .ok_or_else(|| err("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")),
        Kind::OomValues => {
            if args.len() != 3 {
                return Err(err("wrong number of arguments"));
            }
            let mut v = [0i64; 3];
            for (i, a) in args.iter().enumerate() {
                v[i] = parse_i64(a)
                    .filter(|x| (-2000..=2000).contains(x))
                    .ok_or_else(|| {
                        err("Invalid oom-score-adj-values, elements must be between -2000 and 2000.")
                    })?;
            }
            Ok(Setting::Oom(v))
        }
        Kind::Percentiles => {
            let mut v = Vec::new();
            for a in args {
                let p = crate::util::num::parse_f64(a).filter(|p| (0.0..=100.0).contains(p)).ok_or_else(|| err("latency-tracking-info-percentiles parameters should be a value between 0.0 and 100.0"))?;
                v.push(p);
            }
            Ok(Setting::Percentiles(v))
        }
        Kind::ReplicaOf => match args {
            [h, p] if h.eq_ignore_ascii_case(b"no") && p.eq_ignore_ascii_case(b"one") => {
                Ok(Setting::ReplicaOf(None))
            }
            [] => Ok(Setting::ReplicaOf(None)),
            [h, p] => {
                let port = parse_i64(p)
                    .filter(|p| (0..=65535).contains(p))
                    .ok_or_else(|| err("Invalid master port"))?;
                Ok(Setting::ReplicaOf(Some((
                    String::from_utf8_lossy(h).to_string(),
                    port as u16,
                ))))
            }
            _ => Err(err("wrong number of arguments")),
        },
    }
}

fn enum_err(names: &[&str]) -> ConfigError {
    ConfigError(format!(
        "argument(s) must be one of the following: {}",
        names.join(", ")
    ))
}

fn parse_save(args: &[Vec<u8>]) -> Result<Setting, ConfigError> {
    // `save ""` clears all save points.
    if args.len() == 1 && args[0].is_empty() {
        return Ok(Setting::Save(Vec::new()));
    }
    if args.len() % 2 != 0 {
        return Err(err("Invalid save parameters"));
    }
    let mut points = Vec::new();
    for pair in args.chunks(2) {
        let secs = parse_i64(&pair[0]).filter(|v| *v >= 0);
        let changes = parse_i64(&pair[1]).filter(|v| *v >= 0);
        match (secs, changes) {
            (Some(s), Some(c)) => points.push((s as u64, c as u64)),
            _ => return Err(err("Invalid save parameters")),
        }
    }
    Ok(Setting::Save(points))
}

/// Parses client-output-buffer-limit class/hard/soft/seconds groups over `base`.
fn parse_obuf(args: &[Vec<u8>], base: Option<[ObufLimit; 3]>) -> Result<Setting, ConfigError> {
    if args.len() % 4 != 0 || args.is_empty() {
        return Err(err(
            "Wrong number of arguments in buffer limit configuration.",
        ));
    }
    let mut limits = base.unwrap_or_default();
    for g in args.chunks(4) {
        let class = match g[0].to_ascii_lowercase().as_slice() {
            b"normal" => 0,
            b"slave" | b"replica" => 1,
            b"pubsub" => 2,
            _ => {
                return Err(err(
                    "Invalid client class specified in buffer limit configuration.",
                ))
            }
        };
        let hard = parse_memory(&g[1]);
        let soft = parse_memory(&g[2]);
        let secs = parse_i64(&g[3]).filter(|v| *v >= 0);
        match (hard, soft, secs) {
            (Some(h), Some(s), Some(t)) => {
                limits[class] = ObufLimit {
                    hard_bytes: h,
                    soft_bytes: s,
                    soft_secs: t as u64,
                }
            }
            _ => {
                return Err(err(
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration.",
                ))
            }
        }
    }
    Ok(Setting::Obuf(limits))
}

fn format_value(def: &Def, v: &Setting) -> Vec<u8> {
    match (v, def.kind) {
        (Setting::Bool(b), _) => {
            if *b {
                b"yes".to_vec()
            } else {
                b"no".to_vec()
            }
        }
        (Setting::Int(i), Kind::Octal { .. }) => format!("{i:o}").into_bytes(),
        (Setting::Int(i), Kind::MemoryPercent { .. }) if *i < 0 => format!("{}%", -i).into_bytes(),
        (Setting::Int(i), _) => i.to_string().into_bytes(),
        (Setting::UInt(u), _) => u.to_string().into_bytes(),
        (Setting::Enum(e), Kind::Enum(names)) => names[*e].as_bytes().to_vec(),
        (Setting::Flags(f), Kind::Flags(names)) => names
            .iter()
            .enumerate()
            .filter(|(i, _)| f & (1 << i) != 0)
            .map(|(_, n)| *n)
            .collect::<Vec<_>>()
            .join(" ")
            .into_bytes(),
        (Setting::Str(s), _) => s.clone(),
        (Setting::Save(points), _) => points
            .iter()
            .map(|(s, c)| format!("{s} {c}"))
            .collect::<Vec<_>>()
            .join(" ")
            .into_bytes(),
        (Setting::Obuf(l), _) => OBUF_CLASSES
            .iter()
            .zip(l.iter())
            .map(|(c, l)| format!("{c} {} {} {}", l.hard_bytes, l.soft_bytes, l.soft_secs))
            .collect::<Vec<_>>()
            .join(" ")
            .into_bytes(),
        (Setting::List(l), _) => l.join(" ").into_bytes(),
        (Setting::Notify(n), _) => notify::format(*n).into_bytes(),
        (Setting::Oom(v), _) => format!("{} {} {}", v[0], v[1], v[2]).into_bytes(),
        (Setting::Percentiles(p), _) => p
            .iter()
            .map(|x| {
                // Redis prints "%f" and trims trailing zeros (trimDoubleString).
                let s = format!("{x:.6}");
                s.trim_end_matches('0').trim_end_matches('.').to_string()
            })
            .collect::<Vec<_>>()
            .join(" ")
            .into_bytes(),
        (Setting::ReplicaOf(None), _) => Vec::new(),
        (Setting::ReplicaOf(Some((h, p))), _) => format!("{h} {p}").into_bytes(),
        (other, _) => panic!("unformattable {}: {other:?}", def.name),
    }
}

/// Builds the config text from argv the way redis-server does: an optional config file
/// (first argument not starting with '-'), then `--name value...` groups as extra lines.
pub fn from_args(args: &[String]) -> Result<Config, String> {
    let mut cfg = Config::new();
    let mut j = 0;
    let mut file_text = String::new();
    let mut base: Option<PathBuf> = None;
    if let Some(first) = args.first() {
        if !first.starts_with('-') {
            let path = std::fs::canonicalize(first)
                .map_err(|e| format!("Fatal error, can't open config file '{first}': {e}"))?;
            file_text = std::fs::read_to_string(&path)
                .map_err(|e| format!("Fatal error, can't open config file '{first}': {e}"))?;
            base = path.parent().map(Path::to_path_buf);
            cfg.file = Some(path);
            j = 1;
        }
    }
    let mut options = String::new();
    let mut from_stdin = false;
    let mut handled_last = true;
    while j < args.len() {
        let a = &args[j];
        if a == "-" && (j == 0 || j == args.len() - 1) {
            from_stdin = true;
        } else if handled_last && a.starts_with("--") {
            if !options.is_empty() {
                options.push('\n');
            }
            options.push_str(&a[2..]);
            options.push(' ');
            let parts = split_args(a.as_bytes()).unwrap_or_default();
            if parts.len() == 1 {
                handled_last = false;
                let next_is_opt = j + 1 < args.len() && args[j + 1].starts_with("--");
                if a.eq_ignore_ascii_case("--save") && (next_is_opt || j == args.len() - 1) {
                    options.push_str("\"\"");
                    handled_last = true;
                }
            } else {
                handled_last = true;
            }
        } else {
            let mut q = Vec::new();
            repr(a.as_bytes(), &mut q);
            options.push_str(&String::from_utf8_lossy(&q));
            options.push(' ');
            handled_last = true;
        }
        j += 1;
    }
    if from_stdin {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map_err(|e| e.to_string())?;
        file_text.push('\n');
        file_text.push_str(&s);
    }
    file_text.push('\n');
    file_text.push_str(&options);
    cfg.load_str(&file_text, base.as_deref())
        .map_err(|e| e.to_string())?;
    Ok(cfg)
}

/// Typed view of the settings the server acts on.
#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: Vec<String>,
    pub port: u16,
    /// busy-reply-threshold (lua-time-limit): after this a running script lets others get BUSY.
    pub busy_reply_threshold_ms: u64,
    pub stop_writes_on_bgsave_error: bool,
    pub tcp_backlog: i32,
    pub unixsocket: Option<String>,
    pub unixsocketperm: u32,
    pub protected_mode: bool,
    pub timeout_secs: u64,
    pub tcp_keepalive_secs: u32,
    pub maxclients: u64,
    pub client_query_buffer_limit: usize,
    pub proto_max_bulk_len: i64,
    pub obuf_limits: [ObufLimit; 3],
    pub daemonize: bool,
    pub pidfile: Option<String>,
    pub loglevel: &'static str,
    pub logfile: String,
    pub databases: usize,
    pub hz: u32,
    pub requirepass: Option<Vec<u8>>,
    /// TLS listeners' port (0: none) and the server side's tls-* directives.
    pub tls_port: u16,
    pub tls: crate::net::tls::TlsSettings,
    /// The ACL file, if users live in one (aclfile).
    pub aclfile: Option<String>,
    pub acllog_max_len: i64,
    /// acl-pubsub-default allchannels: new users may use every channel.
    pub acl_pubsub_all: bool,
    pub enable_debug_command: &'static str,
    pub enable_module_command: &'static str,
    pub enable_protected_configs: &'static str,
    pub maxmemory: u64,
    /// maxmemory-clients: bytes, or minus a percentage of maxmemory; 0 off.
    pub maxmemory_clients: i64,
    pub maxmemory_policy: &'static str,
    pub maxmemory_samples: i64,
    pub slowlog_log_slower_than: i64,
    pub latency_monitor_threshold: i64,
    pub latency_tracking: bool,
    pub latency_percentiles: Vec<f64>,
    pub slowlog_max_len: usize,
    pub maxmemory_eviction_tenacity: i64,
    /// Evictions propagate as UNLINK instead of DEL.
    pub lazyfree_lazy_eviction: bool,
    pub lfu_log_factor: i64,
    pub lfu_decay_time: i64,
    pub active_expire_effort: i64,
    pub activerehashing: bool,
    pub hll_sparse_max_bytes: usize,
    pub stream_node_max_bytes: u64,
    pub stream_node_max_entries: i64,
    pub notify_flags: u32,
    pub shutdown_on_sigint: u32,
    pub shutdown_on_sigterm: u32,
    pub save_points: Vec<(u64, u64)>,
    pub appendonly: bool,
    pub appendfsync: &'static str,
    pub auto_aof_rewrite_percentage: i64,
    pub auto_aof_rewrite_min_size: u64,
    pub aof_load_truncated: bool,
    pub aof_use_rdb_preamble: bool,
    pub aof_timestamp_enabled: bool,
    pub no_appendfsync_on_rewrite: bool,
    /// Expiry deletions propagate as UNLINK instead of DEL.
    pub lazyfree_lazy_expire: bool,
    /// Server-side deletions (SPOP of a whole set) propagate as UNLINK.
    pub lazyfree_lazy_server_del: bool,
    /// DEL frees values as UNLINK does.
    pub lazyfree_lazy_user_del: bool,
    /// FLUSHALL / FLUSHDB without SYNC free in the background.
    pub lazyfree_lazy_user_flush: bool,
    pub always_show_logo: bool,
    /// Compact-encoding thresholds of the collection types.
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub list_max_listpack_size: i64,
    pub list_compress_depth: usize,
    pub set_max_intset_entries: usize,
    pub set_max_listpack_entries: usize,
    pub set_max_listpack_value: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
    pub tracking_table_max_keys: usize,
    pub min_replicas_to_write: u32,
    pub min_replicas_max_lag: u32,
    pub replica_read_only: bool,
    pub replica_serve_stale_data: bool,
    pub replica_ignore_maxmemory: bool,
}

impl Config {
    pub fn settings(&self) -> Settings {
        let str_opt = |n: &str| {
            let s = self.get_str(n);
            if s.is_empty() {
                None
            } else {
                Some(String::from_utf8_lossy(s).to_string())
            }
        };
        let flags = |n: &str| match self.get(n) {
            Setting::Flags(f) => *f,
            _ => 0,
        };
        Settings {
            bind: match self.get("bind") {
                Setting::List(l) => l.clone(),
                _ => vec![],
            },
            port: self.get_int("port") as u16,
            busy_reply_threshold_ms: self.get_int("busy-reply-threshold").max(0) as u64,
            stop_writes_on_bgsave_error: self.get_bool("stop-writes-on-bgsave-error"),
            tcp_backlog: self.get_int("tcp-backlog") as i32,
            unixsocket: str_opt("unixsocket"),
            unixsocketperm: self.get_int("unixsocketperm") as u32,
            protected_mode: self.get_bool("protected-mode"),
            timeout_secs: self.get_int("timeout") as u64,
            tcp_keepalive_secs: self.get_int("tcp-keepalive") as u32,
            maxclients: self.get_int("maxclients") as u64,
            client_query_buffer_limit: self.get_int("client-query-buffer-limit") as usize,
            proto_max_bulk_len: self.get_int("proto-max-bulk-len"),
            obuf_limits: match self.get("client-output-buffer-limit") {
                Setting::Obuf(l) => *l,
                _ => Default::default(),
            },
            daemonize: self.get_bool("daemonize"),
            pidfile: str_opt("pidfile"),
            loglevel: self.get_enum("loglevel"),
            logfile: String::from_utf8_lossy(self.get_str("logfile")).to_string(),
            databases: self.get_int("databases") as usize,
            hz: self.get_int("hz") as u32,
            requirepass: Some(self.get_str("requirepass").to_vec()).filter(|p| !p.is_empty()),
            tls_port: self.get_int("tls-port") as u16,
            tls: crate::net::tls::TlsSettings {
                cert_file: self.get_string("tls-cert-file"),
                key_file: self.get_string("tls-key-file"),
                key_file_pass: self.get_string("tls-key-file-pass"),
                ca_cert_file: self.get_string("tls-ca-cert-file"),
                ca_cert_dir: self.get_string("tls-ca-cert-dir"),
                auth_clients: self.get_enum("tls-auth-clients"),
                protocols: self.get_string("tls-protocols"),
                ciphers: self.get_string("tls-ciphers"),
                ciphersuites: self.get_string("tls-ciphersuites"),
                prefer_server_ciphers: self.get_bool("tls-prefer-server-ciphers"),
                session_caching: self.get_bool("tls-session-caching"),
                session_cache_size: self.get_int("tls-session-cache-size") as usize,
                client_cert_file: self.get_string("tls-client-cert-file"),
                client_key_file: self.get_string("tls-client-key-file"),
                client_key_file_pass: self.get_string("tls-client-key-file-pass"),
            },
            aclfile: Some(String::from_utf8_lossy(self.get_str("aclfile")).into_owned())
                .filter(|f| !f.is_empty()),
            acllog_max_len: self.get_int("acllog-max-len"),
            acl_pubsub_all: self.get_enum("acl-pubsub-default") == "allchannels",
            enable_debug_command: self.get_enum("enable-debug-command"),
            enable_module_command: self.get_enum("enable-module-command"),
            enable_protected_configs: self.get_enum("enable-protected-configs"),
            maxmemory: self.get_int("maxmemory") as u64,
            maxmemory_clients: self.get_int("maxmemory-clients"),
            maxmemory_samples: self.get_int("maxmemory-samples"),
            slowlog_log_slower_than: self.get_int("slowlog-log-slower-than"),
            latency_monitor_threshold: self.get_int("latency-monitor-threshold"),
            latency_tracking: self.get_bool("latency-tracking"),
            latency_percentiles: match self.get("latency-tracking-info-percentiles") {
                Setting::Percentiles(v) => v.clone(),
                _ => vec![],
            },
            slowlog_max_len: self.get_int("slowlog-max-len") as usize,
            maxmemory_eviction_tenacity: self.get_int("maxmemory-eviction-tenacity"),
            lazyfree_lazy_eviction: self.get_bool("lazyfree-lazy-eviction"),
            maxmemory_policy: self.get_enum("maxmemory-policy"),
            lfu_log_factor: self.get_int("lfu-log-factor"),
            lfu_decay_time: self.get_int("lfu-decay-time"),
            active_expire_effort: self.get_int("active-expire-effort"),
            activerehashing: self.get_bool("activerehashing"),
            hll_sparse_max_bytes: self.get_int("hll-sparse-max-bytes") as usize,
            stream_node_max_bytes: self.get_int("stream-node-max-bytes") as u64,
            stream_node_max_entries: self.get_int("stream-node-max-entries"),
            notify_flags: match self.get("notify-keyspace-events") {
                Setting::Notify(n) => *n,
                _ => 0,
            },
            shutdown_on_sigint: flags("shutdown-on-sigint"),
            shutdown_on_sigterm: flags("shutdown-on-sigterm"),
            save_points: match self.get("save") {
                Setting::Save(p) => p.clone(),
                _ => vec![],
            },
            appendonly: self.get_bool("appendonly"),
            appendfsync: self.get_enum("appendfsync"),
            auto_aof_rewrite_percentage: self.get_int("auto-aof-rewrite-percentage"),
            auto_aof_rewrite_min_size: self.get_int("auto-aof-rewrite-min-size") as u64,
            aof_load_truncated: self.get_bool("aof-load-truncated"),
            aof_use_rdb_preamble: self.get_bool("aof-use-rdb-preamble"),
            aof_timestamp_enabled: self.get_bool("aof-timestamp-enabled"),
            no_appendfsync_on_rewrite: self.get_bool("no-appendfsync-on-rewrite"),
            lazyfree_lazy_expire: self.get_bool("lazyfree-lazy-expire"),
            lazyfree_lazy_server_del: self.get_bool("lazyfree-lazy-server-del"),
            lazyfree_lazy_user_del: self.get_bool("lazyfree-lazy-user-del"),
            lazyfree_lazy_user_flush: self.get_bool("lazyfree-lazy-user-flush"),
            always_show_logo: self.get_bool("always-show-logo"),
            hash_max_listpack_entries: self.get_int("hash-max-listpack-entries") as usize,
            hash_max_listpack_value: self.get_int("hash-max-listpack-value") as usize,
            list_max_listpack_size: self.get_int("list-max-listpack-size"),
            list_compress_depth: self.get_int("list-compress-depth") as usize,
            set_max_intset_entries: self.get_int("set-max-intset-entries") as usize,
            set_max_listpack_entries: self.get_int("set-max-listpack-entries") as usize,
            set_max_listpack_value: self.get_int("set-max-listpack-value") as usize,
            zset_max_listpack_entries: self.get_int("zset-max-listpack-entries") as usize,
            zset_max_listpack_value: self.get_int("zset-max-listpack-value") as usize,
            tracking_table_max_keys: self.get_int("tracking-table-max-keys") as usize,
            min_replicas_to_write: self.get_int("min-replicas-to-write") as u32,
            min_replicas_max_lag: self.get_int("min-replicas-max-lag") as u32,
            replica_read_only: self.get_bool("replica-read-only"),
            replica_serve_stale_data: self.get_bool("replica-serve-stale-data"),
            replica_ignore_maxmemory: self.get_bool("replica-ignore-maxmemory"),
        }
    }
}

/// The working directory changes (`dir`), for CONFIG SET and config loading alike.
pub fn change_dir(path: &[u8]) -> Result<(), ConfigError> {
    let path = String::from_utf8_lossy(path).to_string();
    std::env::set_current_dir(&path).map_err(|e| ConfigError(e.to_string()))
}

/// Rewrites the config file: known directives are updated in place (first occurrence kept,
/// later ones dropped), values that differ from the default and are not in the file are
/// appended, and everything else (comments, unknown lines) is preserved.
/// `user_lines` replace the file's `user` directives (none when users live in an aclfile).
/// CONFIG REWRITE: the file's own lines keep their place with current values, and the
/// directives that differ from their defaults (all of them with `force_all`, DEBUG
/// CONFIG-REWRITE-FORCE-ALL) are appended.
pub fn rewrite_file(
    cfg: &Config,
    path: &std::path::Path,
    user_lines: &[String],
    force_all: bool,
) -> std::io::Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let mut lines: Vec<String> = Vec::new();
    let mut written: HashSet<usize> = HashSet::new();
    let mut users_written = false;
    const MARKER: &str = "# Generated by CONFIG REWRITE";
    for line in old.lines() {
        if line.trim() == MARKER {
            continue;
        }
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            lines.push(line.to_string());
            continue;
        }
        let name = split_args(trimmed.as_bytes())
            .and_then(|a| a.into_iter().next())
            .map(|n| String::from_utf8_lossy(&n).to_ascii_lowercase());
        if name.as_deref() == Some("user") {
            if !users_written {
                lines.extend(user_lines.iter().cloned());
                users_written = true;
            }
            continue;
        }
        match name.as_deref().and_then(lookup) {
            Some(idx) if DEFS[idx].flags & HIDDEN == 0 => {
                if written.insert(idx) {
                    lines.extend(directive_lines(cfg, idx));
                }
            }
            _ => lines.push(line.to_string()),
        }
    }
    let defaults = Config::new();
    let mut appended = false;
    for (idx, def) in DEFS.iter().enumerate() {
        if written.contains(&idx) || def.flags & HIDDEN != 0 || matches!(def.kind, Kind::Dir) {
            continue;
        }
        if cfg.values[idx] == defaults.values[idx] && !force_all {
            continue;
        }
        if !appended {
            lines.push(MARKER.to_string());
            appended = true;
        }
        lines.extend(directive_lines(cfg, idx));
    }
    if !users_written && !user_lines.is_empty() {
        if !appended {
            lines.push(MARKER.to_string());
        }
        lines.extend(user_lines.iter().cloned());
    }
    let mut text = lines.join("\n");
    text.push('\n');
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

fn directive_lines(cfg: &Config, idx: usize) -> Vec<String> {
    let def = &DEFS[idx];
    let value = cfg.format(idx);
    let quote = |v: &[u8]| {
        let mut q = Vec::new();
        crate::util::splitargs::repr(v, &mut q);
        String::from_utf8_lossy(&q).to_string()
    };
    match &cfg.values[idx] {
        Setting::Save(points) if points.is_empty() => vec![format!("{} \"\"", def.name)],
        Setting::Save(points) => points
            .iter()
            .map(|(s, c)| format!("save {s} {c}"))
            .collect(),
        Setting::Obuf(limits) => OBUF_CLASSES
            .iter()
            .zip(limits.iter())
            .map(|(class, l)| {
                format!(
                    "{} {class} {} {} {}",
                    def.name, l.hard_bytes, l.soft_bytes, l.soft_secs
                )
            })
            .collect(),
        Setting::List(l) if l.is_empty() => vec![format!("{} \"\"", def.name)],
        Setting::List(_) | Setting::Oom(_) | Setting::Percentiles(_) | Setting::Flags(_) => {
            vec![format!("{} {}", def.name, String::from_utf8_lossy(&value))]
        }
        Setting::ReplicaOf(None) => vec![],
        // Strings are quoted (as Redis's sdscatrepr does); numbers and words are not.
        Setting::Str(_) => vec![format!("{} {}", def.name, quote(&value))],
        // An empty value (notify-keyspace-events "") must still read back as one argument.
        _ if value.is_empty() => vec![format!("{} \"\"", def.name)],
        _ => vec![format!("{} {}", def.name, String::from_utf8_lossy(&value))],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse() {
        let c = Config::new();
        let s = c.settings();
        assert_eq!(s.port, 6379);
        assert_eq!(s.databases, 16);
        assert_eq!(s.proto_max_bulk_len, 512 * 1024 * 1024);
        assert_eq!(
            c.format(lookup("client-output-buffer-limit").unwrap()),
            b"normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        );
        assert_eq!(
            c.format(lookup("save").unwrap()),
            b"3600 1 300 100 60 10000"
        );
    }

    #[test]
    fn memory_values() {
        assert_eq!(parse_memory(b"1gb"), Some(1 << 30));
        assert_eq!(parse_memory(b"1G"), Some(1_000_000_000));
        assert_eq!(parse_memory(b"100"), Some(100));
        assert_eq!(parse_memory(b"-1"), None);
        assert_eq!(parse_memory(b"10xb"), None);
    }

    #[test]
    fn argv_like_redis_server() {
        let args: Vec<String> = [
            "--port",
            "7777",
            "--save",
            "",
            "--hz",
            "20",
            "--bind",
            "127.0.0.1",
            "::1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let c = from_args(&args).unwrap();
        let s = c.settings();
        assert_eq!(s.port, 7777);
        assert!(s.save_points.is_empty());
        assert_eq!(s.hz, 20);
        assert_eq!(s.bind, vec!["127.0.0.1".to_string(), "::1".to_string()]);
        let c = from_args(&["--save".to_string()]).unwrap();
        assert!(c.settings().save_points.is_empty());
    }

    #[test]
    fn file_errors() {
        let mut c = Config::new();
        let e = c.load_str("port 1\nfoo bar\n", None).unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(e.msg, "Bad directive or wrong number of arguments");
        let e = c.load_str("hz abc", None).unwrap_err();
        assert_eq!(e.msg, "argument couldn't be parsed into an integer");
        let e = c.load_str("port 1 2", None).unwrap_err();
        assert_eq!(e.msg, "wrong number of arguments");
        assert!(c
            .load_str("save 900 1 300 10\nlist-max-ziplist-entries 512", None)
            .is_ok());
        assert_eq!(c.settings().save_points, vec![(900, 1), (300, 10)]);
    }

    /// The first `save` line replaces the defaults, the next ones add; `save ""` empties.
    #[test]
    fn save_lines_accumulate_while_reading() {
        let points = |text: &str| {
            let mut c = Config::new();
            c.load_str(text, None).unwrap();
            c.settings().save_points
        };
        assert_eq!(points("hz 10"), vec![(3600, 1), (300, 100), (60, 10000)]);
        assert_eq!(
            points("save 900 1\nsave 100 100"),
            vec![(900, 1), (100, 100)]
        );
        assert_eq!(points("save 900 1\nsave \"\""), vec![]);
        assert_eq!(points("save \"\"\nsave 100 100"), vec![(100, 100)]);
    }

    #[test]
    fn redis_conf_example_loads_and_lists_every_directive() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/redis.conf.example");
        let text = std::fs::read_to_string(path).unwrap();
        // `dir ./` would change the test process's directory; it is checked by name only.
        let loadable: String = text
            .lines()
            .filter(|l| !l.starts_with("dir "))
            .map(|l| format!("{l}\n"))
            .collect();
        let mut c = Config::new();
        c.load_str(&loadable, None)
            .unwrap_or_else(|e| panic!("{e}"));
        for d in DEFS.iter().filter(|d| d.flags & HIDDEN == 0) {
            let listed = text.lines().any(|l| {
                let l = l.trim_start_matches("# ");
                l.split_whitespace().next() == Some(d.name)
            });
            assert!(listed, "redis.conf.example does not document {}", d.name);
        }
        assert_eq!(
            c.settings().save_points,
            Config::new().settings().save_points
        );
        // "[stored]" marks exactly the directives cinnabar accepts but does not act on.
        let lines: Vec<&str> = text.lines().collect();
        let mut wrong = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            let name = l
                .trim_start_matches("# ")
                .split_whitespace()
                .next()
                .unwrap_or("");
            let Some(d) = DEFS
                .iter()
                .find(|d| d.name == name && d.flags & HIDDEN == 0)
            else {
                continue;
            };
            if l.starts_with("# [") || (l.starts_with("# ") && !l.contains(' ')) {
                continue;
            }
            let marked = i > 0 && lines[i - 1].starts_with("# [stored]");
            if marked != (d.effect == Effect::Stored) {
                wrong.push(d.name);
            }
        }
        assert!(wrong.is_empty(), "[stored] markers out of date: {wrong:?}");
    }

    #[test]
    fn notify_roundtrip() {
        assert_eq!(notify::format(notify::parse(b"KEA").unwrap()), "AKE");
        assert_eq!(notify::format(notify::parse(b"Kx").unwrap()), "xK");
        assert!(notify::parse(b"Q").is_none());
    }
}
