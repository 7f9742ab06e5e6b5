//! FUNCTION libraries: `#!lua name=<lib>` code that registers named functions with
//! `redis.register_function`, called by FCALL / FCALL_RO.

/// Loaded libraries and their functions.
#[derive(Default)]
pub struct Registry {}
