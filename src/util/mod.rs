//! Small pure helpers shared by every layer: Redis's number rules, glob matching, argument
//! splitting. Nothing here does I/O.

pub mod glob;
pub mod lzf;
pub mod num;
pub mod rng;
pub mod splitargs;

/// An I/O error as C's strerror words it ("No such file or directory"), for messages that
/// repeat Redis's.
pub fn strerror(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}
