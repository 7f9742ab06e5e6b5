//! cinnabar: a Redis-compatible in-memory data server. Start at ARCHITECTURE.md.

pub mod acl;
pub mod alloc;
pub mod clock;
pub mod cluster;
pub mod cmd;
pub mod config;
pub mod crash;
pub mod exec;
pub mod fuzz;
pub mod geo;
pub mod keyspace;
pub mod log;
pub mod net;
pub mod oom;
pub mod persist;
pub mod proctitle;
pub mod pubsub;
pub mod repl;
pub mod resp;
pub mod restart;
pub mod script;
pub mod util;
