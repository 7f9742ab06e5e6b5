//! The wire protocol, sans I/O: requests in (`parse`), replies out (`reply`), Redis's error
//! texts (`errors`), and a client-side decoder (`frame`) for tests and replication.

pub mod errors;
pub mod frame;
pub mod parse;
pub mod reply;
