//! Replies of a length the client chooses: HRANDFIELD, SRANDMEMBER and ZRANDMEMBER with a
//! negative count allow repeats, so a single call may ask for up to 2^63 picks. The reply is
//! built in one go, so its size is checked as it grows: once it passes the client's hard
//! output limit, or 1 GiB whatever the limits, it stops and the client is closed (what
//! Redis's output-limit check does right after; with no limit configured Redis would run out
//! of memory instead).

use crate::exec::client::{flags as cf, Client};
use crate::exec::Executor;
use crate::resp::reply::ReplyBuf;

/// The most a random reply may take with no output limit configured.
const MAX_BYTES: usize = 1 << 30;
/// Picks between two size checks.
const CHECK_EVERY: u64 = 256;

/// The size bound of one random reply.
pub struct ReplyCap {
    limit: usize,
}

impl ReplyCap {
    pub fn new(ex: &Executor, client: &Client) -> ReplyCap {
        let class = if client.has(cf::PUBSUB) { 2 } else { 0 };
        let hard = ex.settings.obuf_limits[class].hard_bytes as usize;
        let limit = if hard == 0 {
            MAX_BYTES
        } else {
            hard.min(MAX_BYTES)
        };
        ReplyCap { limit }
    }

    /// After pick number `picks` (from 1): whether the reply must stop here.
    #[inline]
    pub fn reached(&self, out: &ReplyBuf, picks: u64) -> bool {
        picks % CHECK_EVERY == 0 && out.len() >= self.limit
    }
}

/// Closes a client whose reply was cut short, as the output-limit check would.
pub fn close_for_output(ex: &mut Executor, client: &mut Client) {
    ex.close_asap(client);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without an output limit the cap is 1 GiB; a hard limit below it wins.
    #[test]
    fn cap_is_the_hard_limit_or_one_gib() {
        let mut ex = Executor::new(crate::config::Config::new());
        let client = Client::new(1, 0, 0);
        assert_eq!(ReplyCap::new(&ex, &client).limit, 1 << 30);
        ex.settings.obuf_limits[0].hard_bytes = 1 << 20;
        assert_eq!(ReplyCap::new(&ex, &client).limit, 1 << 20);
        let mut out = ReplyBuf::new();
        out.bulk(&[b'x'; 2 << 20]);
        let cap = ReplyCap::new(&ex, &client);
        assert!(!cap.reached(&out, 255), "checked every 256 picks only");
        assert!(cap.reached(&out, 256));
    }
}
