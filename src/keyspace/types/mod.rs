//! The collection value types and the structures behind them.

pub mod hash;
pub mod list;
pub mod quicklist;
pub mod set;
pub mod skiplist;
pub mod zpacked;
pub mod zset;
