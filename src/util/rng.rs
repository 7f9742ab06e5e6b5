//! Random numbers for sampling (RANDOMKEY, SPOP, HRANDFIELD, ZRANDMEMBER, eviction): fast and
//! well mixed in every bit, not for anything secret.
//!
//! Well mixed matters: random picks choose a bucket from the low bits of one output and a
//! chain position from the next, and with a plain xorshift64 the low bit of the next output
//! is a fixed function of the current low bits, so in a 2-long chain one member was never
//! picked.

/// SplitMix64 from `seed`.
pub fn splitmix(mut state: u64) -> impl FnMut() -> u64 {
    move || splitmix_next(&mut state)
}

/// One SplitMix64 step.
#[inline]
pub fn splitmix_next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
