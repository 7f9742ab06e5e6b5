//! The list value type. Its representation and operations arrive with the list commands; until
//! then no command creates one.

/// A list value.
#[derive(Debug, Clone, Default)]
pub struct List {}

impl List {
    pub fn len(&self) -> usize {
        0
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// OBJECT ENCODING's answer, as Redis 7.0.15 reports it.
    pub fn encoding_name(&self) -> &'static str {
        "quicklist"
    }
}
