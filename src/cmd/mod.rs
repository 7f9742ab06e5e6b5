//! The command table and one module per command family (one Redis group each).

pub mod args;
pub mod bitmaps;
pub mod cluster;
pub mod connection;
pub mod generic;
pub mod geo;
pub mod hashes;
pub mod hyperloglog;
pub mod keys;
pub mod lists;
pub mod meta;
pub mod migrate;
pub mod pubsub;
pub mod random_reply;
#[rustfmt::skip]
pub mod meta_gen;
pub mod scripting;
pub mod server;
pub mod sets;
pub mod sort;
pub mod streams;
pub mod strings;
pub mod subkey_ttl;
pub mod table;
pub mod transactions;
pub mod zsets;

use table::Handler;

/// Every family's handler column, in one place; `table` joins them with the metadata.
pub const FAMILIES: &[&[(&meta::CommandMeta, Handler)]] = &[
    bitmaps::HANDLERS,
    connection::HANDLERS,
    generic::HANDLERS,
    hashes::HANDLERS,
    hyperloglog::HANDLERS,
    pubsub::HANDLERS,
    lists::HANDLERS,
    server::HANDLERS,
    sets::HANDLERS,
    streams::HANDLERS,
    strings::HANDLERS,
    transactions::HANDLERS,
    zsets::HANDLERS,
    geo::HANDLERS,
    scripting::HANDLERS,
    cluster::HANDLERS,
];

/// Which module serves which metadata group (checked by a test).
pub const GROUP_MODULES: &[(&str, &[(&meta::CommandMeta, Handler)])] = &[
    ("bitmap", bitmaps::HANDLERS),
    ("cluster", cluster::HANDLERS),
    ("connection", connection::HANDLERS),
    ("generic", generic::HANDLERS),
    ("hash", hashes::HANDLERS),
    ("hyperloglog", hyperloglog::HANDLERS),
    ("pubsub", pubsub::HANDLERS),
    ("list", lists::HANDLERS),
    ("server", server::HANDLERS),
    ("set", sets::HANDLERS),
    ("stream", streams::HANDLERS),
    ("string", strings::HANDLERS),
    ("transactions", transactions::HANDLERS),
    ("sorted-set", zsets::HANDLERS),
    ("geo", geo::HANDLERS),
    ("scripting", scripting::HANDLERS),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_handler_lives_in_its_groups_module() {
        for (group, handlers) in GROUP_MODULES {
            for (meta, _) in handlers.iter() {
                assert_eq!(
                    &meta.group, group,
                    "{} is bound in the {group} module",
                    meta.name
                );
            }
        }
        let total: usize = FAMILIES.iter().map(|f| f.len()).sum();
        let grouped: usize = GROUP_MODULES.iter().map(|(_, h)| h.len()).sum();
        assert_eq!(total, grouped, "every family is listed in GROUP_MODULES");
    }
}
