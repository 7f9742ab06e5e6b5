//! The collection value types and the structures behind them.

pub mod hash;
pub mod list;
pub mod set;
pub mod stream;
pub mod zset;
