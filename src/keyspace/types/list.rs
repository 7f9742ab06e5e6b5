//! The list value type: a `QuickList` (packed chunks, see `quicklist.rs`). Redis 7.0 reports
//! every list as `quicklist`, whatever its size.

use std::ops::{Deref, DerefMut};

use super::quicklist::QuickList;

/// A list value.
#[derive(Debug, Clone)]
pub struct List(QuickList);

impl List {
    /// An empty list with the node options in force when it is created
    /// (list-max-listpack-size, list-compress-depth), as Redis fixes them per list.
    pub fn new(fill: i64, compress_depth: usize) -> List {
        List(QuickList::new(fill, compress_depth))
    }

    /// OBJECT ENCODING's answer, as Redis 7.0.15 reports it.
    pub fn encoding_name(&self) -> &'static str {
        "quicklist"
    }
}

impl Default for List {
    fn default() -> Self {
        List::new(-2, 0)
    }
}

impl Deref for List {
    type Target = QuickList;
    fn deref(&self) -> &QuickList {
        &self.0
    }
}

impl DerefMut for List {
    fn deref_mut(&mut self) -> &mut QuickList {
        &mut self.0
    }
}
