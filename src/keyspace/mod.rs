//! The data: databases, values and the structures behind them. No sockets, no RESP, no
//! clock reads (time is a parameter); the executor is the only caller.

pub mod bytes;
pub mod db;
pub mod dict;
pub mod digest;
pub mod fair;
pub mod hll;
pub mod rehash;
pub mod types;
pub mod value;
