//! Small pure helpers shared by every layer: Redis's number rules, glob matching, argument
//! splitting. Nothing here does I/O.

pub mod glob;
pub mod lzf;
pub mod num;
pub mod rng;
pub mod splitargs;
