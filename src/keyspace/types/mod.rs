//! The collection value types and the structures behind them.

pub mod hash;
pub mod intset;
pub mod list;
pub mod member_ttls;
pub mod packed_set;
pub mod quicklist;
pub mod set;
pub mod set_key;
pub mod skiplist;
pub mod stream;
pub mod zpacked;
pub mod zset;
