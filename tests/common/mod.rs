//! Test support: spawn servers, talk RESP, read and write transcripts.
#![allow(dead_code)]

pub mod certs;
pub mod client;
pub mod dataset;
pub mod server;
pub mod transcript;
