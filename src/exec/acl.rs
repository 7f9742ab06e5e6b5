//! Where the executor meets the ACL: checking a command for a client, logging refusals, and
//! disconnecting clients whose user went away or lost channels.

use super::client::flags as cf;
use super::{Client, Executor};
use crate::acl::check::{self, Denied};
use crate::acl::log::{Context, Reason};
use crate::acl::{commands as acl_commands, UserId, DEFAULT_USER};
use crate::cmd::table::Command;
use crate::resp::errors::{self as err, CmdError};

impl Reason {
    fn of(d: Denied) -> Reason {
        match d {
            Denied::Command => Reason::Command,
            Denied::Key(_) => Reason::Key,
            Denied::Channel(_) => Reason::Channel,
        }
    }
}

impl Executor {
    /// May `user` run `cmd` with `argv`? (Redis's ACLCheckAllUserCommandPerm.)
    pub fn acl_permits(&self, user: UserId, cmd: &Command, argv: &[&[u8]]) -> Result<(), Denied> {
        let u = self.acl.user(user);
        if u.unrestricted() {
            return Ok(());
        }
        check::check_command(u, acl_commands::get().get(cmd.id), argv)
    }

    /// May `user` read any key at all with `cmd` (SORT's BY and GET patterns)?
    pub fn acl_reads_any_key(&self, user: UserId, cmd: &Command, argv: &[&[u8]]) -> bool {
        let u = self.acl.user(user);
        u.unrestricted() || check::user_reads_any_key(u, acl_commands::get().get(cmd.id), argv)
    }

    /// Checks a command for `client` (running as `user`), logging a refusal.
    pub fn acl_check(
        &mut self,
        client: &Client,
        user: UserId,
        cmd: &Command,
        argv: &[&[u8]],
        context: Context,
        now_ms: i64,
    ) -> Result<(), Denied> {
        let denied = self.acl_permits(user, cmd, argv);
        if let Err(d) = denied {
            let object = match d {
                Denied::Command => cmd.meta.name.as_bytes(),
                Denied::Key(i) | Denied::Channel(i) => argv[i],
            };
            let name = self.acl.user(user).name.clone();
            self.acl_log(client, Reason::of(d), context, object, &name, now_ms);
        }
        denied
    }

    /// Adds an ACL log entry (and counts it in INFO stats) for `client`.
    pub fn acl_log(
        &mut self,
        client: &Client,
        reason: Reason,
        context: Context,
        object: &[u8],
        username: &[u8],
        now_ms: i64,
    ) {
        let d = &mut self.acl.denied;
        match reason {
            Reason::Auth => d.auth += 1,
            Reason::Command => d.cmd += 1,
            Reason::Key => d.key += 1,
            Reason::Channel => d.channel += 1,
        }
        let info = self.client_info(client, now_ms);
        let max = usize::try_from(self.settings.acllog_max_len).unwrap_or(usize::MAX);
        self.acl
            .log
            .add(reason, context, object, username, info, now_ms, max);
    }

    /// The top-level NOPERM reply for a refusal.
    pub fn noperm(cmd: &Command, d: Denied) -> CmdError {
        match d {
            Denied::Command => err::noperm_command(cmd.meta.name),
            Denied::Key(_) => err::NOPERM_KEY.into(),
            Denied::Channel(_) => err::NOPERM_CHANNEL.into(),
        }
    }

    /// Disconnects every client authenticated as `user` (its user was deleted or replaced);
    /// the running client, if one of them, closes after its reply. They fall back to the
    /// default user, unauthenticated, meanwhile.
    pub fn disconnect_user(&mut self, running: &mut Client, user: UserId) {
        if user == DEFAULT_USER {
            return;
        }
        if running.user == user {
            running.user = DEFAULT_USER;
            running.authenticated = false;
            running.flags |= cf::CLOSE_AFTER_REPLY;
        }
        self.close_clients_where(|c| c.user == user);
        for c in self.clients.iter_mut().flatten() {
            if c.user == user {
                c.user = DEFAULT_USER;
                c.authenticated = false;
            }
        }
    }

    /// After a user's channel permissions changed: disconnects its subscribers that hold a
    /// channel or pattern the user may no longer use (Redis's ACLKillPubsubClientsIfNeeded).
    pub fn disconnect_revoked_subscribers(
        &mut self,
        running: &mut Client,
        user: UserId,
        before: &crate::acl::User,
    ) {
        let now = self.acl.user(user);
        if now.selectors.iter().any(|s| s.all_channels) {
            return;
        }
        let upcoming: Vec<Vec<u8>> = now
            .selectors
            .iter()
            .flat_map(|s| s.channels.iter().cloned())
            .collect();
        let kept = before
            .selectors
            .iter()
            .flat_map(|s| s.channels.iter())
            .all(|c| upcoming.contains(c));
        if kept && before.selectors.iter().all(|s| !s.all_channels) {
            return;
        }
        let revoked = |c: &Client| {
            c.user == user
                && c.has(cf::PUBSUB)
                && (c.subs.patterns.iter().any(|p| !upcoming.contains(p))
                    || c.subs.channels.iter().chain(c.subs.shard.iter()).any(|ch| {
                        !upcoming
                            .iter()
                            .any(|p| crate::util::glob::glob_match(p, ch, false))
                    }))
        };
        if revoked(running) {
            running.flags |= cf::CLOSE_AFTER_REPLY;
        }
        self.close_clients_where(revoked);
    }
}
