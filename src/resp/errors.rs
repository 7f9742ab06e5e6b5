//! Every error text a client can see, exactly as redis-server 7.0.15 sends it (without the
//! leading '-'), and `CmdError`, the value a command returns when it fails.
//!
//! Texts with a variable part are built by the functions at the end, still in one place.

use std::borrow::Cow;

/// A client-visible command failure. It becomes one RESP error reply; the connection goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdError(pub Cow<'static, [u8]>);

impl CmdError {
    pub fn owned(text: impl Into<Vec<u8>>) -> Self {
        CmdError(Cow::Owned(text.into()))
    }

    pub fn text(&self) -> &[u8] {
        &self.0
    }

    /// The error code, used by INFO errorstats.
    pub fn code(&self) -> &[u8] {
        error_code(self.text())
    }
}

/// The code an error reply is counted under (Redis's afterErrorReply): its first word when a
/// space comes within the first 32 bytes of the reply ("-" included), otherwise ERR.
pub fn error_code(text: &[u8]) -> &[u8] {
    match memchr::memchr(b' ', &text[..text.len().min(31)]) {
        Some(end) => &text[..end],
        None => b"ERR",
    }
}

impl From<&'static str> for CmdError {
    fn from(s: &'static str) -> Self {
        CmdError(Cow::Borrowed(s.as_bytes()))
    }
}

impl From<String> for CmdError {
    fn from(s: String) -> Self {
        CmdError(Cow::Owned(s.into_bytes()))
    }
}

/// Result of a command handler: Ok after writing exactly one reply, or an error with none.
pub type CmdResult = Result<(), CmdError>;

pub const SYNTAX: &str = "ERR syntax error";
pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
/// Hash field commands without their FIELDS block where it belongs (Redis 7.4+).
pub const FIELDS_MISSING: &str =
    "ERR Mandatory argument FIELDS is missing or not at the right position";
/// A FIELDS block whose count is not a positive integer (Redis 7.4+).
pub const NUMFIELDS_POSITIVE: &str = "ERR Number of fields must be a positive integer";
/// A FIELDS block whose count differs from the fields given (Redis 7.4+).
pub const NUMFIELDS_MISMATCH: &str =
    "ERR The `numfields` parameter must match the number of arguments";
/// HEXPIRE and its family with a FIELDS count below 1 (Redis 7.4).
pub const NUMFIELDS_ABOVE_ZERO: &str = "ERR Parameter `numFields` should be greater than 0";
/// HSETEX's FIELDS count not a positive int (Redis 8.0).
pub const NUMFIELDS_INVALID: &str = "ERR invalid number of fields";
/// The set member TTL commands' MEMBERS block (Redis 8.12): SEXPIRE's family finds it
/// anywhere after the time, STTL's family and SPERSIST right after the key.
pub const MEMBERS_TWICE: &str = "ERR MEMBERS keyword specified multiple times";
pub const MEMBERS_TOO_FEW: &str =
    "ERR MEMBERS requires at least nummembers and one member argument";
pub const NUMMEMBERS_ABOVE_ZERO: &str = "ERR Parameter `numMembers` should be greater than 0";
pub const MEMBERS_MISSING: &str = "ERR missing MEMBERS argument";
pub const MEMBERS_POSITION: &str =
    "ERR Mandatory argument MEMBERS is missing or not at the right position";
pub const NUMMEMBERS_POSITIVE: &str = "ERR Number of members must be a positive integer";
pub const NUMMEMBERS_MISMATCH: &str =
    "ERR The `nummembers` parameter must match the number of arguments";
pub const NUMMEMBERS_INVALID: &str = "ERR invalid number of members";
/// A MEMBERS count past the arguments given (SEXPIRE, SADDEX).
pub const WRONG_ARGUMENT_COUNT: &str = "ERR wrong number of arguments";
/// SEXPIRE with two of NX, XX, GT, LT.
pub const MULTIPLE_CONDITIONS: &str = "ERR Multiple condition flags specified";
/// SADDEX with both MNX and MXX, or one twice.
pub const MNX_MXX: &str = "ERR Only one of MXX or MNX arguments can be specified";
/// A negative field TTL (Redis 7.4).
pub const EXPIRE_NEGATIVE: &str = "ERR invalid expire time, must be >= 0";
/// HSETEX with EX/PX/EXAT/PXAT last, without its time (Redis 8.0).
pub const EXPIRE_MISSING: &str = "ERR missing expire time";
/// HSETEX with both FNX and FXX, or one twice (Redis 8.0).
pub const FNX_FXX: &str = "ERR Only one of FXX or FNX arguments can be specified";
/// HSETEX with more than one of its TTL options (Redis 8.0).
pub const ONE_TTL_OPTION: &str =
    "ERR Only one of EX, PX, EXAT, PXAT or KEEPTTL arguments can be specified";
/// IFDEQ/IFDNE with a digest that is not 16 hex digits (Redis 8.4).
pub const DIGEST_LENGTH: &str = "ERR must be exactly 16 hexadecimal characters";
/// MSETEX's numkeys is not a positive integer (Redis 8.4).
pub const MSETEX_NUMKEYS: &str = "ERR invalid numkeys value";
/// MSETEX's numkeys asks for more pairs than were given (Redis 8.4).
pub const MSETEX_PAIRS: &str = "ERR wrong number of key-value pairs";
pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
pub const NOT_FLOAT: &str = "ERR value is not a valid float";
pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
pub const NAN_OR_INF: &str = "ERR increment would produce NaN or Infinity";
pub const NO_SUCH_KEY: &str = "ERR no such key";
pub const OUT_OF_RANGE: &str = "ERR index out of range";
pub const DB_INDEX: &str = "ERR DB index is out of range";
/// DEBUG HTSTATS with a db number outside `databases`.
pub const OUT_OF_RANGE_DATABASE: &str = "ERR Out of range database";
/// DEBUG HTSTATS-KEY on a value kept in a packed form.
pub const NOT_A_HASH_TABLE: &str =
    "ERR The value stored at the specified key is not represented using an hash table";
pub const SAME_OBJECT: &str = "ERR source and destination objects are the same";
pub const STRING_TOO_LONG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
pub const BIT_OFFSET: &str = "ERR bit offset is not an integer or out of range";
pub const BIT_VALUE: &str = "ERR bit is not an integer or out of range";
pub const BIT_ARG: &str = "ERR The bit argument must be 1 or 0.";
pub const BITOP_NOT_SINGLE: &str = "ERR BITOP NOT must be called with a single source key.";
pub const BITFIELD_TYPE: &str = "ERR Invalid bitfield type. Use something like i16 u8. \
     Note that u64 is not supported but i64 is.";
pub const BITFIELD_OVERFLOW: &str = "ERR Invalid OVERFLOW type specified";
pub const BITFIELD_RO_GET_ONLY: &str = "ERR BITFIELD_RO only supports the GET subcommand";
pub const NOAUTH: &str = "NOAUTH Authentication required.";
pub const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
pub const AUTH_NO_PASSWORD: &str = "ERR AUTH <password> called without any password configured \
     for the default user. Are you sure your configuration is correct?";
pub const MAX_CLIENTS: &str = "ERR max number of clients reached";
pub const POSITIVE: &str = "ERR value is out of range, must be positive";
pub const NX_XX_GT_LT: &str = "ERR NX and XX, GT or LT options at the same time are not compatible";
pub const GT_LT_NX: &str = "ERR GT, LT, and/or NX options at the same time are not compatible";
pub const BUSYKEY: &str = "BUSYKEY Target key name already exists.";
pub const TIMEOUT_NOT_FLOAT: &str = "ERR timeout is not a float or out of range";
pub const TIMEOUT_NEGATIVE: &str = "ERR timeout is negative";
pub const TIMEOUT_OUT_OF_RANGE: &str = "ERR timeout is out of range";
pub const INVALID_CURSOR: &str = "ERR invalid cursor";
pub const DEBUG_NOT_ALLOWED: &str = "ERR DEBUG command not allowed. If the enable-debug-command \
     option is set to \"local\", you can run it from a local connection, otherwise you need to \
     set this option in the configuration file, and then restart the server.";
pub const CLUSTER_DISABLED: &str = "ERR This instance has cluster support disabled";
pub const CROSSSLOT: &str = "CROSSSLOT Keys in request don't hash to the same slot";
pub const TRYAGAIN: &str = "TRYAGAIN Multiple keys request during rehashing of slot";
pub const CLUSTERDOWN: &str = "CLUSTERDOWN The cluster is down";
pub const CLUSTERDOWN_READ_ONLY: &str =
    "CLUSTERDOWN The cluster is down and only accepts read commands";
pub const CLUSTERDOWN_UNBOUND: &str = "CLUSTERDOWN Hash slot not served";
pub const CLUSTER_INVALID_SLOT: &str = "ERR Invalid or out of range slot";
pub const CLUSTER_BAD_SLOT: &str = "ERR Invalid slot";
pub const CLUSTER_BAD_SLOT_OR_COUNT: &str = "ERR Invalid slot or number of keys";
pub const CLUSTER_FLUSHSLOTS_NOT_EMPTY: &str =
    "ERR DB must be empty to perform CLUSTER FLUSHSLOTS.";
pub const CLUSTER_SETSLOT_REPLICA: &str = "ERR Please use SETSLOT only with masters.";
pub const CLUSTER_TARGET_NOT_MASTER: &str = "ERR Target node is not a master";
pub const CLUSTER_SETSLOT_INVALID: &str =
    "ERR Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP";
pub const CLUSTER_FORGET_MYSELF: &str = "ERR I tried hard but I can't forget myself...";
pub const CLUSTER_FORGET_MASTER: &str = "ERR Can't forget my master!";
pub const CLUSTER_REPLICATE_MYSELF: &str = "ERR Can't replicate myself";
pub const CLUSTER_REPLICATE_REPLICA: &str = "ERR I can only replicate a master, not a replica.";
pub const CLUSTER_REPLICATE_NOT_EMPTY: &str =
    "ERR To set a master the node must be empty and without assigned slots.";
pub const CLUSTER_NOT_A_MASTER: &str = "ERR The specified node is not a master";
pub const CLUSTER_FAILOVER_ON_MASTER: &str = "ERR You should send CLUSTER FAILOVER to a replica";
pub const CLUSTER_FAILOVER_NO_MASTER: &str = "ERR I'm a replica but my master is unknown to me";
pub const CLUSTER_FAILOVER_MASTER_DOWN: &str =
    "ERR Master is down or failed, please use CLUSTER FAILOVER FORCE";
pub const CLUSTER_EPOCH_KNOWS_OTHERS: &str =
    "ERR The user can assign a config epoch only when the node does not know any other node.";
pub const CLUSTER_EPOCH_NONZERO: &str = "ERR Node config epoch is already non-zero";
pub const CLUSTER_RESET_WITH_KEYS: &str =
    "ERR CLUSTER RESET can't be called with master nodes containing keys";
pub const SELECT_IN_CLUSTER: &str = "ERR SELECT is not allowed in cluster mode";
pub const MOVE_IN_CLUSTER: &str = "ERR MOVE is not allowed in cluster mode";
pub const SWAPDB_IN_CLUSTER: &str = "ERR SWAPDB is not allowed in cluster mode";
pub const COPY_DB_IN_CLUSTER: &str =
    "ERR Copying to another database is not allowed in cluster mode";
pub const MODULE_LOAD_FAILED: &str =
    "ERR Error loading the extension. Please check the server logs.";
pub const MODULE_UNLOAD_NO_SUCH: &str = "ERR Error unloading module: no such module with that name";
pub const DEBUG_PACKED_THRESHOLD: &str =
    "ERR argument must be a memory value bigger than 1 and smaller than 4gb";
pub const DEBUG_PUSH_RESP2: &str = "ERR RESP2 is not supported by this command";
pub const DEBUG_PROTOCOL_TYPE: &str = "ERR Wrong protocol type name. Please use one of the \
     following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false";
pub const MIGRATE_KEYS_NEEDS_EMPTY_KEY: &str =
    "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string";
pub const MIGRATE_CONNECT: &str = "IOERR error or timeout connecting to the client";
pub const MIGRATE_WRITE: &str = "IOERR error or timeout writing to target instance";
pub const MIGRATE_READ: &str = "IOERR error or timeout reading to target instance";
pub const DEBUG_RELOAD_FAILED: &str = "ERR Error trying to load the RDB dump";
pub const TIMEOUT_NOT_INTEGER: &str = "ERR timeout is not an integer or out of range";
pub const WATCH_INSIDE_MULTI: &str = "ERR WATCH inside MULTI is not allowed";
pub const GT_AND_LT: &str = "ERR GT and LT options at the same time are not compatible";
pub const VALUE_BETWEEN_0_AND_1: &str = "ERR value is out of range, value must between 0 and 1";
pub const WAITAOF_NO_AOF: &str =
    "ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled.";
pub const OFFSET_OUT_OF_RANGE: &str = "ERR offset is out of range";
pub const DECREMENT_WOULD_OVERFLOW: &str = "ERR decrement would overflow";
pub const LCS_LEN_AND_IDX: &str =
    "ERR If you want both the length and indexes, please just use IDX.";
pub const LCS_TOO_BIG: &str =
    "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len";
pub const HELLO_PROTOVER: &str = "ERR Protocol version is not an integer or out of range";
pub const CLIENT_NAME_CHARS: &str =
    "ERR Client names cannot contain spaces, newlines or special characters.";
pub const INVALID_CLIENT_ID: &str = "ERR Invalid client ID";
pub const NO_SUCH_CLIENT: &str = "ERR No such client";
pub const CLIENT_UNBLOCK_REASON: &str = "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR";
pub const CLIENT_PAUSE_MODE: &str = "ERR CLIENT PAUSE mode must be WRITE or ALL";
pub const INVALID_FIRST_DB_INDEX: &str = "ERR invalid first DB index";
pub const INVALID_SECOND_DB_INDEX: &str = "ERR invalid second DB index";
pub const MONITOR_DENY_BLOCKING: &str = "ERR MONITOR isn't allowed for DENY BLOCKING client";
pub const NO_SHUTDOWN_IN_PROGRESS: &str = "ERR No shutdown in progress.";
pub const SHUTDOWN_FAILED: &str = "ERR Errors trying to SHUTDOWN. Check logs.";
pub const GETKEYS_INVALID_COMMAND: &str = "ERR Invalid command specified";
pub const GETKEYS_NO_KEYS: &str = "ERR The command has no key arguments";
pub const GETKEYS_ARITY: &str = "ERR Invalid number of arguments specified for command";
pub const GETKEYS_INVALID_ARGS: &str = "ERR Invalid arguments specified for command";
pub const NO_CONFIG_FILE: &str = "ERR The server is running without a config file";
pub const DEBUG_RELOAD_SAVE_FAILED: &str = "ERR Error trying to save the DB";
pub const SHEBANG_INVALID: &str = "ERR Invalid script shebang";
pub const SHEBANG_INVALID_ENGINE: &str = "ERR Invalid engine in script shebang";
pub const PROTO_TOO_BIG_MBULK_COUNT: &str = "ERR Protocol error: too big mbulk count string";
pub const PROTO_INVALID_MULTIBULK_LEN: &str = "ERR Protocol error: invalid multibulk length";
pub const PROTO_UNAUTH_MULTIBULK_LEN: &str = "ERR Protocol error: unauthenticated multibulk length";
pub const PROTO_TOO_BIG_BULK_COUNT: &str = "ERR Protocol error: too big bulk count string";
pub const PROTO_INVALID_BULK_LEN: &str = "ERR Protocol error: invalid bulk length";
pub const PROTO_UNAUTH_BULK_LEN: &str = "ERR Protocol error: unauthenticated bulk length";
pub const PROTO_TOO_BIG_INLINE: &str = "ERR Protocol error: too big inline request";
pub const PROTO_UNBALANCED_QUOTES: &str = "ERR Protocol error: unbalanced quotes in request";
pub const NOT_ALLOWED_IN_MULTI: &str = "ERR Command not allowed inside a transaction";
pub const SLOWLOG_COUNT: &str = "ERR count should be greater than or equal to -1";
pub const OBJECT_IDLETIME_LFU: &str = "ERR An LFU maxmemory policy is selected, idle time not \
     tracked. Please note that when switching between policies at runtime LRU and LFU data will \
     take some time to adjust.";
pub const OBJECT_FREQ_NOT_LFU: &str = "ERR An LFU maxmemory policy is not selected, access \
     frequency not tracked. Please note that when switching between policies at runtime LRU and \
     LFU data will take some time to adjust.";
pub const HELLO_NOAUTH: &str = "NOAUTH HELLO must be called with the client already \
     authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to \
     authenticate the client and select the RESP protocol version at the same time";
pub const CLIENT_ID_POSITIVE: &str = "ERR client-id should be greater than 0";
pub const MODULE_NOT_ALLOWED: &str = "ERR MODULE command not allowed. If the \
     enable-module-command option is set to \"local\", you can run it from a local connection, \
     otherwise you need to set this option in the configuration file, and then restart the server.";
pub const PUBSUB_CONTEXT: &str = "ERR Can't execute '%s': only (P|S)SUBSCRIBE / \
     (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context";
pub const MULTI_NESTED: &str = "ERR MULTI calls can not be nested";
pub const EXEC_WITHOUT_MULTI: &str = "ERR EXEC without MULTI";
pub const DISCARD_WITHOUT_MULTI: &str = "ERR DISCARD without MULTI";
pub const EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";
pub const UNBLOCKED_ROLE_CHANGE: &str =
    "UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)";
pub const UNBLOCKED_BY_CLIENT_UNBLOCK: &str = "UNBLOCKED client unblocked via CLIENT UNBLOCK";
pub const NOREPLICAS: &str = "NOREPLICAS Not enough good replicas to write.";
pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";
pub const NOPROTO: &str = "NOPROTO unsupported protocol version";
/// Sent (then the connection closes) to a non-loopback client while protected mode is on and
/// the default user has no password.
pub const PROTECTED_MODE: &str = "DENIED Redis is running in protected mode because protected \
     mode is enabled and no password is set for the default user. In this mode connections are \
     only accepted from the loopback interface. If you want to connect from external computers \
     to Redis you may adopt one of the following solutions: 1) Just disable protected mode \
     sending the command 'CONFIG SET protected-mode no' from the loopback interface by \
     connecting to Redis from the same host the server is running, however MAKE SURE Redis is \
     not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change \
     permanent. 2) Alternatively you can just disable the protected mode by editing the Redis \
     configuration file, and setting the protected mode option to 'no', and then restarting the \
     server. 3) If you started the server manually just for testing, restart it with the \
     '--protected-mode no' option. 4) Set up an authentication password for the default user. \
     NOTE: You only need to do one of the above things in order for the server to start \
     accepting connections from the outside.";
pub const LCS_STRINGS_ONLY: &str = "ERR The specified keys must contain string values";
pub const LPOS_RANK_ZERO: &str = "ERR RANK can't be zero: use 1 to start from the first match, \
     2 from the second ... or use negative to start from the end of the list";
pub const LPOS_COUNT_NEGATIVE: &str = "ERR COUNT can't be negative";
pub const LPOS_MAXLEN_NEGATIVE: &str = "ERR MAXLEN can't be negative";
/// LMPOP / BLMPOP (and ZMPOP / BZMPOP) numkeys below 1.
pub const NUMKEYS_POSITIVE: &str = "ERR numkeys should be greater than 0";
/// LMPOP / BLMPOP (and ZMPOP / BZMPOP) COUNT below 1.
pub const COUNT_POSITIVE: &str = "ERR count should be greater than 0";
pub const HLL_WRONGTYPE: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
pub const HLL_INVALID: &str = "INVALIDOBJ Corrupted HLL object detected";
pub const HLL_NO_KEY: &str = "ERR The specified key does not exist";
pub const HLL_NOT_SPARSE: &str = "ERR HLL encoding is not sparse";
pub const HLL_TEST_SPARSE_NOT_USED: &str = "ERR TESTFAILED sparse encoding not used";
pub const HLL_TEST_DISAGREE: &str = "ERR TESTFAILED dense/sparse disagree";
/// SINTERCARD's numkeys (also ZINTERCARD, LMPOP and friends in Redis).
pub const NUMKEYS_NOT_POSITIVE: &str = "ERR numkeys should be greater than 0";
pub const NUMKEYS_OVER_ARGS: &str = "ERR Number of keys can't be greater than number of args";
pub const LIMIT_NEGATIVE: &str = "ERR LIMIT can't be negative";
pub const SORT_NOT_DOUBLE: &str = "ERR One or more scores can't be converted into double";
pub const GEO_UNIT: &str = "ERR unsupported unit provided. please use M, KM, FT, MI";
pub const GEO_NEED_RADIUS: &str = "ERR need numeric radius";
pub const GEO_NEED_WIDTH: &str = "ERR need numeric width";
pub const GEO_NEED_HEIGHT: &str = "ERR need numeric height";
pub const GEO_RADIUS_NEGATIVE: &str = "ERR radius cannot be negative";
pub const GEO_BOX_NEGATIVE: &str = "ERR height or width cannot be negative";
pub const GEO_MEMBER_DECODE: &str = "ERR could not decode requested zset member";
pub const GEO_COUNT_POSITIVE: &str = "ERR COUNT must be > 0";
pub const GEO_ANY_NEEDS_COUNT: &str = "ERR the ANY argument requires COUNT argument";
pub const TRACKING_ONE_REDIRECT: &str = "ERR A client can only redirect to a single other client";
pub const TRACKING_NO_REDIRECT_CLIENT: &str =
    "ERR The client ID you want redirect to does not exist";
pub const TRACKING_PREFIX_NEEDS_BCAST: &str = "ERR PREFIX option requires BCAST mode to be enabled";
pub const TRACKING_BCAST_SWITCH: &str = "ERR You can't switch BCAST mode on/off before disabling \
     tracking for this client, and then re-enabling it with a different mode.";
pub const TRACKING_OPT_BCAST: &str = "ERR OPTIN and OPTOUT are not compatible with BCAST";
pub const TRACKING_OPTIN_OPTOUT: &str = "ERR You can't specify both OPTIN mode and OPTOUT mode";
pub const TRACKING_OPT_SWITCH: &str = "ERR You can't switch OPTIN/OPTOUT mode before disabling \
     tracking for this client, and then re-enabling it with a different mode.";
pub const CACHING_NOT_TRACKING: &str = "ERR CLIENT CACHING can be called only when the client is \
     in tracking mode with OPTIN or OPTOUT mode enabled";
pub const CACHING_YES_OPTIN: &str =
    "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.";
pub const CACHING_NO_OPTOUT: &str =
    "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.";

/// GEOADD / GEOSEARCH FROMLONLAT outside the valid ranges ("%f,%f" as C prints it).
pub fn geo_invalid_pair(lon: f64, lat: f64) -> CmdError {
    let mut s = b"ERR invalid longitude,latitude pair ".to_vec();
    crate::util::num::push_fixed(&mut s, lon, 6);
    s.push(b',');
    crate::util::num::push_fixed(&mut s, lat, 6);
    CmdError::owned(String::from_utf8_lossy(&s).into_owned())
}

/// STORE / GEOSEARCHSTORE combined with WITH* options.
pub fn geo_store_with_options(geosearchstore: bool) -> CmdError {
    CmdError::owned(format!(
        "ERR {} is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
        if geosearchstore {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        }
    ))
}

/// GEOSEARCH without its center or shape; `cmd` is the command name as the client typed it.
pub fn geo_exactly_one(what: &str, cmd: &[u8]) -> CmdError {
    CmdError::owned(format!(
        "ERR exactly one of {what} can be specified for {}",
        String::from_utf8_lossy(c_trunc(cmd, usize::MAX))
    ))
}

/// A BCAST prefix overlapping one the client already has (`existing`) or another given in
/// the same command.
pub fn tracking_prefix_overlap(prefix: &[u8], other: &[u8], existing: bool) -> CmdError {
    CmdError::owned(format!(
        "ERR Prefix '{}' overlaps with {} '{}'. Prefixes for a single client must not overlap.",
        String::from_utf8_lossy(c_trunc(prefix, usize::MAX)),
        if existing {
            "an existing prefix"
        } else {
            "another provided prefix"
        },
        String::from_utf8_lossy(c_trunc(other, usize::MAX)),
    ))
}
pub const HASH_VALUE_NOT_INTEGER: &str = "ERR hash value is not an integer";
pub const HASH_VALUE_NOT_FLOAT: &str = "ERR hash value is not a float";
pub const VALUE_NAN_OR_INF: &str = "ERR value is NaN or Infinity";
pub const VALUE_OUT_OF_RANGE: &str = "ERR value is out of range";

// Sorted sets.
pub const ZSET_MINMAX_FLOAT: &str = "ERR min or max is not a float";
pub const ZSET_MINMAX_LEX: &str = "ERR min or max not valid string range item";
pub const ZADD_NX_XX: &str = "ERR XX and NX options at the same time are not compatible";
pub const ZADD_INCR_PAIR: &str = "ERR INCR option supports a single increment-element pair";
pub const ZSET_NAN: &str = "ERR resulting score is not a number (NaN)";
pub const ZRANGE_LIMIT_RANK: &str =
    "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX";
pub const ZRANGE_WITHSCORES_LEX: &str =
    "ERR syntax error, WITHSCORES not supported in combination with BYLEX";
pub const ZMPOP_NUMKEYS: &str = "ERR numkeys should be greater than 0";
pub const ZMPOP_COUNT: &str = "ERR count should be greater than 0";
pub const ZSET_WEIGHT_FLOAT: &str = "ERR weight value is not a float";
pub const ZSET_LIMIT_NEGATIVE: &str = "ERR LIMIT can't be negative";
pub const ZRANDMEMBER_RANGE: &str =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
pub const ZRANDMEMBER_OUT_OF_RANGE: &str = "ERR value is out of range";

/// "ERR unknown command 'name', with args beginning with: 'a' 'b' " as Redis formats it:
/// each part is cut at 128 bytes and at a NUL, as C's "%.128s" does.
pub fn unknown_command(argv: &[&[u8]]) -> CmdError {
    let mut args: Vec<u8> = Vec::new();
    for a in argv.iter().skip(1) {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        args.push(b'\'');
        args.extend_from_slice(c_trunc(a, room));
        args.extend_from_slice(b"' ");
    }
    let mut t = b"ERR unknown command '".to_vec();
    t.extend_from_slice(c_trunc(argv.first().copied().unwrap_or(b""), 128));
    t.extend_from_slice(b"', with args beginning with: ");
    t.extend_from_slice(&args);
    CmdError::owned(t)
}

/// "ERR unknown subcommand 'sub'. Try CONTAINER HELP."
/// MIGRATE: the target refused (its error text, without the leading '-').
pub fn migrate_target_error(reply: &[u8]) -> CmdError {
    let mut t = b"ERR Target instance replied with error: ".to_vec();
    t.extend_from_slice(reply);
    CmdError::owned(t)
}

/// `prefix` + `detail` + `suffix`: a text with one part taken from the request.
fn detailed(prefix: &str, detail: &[u8], suffix: &str) -> CmdError {
    let mut t = Vec::with_capacity(prefix.len() + detail.len() + suffix.len());
    t.extend_from_slice(prefix.as_bytes());
    t.extend_from_slice(detail);
    t.extend_from_slice(suffix.as_bytes());
    CmdError::owned(t)
}

pub fn latency_no_samples(event: &[u8]) -> CmdError {
    detailed("ERR No samples available for event '", event, "'")
}

pub fn replconf_unknown_option(name: &[u8]) -> CmdError {
    detailed("ERR Unrecognized REPLCONF option: ", name, "")
}

pub fn rdb_filter_unsupported(option: &[u8]) -> CmdError {
    detailed("ERR Unsupported rdb-filter-only option: ", option, "")
}

pub fn replconf_ip_too_long(len: usize) -> CmdError {
    CmdError::owned(
        format!("ERR REPLCONF ip-address provided by replica instance is too long: {len} bytes")
            .into_bytes(),
    )
}

/// CONFIG SET refused `name`: `why` is the rule it broke.
pub fn config_set_failed(name: &[u8], why: &str) -> CmdError {
    detailed(
        "ERR CONFIG SET failed (possibly related to argument '",
        name,
        &format!("') - {why}"),
    )
}

pub fn config_set_unknown(name: &[u8]) -> CmdError {
    detailed(
        "ERR Unknown option or number of arguments for CONFIG SET - '",
        name,
        "'",
    )
}

pub fn config_rewrite_failed(why: &str) -> CmdError {
    detailed("ERR Rewriting config file: ", why.as_bytes(), "")
}

/// FUNCTION LOAD's options.
pub fn unknown_option_given(opt: &[u8]) -> CmdError {
    detailed("ERR Unknown option given: ", opt, "")
}

/// FUNCTION LIST's options.
pub fn unknown_argument(arg: &[u8]) -> CmdError {
    detailed("ERR Unknown argument ", arg, "")
}

/// EXPIRE-family options.
pub fn unsupported_option(opt: &[u8]) -> CmdError {
    detailed("ERR Unsupported option ", c_trunc(opt, usize::MAX), "")
}

pub fn hello_syntax(opt: &[u8]) -> CmdError {
    detailed(
        "ERR Syntax error in HELLO option '",
        c_trunc(opt, usize::MAX),
        "'",
    )
}

/// CLIENT SETINFO's attribute names.
pub fn unrecognized_option(opt: &[u8]) -> CmdError {
    detailed("ERR Unrecognized option '", c_trunc(opt, usize::MAX), "'")
}

/// CLIENT SETINFO values: `attr` as the client wrote it.
pub fn setinfo_bad_chars(attr: &[u8]) -> CmdError {
    detailed(
        "ERR ",
        attr,
        " cannot contain spaces, newlines or special characters.",
    )
}

pub fn unknown_client_type(name: &[u8]) -> CmdError {
    detailed("ERR Unknown client type '", c_trunc(name, usize::MAX), "'")
}

pub fn no_such_user(name: &[u8]) -> CmdError {
    detailed("ERR No such user '", name, "'")
}

/// A blocking or subscribing command from a client that may not block (scripts, MULTI).
pub fn deny_blocking(command_upper: &str) -> CmdError {
    detailed(
        "ERR ",
        command_upper.as_bytes(),
        " isn't allowed for a DENY BLOCKING client",
    )
}

/// Stream group commands on a missing key or group (`suffix` completes some commands' text).
pub fn nogroup(key: &[u8], group: &[u8], suffix: &str) -> CmdError {
    let mut t = b"NOGROUP No such key '".to_vec();
    t.extend_from_slice(key);
    t.extend_from_slice(b"' or consumer group '");
    t.extend_from_slice(group);
    t.extend_from_slice(b"'");
    t.extend_from_slice(suffix.as_bytes());
    CmdError::owned(t)
}

pub fn nogroup_for_key(group: &[u8], key: &[u8]) -> CmdError {
    let mut t = b"NOGROUP No such consumer group '".to_vec();
    t.extend_from_slice(group);
    t.extend_from_slice(b"' for key name '");
    t.extend_from_slice(key);
    t.extend_from_slice(b"'");
    CmdError::owned(t)
}

/// A library of that name is loaded already (FUNCTION LOAD without REPLACE, RESTORE APPEND).
pub fn library_exists(name: &[u8], quoted: bool) -> CmdError {
    if quoted {
        detailed("ERR Library '", name, "' already exists")
    } else {
        detailed("ERR Library ", name, " already exists")
    }
}

/// A function of that name belongs to another library.
pub fn function_exists(name: &[u8]) -> CmdError {
    detailed("ERR Function ", name, " already exists")
}

/// Script and library compile and run failures: `what` says which ("Error compiling
/// function: "...), `detail` is Lua's message.
pub fn script_error(what: ScriptFailure, detail: &[u8]) -> CmdError {
    let prefix = match what {
        ScriptFailure::CompileScript => "ERR Error compiling script (new function): ",
        ScriptFailure::CompileFunction => "ERR Error compiling function: ",
        ScriptFailure::RegisterFunctions => "ERR Error registering functions: ",
        ScriptFailure::Run => "ERR Error running script ",
    };
    detailed(prefix, detail, "")
}

/// Which step of a script failed (`script_error`).
#[derive(Clone, Copy)]
pub enum ScriptFailure {
    CompileScript,
    CompileFunction,
    RegisterFunctions,
    Run,
}

/// Shebang problems: `what` picks the text, `detail` is the offending part.
pub fn shebang_error(what: ShebangFailure, detail: &[u8]) -> CmdError {
    let prefix = match what {
        ShebangFailure::Engine => "ERR Unexpected engine in script shebang: ",
        ShebangFailure::Option => "ERR Unknown lua shebang option: ",
        ShebangFailure::Flag => "ERR Unexpected flag in script shebang: ",
    };
    detailed(prefix, detail, "")
}

#[derive(Clone, Copy)]
pub enum ShebangFailure {
    Engine,
    Option,
    Flag,
}

/// The RESP parser wanted a bulk and got byte `got`.
pub fn proto_expected_bulk(got: u8) -> CmdError {
    detailed("ERR Protocol error: expected '$', got '", &[got], "'")
}

/// The code an error text without one gets (a Lua error, say).
pub const GENERIC_CODE: &str = "ERR ";

pub fn unknown_subcommand(sub: &[u8], container: &str) -> CmdError {
    let mut t = b"ERR unknown subcommand '".to_vec();
    t.extend_from_slice(c_trunc(sub, 128));
    t.extend_from_slice(b"'. Try ");
    t.extend_from_slice(container.to_ascii_uppercase().as_bytes());
    t.extend_from_slice(b" HELP.");
    CmdError::owned(t)
}

/// Redis's addReplySubcommandSyntaxError: "ERR unknown subcommand or wrong number of arguments
/// for 'sub'. Try CONTAINER HELP." (the subcommand as typed, the container upper-cased).
pub fn subcommand_syntax(container: &[u8], sub: &[u8]) -> CmdError {
    let mut t = b"ERR unknown subcommand or wrong number of arguments for '".to_vec();
    t.extend_from_slice(c_trunc(sub, 128));
    t.extend_from_slice(b"'. Try ");
    t.extend_from_slice(&container.to_ascii_uppercase());
    t.extend_from_slice(b" HELP.");
    CmdError::owned(t)
}

/// A refused EXEC: "EXECABORT Transaction discarded because of: <the refusal>".
pub fn exec_abort_because(e: &CmdError) -> CmdError {
    let mut t = b"EXECABORT Transaction discarded because of: ".to_vec();
    // Redis formats its arity refusal without the code (rejectCommandFormat) and passes its
    // shared error objects (NOAUTH, OOM, BUSY...) with theirs.
    let text = e.text();
    let text = match text.strip_prefix(b"ERR ") {
        Some(rest) if rest.starts_with(b"wrong number of arguments") => rest,
        _ => text,
    };
    t.extend_from_slice(text);
    CmdError::owned(t)
}

/// DEBUG MALLCTL's failure: the allocator's errno in strerror's words.
pub fn allocator_control(reason: String) -> CmdError {
    CmdError::owned(format!("ERR {reason}"))
}

/// BITOP DIFF/DIFF1/ANDOR with one source key (Redis 8.2).
pub fn bitop_two_sources(op: &[u8]) -> CmdError {
    CmdError::owned(format!(
        "ERR BITOP {} must be called with at least two source keys.",
        String::from_utf8_lossy(op).to_ascii_uppercase()
    ))
}

/// "ERR wrong number of arguments for 'get' command" (subcommands as 'config|get').
pub fn wrong_arity(fullname: &str) -> CmdError {
    CmdError::owned(format!(
        "ERR wrong number of arguments for '{fullname}' command"
    ))
}

/// "ERR unknown argument: x" (HSETEX, SEXPIRE, SADDEX: lowercase and with a colon, unlike
/// FUNCTION LIST's).
pub fn unknown_keyword(arg: &[u8]) -> CmdError {
    detailed("ERR unknown argument: ", arg, "")
}

/// "ERR invalid expire time in 'set' command"
pub fn invalid_expire(cmd: &str) -> CmdError {
    CmdError::owned(format!("ERR invalid expire time in '{cmd}' command"))
}

/// "ERR Can't execute 'get': only (P|S)SUBSCRIBE / ... are allowed in this context"
pub fn pubsub_context(fullname: &str) -> CmdError {
    CmdError::owned(PUBSUB_CONTEXT.replace("%s", fullname))
}

/// "ERR Unknown PFDEBUG subcommand 'x'" (C string: cut at a NUL; CR/LF become spaces).
pub fn pfdebug_unknown_subcommand(sub: &[u8]) -> CmdError {
    let mut t = b"ERR Unknown PFDEBUG subcommand '".to_vec();
    t.extend(c_trunc(sub, usize::MAX).iter().map(|&c| match c {
        b'\r' | b'\n' => b' ',
        c => c,
    }));
    t.push(b'\'');
    CmdError::owned(t)
}

/// "ERR TESTFAILED Register 5 should be 3 but is 4"
pub fn hll_test_register(index: usize, expected: u8, got: u8) -> CmdError {
    CmdError::owned(format!(
        "ERR TESTFAILED Register {index} should be {expected} but is {got}"
    ))
}

/// "ERR TESTFAILED Too big error. card:1000 abserr:60"
pub fn hll_test_too_big_error(card: u64, abserr: u64) -> CmdError {
    CmdError::owned(format!(
        "ERR TESTFAILED Too big error. card:{card} abserr:{abserr}"
    ))
}

/// "ERR value is out of range, value must between MIN and MAX" (Redis's
/// getRangeLongFromObjectOrReply without a custom message; "between" lacks its "be" there too).
pub fn out_of_range_between(min: i64, max: i64) -> CmdError {
    CmdError::owned(format!(
        "ERR value is out of range, value must between {min} and {max}"
    ))
}

/// C's "%.Ns": at most `n` bytes, and nothing from the first NUL on.
pub fn c_trunc(s: &[u8], n: usize) -> &[u8] {
    let s = match memchr::memchr(0, s) {
        Some(i) => &s[..i],
        None => s,
    };
    &s[..s.len().min(n)]
}

/// ZUNION/ZINTER/ZDIFF (and STORE, ZINTERCARD) with numkeys < 1.
pub fn zset_need_key(fullname: &str) -> CmdError {
    CmdError::owned(format!(
        "ERR at least 1 input key is needed for '{fullname}' command"
    ))
}

// ---- streams ----
pub const STREAM_INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";
pub const STREAM_INVALID_START: &str = "ERR invalid start ID for the interval";
pub const STREAM_INVALID_END: &str = "ERR invalid end ID for the interval";
pub const STREAM_MAXLEN_MINID: &str =
    "ERR syntax error, MAXLEN and MINID options at the same time are not compatible";
pub const STREAM_MAXLEN_NEGATIVE: &str = "ERR The MAXLEN argument must be >= 0.";
pub const STREAM_LIMIT_NEGATIVE: &str = "ERR The LIMIT argument must be >= 0.";
pub const STREAM_LIMIT_NO_STRATEGY: &str =
    "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy";
pub const STREAM_XTRIM_NO_STRATEGY: &str =
    "ERR syntax error, XTRIM must be called with a trimming strategy";
/// XDELEX / XACKDEL's IDS block (Redis 8.2).
pub const NUMIDS_POSITIVE: &str = "ERR Number of IDs must be a positive integer";
pub const NUMIDS_MISMATCH: &str = "ERR The `numids` parameter must match the number of arguments";
pub const IDS_REQUIRED: &str = "ERR IDS option is required";
/// XREADGROUP's CLAIM option (Redis 8.4).
pub const STREAM_CLAIM_XREAD: &str =
    "ERR The CLAIM option is only supported by XREADGROUP. You called XREAD instead.";
pub const MIN_IDLE_NOT_INTEGER: &str = "ERR min-idle-time is not an integer or out of range";
pub const MIN_IDLE_NEGATIVE: &str = "ERR min-idle-time must be a positive integer";
pub const STREAM_LIMIT_NO_APPROX: &str =
    "ERR syntax error, LIMIT cannot be used without the special ~ option";
pub const STREAM_ID_ZERO: &str = "ERR The ID specified in XADD must be greater than 0-0";
pub const STREAM_EXHAUSTED: &str =
    "ERR The stream has exhausted the last possible ID, unable to add more items";
pub const STREAM_ID_SMALL: &str =
    "ERR The ID specified in XADD is equal or smaller than the target stream top item";
pub const STREAM_TOO_LARGE: &str = "ERR Elements are too large to be stored";
pub const STREAM_ENTRIES_ADDED_NEGATIVE: &str = "ERR entries_added must be positive";
pub const STREAM_SETID_SMALLER_THAN_MAXDEL_ARG: &str =
    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id";
pub const STREAM_SETID_SMALL: &str =
    "ERR The ID specified in XSETID is smaller than the target stream top item";
pub const STREAM_SETID_ENTRIES_ADDED_SMALL: &str =
    "ERR The entries_added specified in XSETID is smaller than the target stream length";
pub const STREAM_GROUP_XREAD: &str =
    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.";
pub const STREAM_NOACK_XREAD: &str =
    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.";
pub const STREAM_MISSING_GROUP: &str = "ERR Missing GROUP option for XREADGROUP";
pub const STREAM_UNBLOCKED_KEY_GONE: &str = "UNBLOCKED the stream key no longer exists";
pub const STREAM_UNBLOCKED_GROUP_GONE: &str =
    "NOGROUP the consumer group this client was blocked on no longer exists";
pub const STREAM_DOLLAR_XREADGROUP: &str = "ERR The $ ID is meaningless in the context of \
XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the \
> ID to get new messages. The $ ID would just return an empty result set.";
pub const STREAM_GT_XREAD: &str = "ERR The > ID can be specified only when calling XREADGROUP \
using the GROUP <group> <consumer> option.";
pub const STREAM_ENTRIES_READ: &str = "ERR value for ENTRIESREAD must be positive or -1";
pub const STREAM_XGROUP_NO_KEY: &str = "ERR The XGROUP subcommand requires the key to exist. \
Note that for CREATE you may want to use the MKSTREAM option to create an empty stream \
automatically.";
pub const STREAM_BUSYGROUP: &str = "BUSYGROUP Consumer Group name already exists";
pub const XCLAIM_MIN_IDLE: &str = "ERR Invalid min-idle-time argument for XCLAIM";
pub const XCLAIM_IDLE: &str = "ERR Invalid IDLE option argument for XCLAIM";
pub const XCLAIM_TIME: &str = "ERR Invalid TIME option argument for XCLAIM";
pub const XCLAIM_RETRYCOUNT: &str = "ERR Invalid RETRYCOUNT option argument for XCLAIM";
pub const XAUTOCLAIM_MIN_IDLE: &str = "ERR Invalid min-idle-time argument for XAUTOCLAIM";
pub const XAUTOCLAIM_COUNT: &str = "ERR COUNT must be > 0";

/// "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."
pub fn stream_unbalanced(cmd: &str) -> CmdError {
    CmdError::owned(format!(
        "ERR Unbalanced {cmd} list of streams: for each stream key an ID or '$' must be specified."
    ))
}

/// "ERR xread command is not allowed with BLOCK option from scripts" (the name as typed).
pub fn block_from_script(cmd: &[u8]) -> CmdError {
    let mut t = b"ERR ".to_vec();
    t.extend_from_slice(c_trunc(cmd, usize::MAX));
    t.extend_from_slice(b" command is not allowed with BLOCK option from scripts");
    CmdError::owned(t)
}

/// "ERR Invalid metadata value given: foo=bar" (a library's shebang).
pub fn function_bad_metadata_value(part: &[u8]) -> CmdError {
    CmdError::owned([b"ERR Invalid metadata value given: ", part].concat())
}

/// "ERR Engine 'x' not found"
pub fn function_engine_not_found(engine: &[u8]) -> CmdError {
    CmdError::owned([b"ERR Engine '", engine, b"' not found"].concat())
}

/// "ERR Unrecognized XCLAIM option 'opt'"
pub fn xclaim_unrecognized(opt: &[u8]) -> CmdError {
    let mut t = b"ERR Unrecognized XCLAIM option '".to_vec();
    t.extend_from_slice(opt);
    t.push(b'\'');
    CmdError::owned(t)
}

// ---- scripting (EVAL, FUNCTION) ----
pub const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";
pub const NUMKEYS_NEGATIVE: &str = "ERR Number of keys can't be negative";
pub const NUMKEYS_TOO_MANY: &str = "ERR Number of keys can't be greater than number of args";
pub const BUSY_SCRIPT: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
pub const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";
pub const NOTBUSY: &str = "NOTBUSY No scripts in execution right now.";
pub const SCRIPT_UNKILLABLE: &str = "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.";
pub const SCRIPT_KILLED: &str = "Script killed by user with SCRIPT KILL...";
pub const SCRIPT_SHUTDOWN: &str = "Script killed by SHUTDOWN while running";
// Raised inside scripts by redis.call (the script's error handler adds "ERR " and the place).
pub const LUA_NO_ARGS: &str = "Please specify at least one argument for this redis lib call";
pub const LUA_BAD_ARG_TYPE: &str = "Lua redis lib command arguments must be strings or integers";
pub const LUA_UNKNOWN_COMMAND: &str = "ERR Unknown Redis command called from script";
pub const LUA_WRONG_ARITY: &str = "ERR Wrong number of args calling Redis command from script";
pub const LUA_NOT_ALLOWED: &str = "ERR This Redis command is not allowed from script";
pub const LUA_WRITE_IN_READONLY: &str =
    "ERR Write commands are not allowed from read-only scripts.";
pub const LUA_STALE_REPLICA: &str = "ERR Can not execute the command on a stale replica";
pub const SCRIPT_NO_CLUSTER: &str = "ERR Can not run script on cluster, 'no-cluster' flag is set.";
pub const SCRIPT_NON_LOCAL_KEY: &str =
    "ERR Script attempted to access a non local key in a cluster node";
pub const SCRIPT_CROSS_SLOT: &str =
    "ERR Script attempted to access keys that do not hash to the same slot";
pub const SCRIPT_CLUSTER_DOWN: &str =
    "ERR Script attempted to execute a command while the cluster is down";
pub const SCRIPT_CLUSTER_DOWN_RO: &str =
    "ERR Script attempted to execute a write command while the cluster is down and readonly";
pub const DEBUG_CLUSTER_ONLY: &str =
    "ERR Debug option only available for cluster mode enabled setup!";
pub const LUA_ARGS_OR_TYPE: &str = "wrong number or type of arguments";
pub const LUA_WRONG_ARGS: &str = "wrong number of arguments";
pub const LUA_LOG_ARGS: &str = "redis.log() requires two arguments or more.";
pub const LUA_LOG_LEVEL: &str = "Invalid debug level.";
pub const LUA_RESP_VERSION: &str = "RESP version must be 2 or 3.";
pub const LUA_REPL_FLAGS: &str =
    "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.";
pub const LUA_ACL_CHECK_UNKNOWN: &str = "Invalid command passed to redis.acl_check_cmd()";
pub const LUA_STACK_LIMIT: &str = "ERR reached lua stack limit";
/// cinnabar's own: a script's reply grew past proto-max-bulk-len (Redis has no limit and
/// runs out of memory on a table that holds itself more than once).
pub const LUA_REPLY_TOO_LARGE: &str =
    "ERR script reply larger than proto-max-bulk-len (a table nested in itself?)";
pub const FUNCTION_NO_METADATA: &str = "ERR Missing library metadata";
pub const FUNCTION_NO_NAME: &str = "ERR Library name was not given";
pub const FUNCTION_BAD_METADATA: &str = "ERR Invalid library metadata";
pub const FUNCTION_NAME_TWICE: &str =
    "ERR Invalid metadata value, name argument was given multiple times";
pub const FUNCTION_BAD_NAME: &str = "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";
pub const FUNCTION_NONE_REGISTERED: &str = "ERR No functions registered";
pub const FUNCTION_LOAD_TIMEOUT: &str = "FUNCTION LOAD timeout";
pub const FUNCTION_NOT_FOUND: &str = "ERR Function not found";
pub const FUNCTION_LIBRARY_NOT_FOUND: &str = "ERR Library not found";
pub const FUNCTION_BAD_NUMKEYS: &str = "ERR Bad number of keys provided";
pub const FUNCTION_FLUSH_MODE: &str = "ERR FUNCTION FLUSH only supports SYNC|ASYNC option";
pub const FUNCTION_RESTORE_POLICY: &str =
    "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.";
pub const FUNCTION_RESTORE_TYPE: &str = "ERR given type is not a function";
pub const FUNCTION_LIST_NO_NAME: &str = "ERR library name argument was not given";
pub const BGSAVE_IN_PROGRESS: &str = "ERR Background save already in progress";
pub const BGSAVE_AOF_CHILD: &str = "ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.";
pub const AOF_REWRITE_IN_PROGRESS: &str =
    "ERR Background append only file rewriting already in progress";
pub const AOF_REWRITE_FAILED: &str = "ERR Can't execute an AOF background rewriting. Please check the server logs for more information.";
pub const DEBUG_RELOAD_OPTION: &str =
    "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.";
/// Writes refused after a failed AOF write (followed by the system's error text).
pub const MISCONF_AOF: &str = "MISCONF Errors writing to the AOF file: ";
pub const MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";
// Replication.
pub const WAIT_ON_REPLICA: &str = "ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.";
pub const READONLY_REPLICA: &str = "READONLY You can't write against a read only replica.";
pub const MASTERDOWN: &str =
    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.";
pub const REPLICA_KEYSPACE: &str = "ERR Replica can't interact with the keyspace";
pub const NOMASTERLINK: &str = "NOMASTERLINK Can't SYNC while not connected with my master";
pub const SYNC_WITH_PENDING_OUTPUT: &str = "ERR SYNC and PSYNC are invalid with pending output";
pub const REPLICAOF_FROM_REPLICA: &str = "ERR Command is not valid when client is a replica.";
pub const LOADING: &str = "LOADING Redis is loading the dataset in memory";
pub const INVALID_MASTER_PORT: &str = "ERR Invalid master port";
pub const REPLICAOF_DURING_FAILOVER: &str = "ERR REPLICAOF not allowed while failing over.";
pub const SYNC_DURING_FAILOVER: &str = "NOMASTERLINK Can't SYNC while failing over";
pub const PSYNC_FAILOVER_TO_MASTER: &str = "ERR PSYNC FAILOVER can't be sent to a master.";
pub const PSYNC_FAILOVER_REPLID: &str = "ERR PSYNC FAILOVER replid must match my replid.";
pub const FAILOVER_NONE: &str = "ERR No failover in progress.";
pub const FAILOVER_TIMEOUT: &str = "ERR FAILOVER timeout must be greater than 0";
pub const FAILOVER_IN_PROGRESS: &str = "ERR FAILOVER already in progress.";
pub const FAILOVER_ON_REPLICA: &str = "ERR FAILOVER is not valid when server is a replica.";
pub const FAILOVER_NO_REPLICAS: &str = "ERR FAILOVER requires connected replicas.";
pub const FAILOVER_FORCE_ARGS: &str =
    "ERR FAILOVER with force option requires both a timeout and target HOST and IP.";
pub const FAILOVER_NOT_A_REPLICA: &str = "ERR FAILOVER target HOST and PORT is not a replica.";
pub const FAILOVER_NOT_ONLINE: &str = "ERR FAILOVER target replica is not online.";
pub const RDB_FILTER_MISSING: &str = "ERR Missing rdb-filter-only values";
pub const RDB_FILTER_NEEDS_EOF: &str = "ERR Filtered replica requires EOF capability";
pub const REPLICATION_BGSAVE_FAILED: &str = "ERR BGSAVE failed, replication can't continue";
/// Replies a master may give our PING before we authenticate: it is there all the same.
pub const MASTER_PING_AUTH_REPLIES: &[&[u8]] =
    &[b"-NOAUTH", b"-NOPERM", b"-ERR operation not permitted"];
pub const BAD_DATA_FORMAT: &str = "ERR Bad data format";
pub const RESTORE_BAD_TTL: &str = "ERR Invalid TTL value, must be >= 0";
pub const RESTORE_BAD_IDLETIME: &str = "ERR Invalid IDLETIME value, must be >= 0";
pub const RESTORE_BAD_FREQ: &str = "ERR Invalid FREQ value, must be >= 0 and <= 255";
pub const DUMP_PAYLOAD: &str = "ERR DUMP payload version or checksum are wrong";
pub const SCRIPT_WRITE_FLAG_RO: &str =
    "ERR Can not execute a script with write flag using *_ro command.";
pub const SCRIPT_FLUSH_MODE: &str = "ERR SCRIPT FLUSH only support SYNC|ASYNC option";
pub const NOT_A_LISTPACK: &str = "ERR Not a listpack encoded object.";
pub const NOT_A_QUICKLIST: &str = "ERR Not a quicklist encoded object.";
pub const NOT_AN_SDS_STRING: &str = "ERR Not an sds encoded string.";
pub const CLIENT_EVICTION_DISABLED: &str = "ERR maxmemory-clients is disabled.";
pub const RESTART_FAILED: &str = "ERR failed to restart the server. Check server logs.";
pub const SCRIPT_DEBUG_MODE: &str = "ERR Use SCRIPT DEBUG YES/SYNC/NO";
pub const SCRIPT_DEBUG_PIPELINE: &str = "ERR SCRIPT DEBUG must be called outside a pipeline";
pub const LDB_EVALSHA: &str = "ERR Please use EVAL instead of EVALSHA for debugging";
pub const LDB_FORK_FAILED: &str = "ERR Fork() failed: can't run EVAL in debugging mode";
/// Not a Redis text: a command with no connection of its own (never a network client).
pub const LDB_NO_CONNECTION: &str = "ERR the Lua debugger needs the client's connection";

// ACL rules (Redis's ACLSetUserStringError) and the ACL command.
pub const ACL_RULE_SYNTAX: &str = "Syntax error";
pub const ACL_RULE_UNKNOWN_COMMAND: &str = "Unknown command or category name in ACL";
pub const ACL_RULE_KEY_AFTER_ALL: &str = "Adding a pattern after the * pattern (or the 'allkeys' \
     flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty \
     list of patterns";
pub const ACL_RULE_CHANNEL_AFTER_ALL: &str = "Adding a pattern after the * pattern (or the \
     'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to \
     start with an empty list of channels";
pub const ACL_RULE_NO_SUCH_PASSWORD: &str =
    "The password you are trying to remove from the user does not exist";
pub const ACL_RULE_BAD_HASH: &str = "The password hash must be exactly 64 characters and \
     contain only lowercase hexadecimal characters";
pub const ACL_RULE_FIRST_ARG_OF_SUBCOMMAND: &str =
    "Allowing first-arg of a subcommand is not supported";
pub const ACL_RULE_DUPLICATE_USER: &str =
    "Duplicate user found. A user can only be defined once in config files";
pub const ACL_USERNAME_SPACES: &str = "ERR Usernames can't contain spaces or null characters";
pub const ACL_DELETE_DEFAULT: &str = "ERR The 'default' user cannot be removed";
pub const ACL_NO_FILE: &str = "ERR This Redis instance is not configured to use an ACL file. \
     You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE \
     (assuming you have a Redis configuration file set) in order to store users in the Redis \
     configuration.";
pub const ACL_SAVE_FAILED: &str = "ERR There was an error trying to save the ACLs. Please check \
     the server logs for more information";
pub const ACL_GENPASS_BITS: &str = "ERR ACL GENPASS argument must be the number of bits for the \
     output password, a positive number up to 4096";
pub const NOPERM_COMMAND_PREFIX: &str = "NOPERM this user has no permissions to run the '";
pub const NOPERM_KEY: &str =
    "NOPERM this user has no permissions to access one of the keys used as arguments";
pub const NOPERM_CHANNEL: &str =
    "NOPERM this user has no permissions to access one of the channels used as arguments";
pub const NOPERM_EXEC_PREFIX: &str = "NOPERM ACLs rules changed between the moment the \
     transaction was accumulated and the EXEC call. This command is no longer allowed for the \
     following reason: ";
pub const NOPERM_EXEC_COMMAND: &str = "no permission to execute the command or subcommand";
pub const NOPERM_EXEC_KEY: &str = "no permission to touch the specified keys";
pub const NOPERM_EXEC_CHANNEL: &str =
    "no permission to access one of the channels used as arguments";
pub const SCRIPT_ACL_COMMAND: &str =
    "ERR The user executing the script can't run this command or subcommand";
pub const SCRIPT_ACL_KEY: &str = "ERR The user executing the script can't access at least one \
     of the keys mentioned in the command arguments";
pub const SCRIPT_ACL_CHANNEL: &str =
    "ERR The user executing the script can't publish to the channel mentioned in the command";
pub const SORT_BY_ACL: &str = "ERR BY option of SORT denied due to insufficient ACL permissions.";
pub const SORT_GET_ACL: &str = "ERR GET option of SORT denied due to insufficient ACL permissions.";

/// ACL SETUSER's refusal of one rule.
pub fn acl_setuser_rule(rule: &[u8], why: &str) -> CmdError {
    let mut t = b"ERR Error in ACL SETUSER modifier '".to_vec();
    t.extend_from_slice(rule);
    t.extend_from_slice(b"': ");
    t.extend_from_slice(why.as_bytes());
    CmdError::owned(t)
}

pub fn acl_unmatched_paren(arg: &[u8]) -> CmdError {
    detailed(
        "ERR Unmatched parenthesis in acl selector starting at '",
        arg,
        "'.",
    )
}

pub fn acl_unknown_category(name: &[u8]) -> CmdError {
    detailed("ERR Unknown category '", c_trunc(name, 128), "'")
}

pub fn acl_dryrun_no_user(name: &[u8]) -> CmdError {
    detailed("ERR User '", name, "' not found")
}

pub fn acl_dryrun_no_command(name: &[u8]) -> CmdError {
    detailed("ERR Command '", name, "' not found")
}

pub fn noperm_command(fullname: &str) -> CmdError {
    detailed(NOPERM_COMMAND_PREFIX, fullname.as_bytes(), "' command")
}

/// A queued command the user may no longer run when EXEC comes.
pub fn noperm_in_exec(d: crate::acl::check::Denied) -> CmdError {
    use crate::acl::check::Denied;
    let why = match d {
        Denied::Command => NOPERM_EXEC_COMMAND,
        Denied::Key(_) => NOPERM_EXEC_KEY,
        Denied::Channel(_) => NOPERM_EXEC_CHANNEL,
    };
    detailed(NOPERM_EXEC_PREFIX, why.as_bytes(), "")
}

/// An ACL file that did not load (the text lists every problem).
pub fn acl_load_failed(errors: &str) -> CmdError {
    detailed("ERR ", errors.as_bytes(), "")
}

pub fn unknown_direction(dir: &[u8]) -> CmdError {
    format!("ERR Unknown direction {}", String::from_utf8_lossy(dir)).into()
}

/// -MOVED / -ASK: the slot and the node that serves it.
pub fn cluster_redirect(ask: bool, slot: usize, endpoint: &str, port: u16) -> CmdError {
    let kind = if ask { "ASK" } else { "MOVED" };
    format!("{kind} {slot} {endpoint}:{port}").into()
}

/// CLUSTER SETSLOT/SLOTS errors naming a slot or a node.
pub fn cluster_slot_busy(slot: usize) -> CmdError {
    format!("ERR Slot {slot} is already busy").into()
}
pub fn cluster_slot_unassigned(slot: usize) -> CmdError {
    format!("ERR Slot {slot} is already unassigned").into()
}
pub fn cluster_slot_repeated(slot: usize) -> CmdError {
    format!("ERR Slot {slot} specified multiple times").into()
}
pub fn cluster_slot_range_reversed(start: usize, end: usize) -> CmdError {
    format!("ERR start slot number {start} is greater than end slot number {end}").into()
}
pub fn cluster_not_owner(slot: usize) -> CmdError {
    format!("ERR I'm not the owner of hash slot {slot}").into()
}
pub fn cluster_already_owner(slot: usize) -> CmdError {
    format!("ERR I'm already the owner of hash slot {slot}").into()
}
pub fn cluster_dont_know_node(name: &[u8]) -> CmdError {
    format!(
        "ERR I don't know about node {}",
        String::from_utf8_lossy(name)
    )
    .into()
}
pub fn cluster_unknown_node(name: &[u8]) -> CmdError {
    format!("ERR Unknown node {}", String::from_utf8_lossy(name)).into()
}
pub fn cluster_slot_has_keys(slot: usize) -> CmdError {
    format!("ERR Can't assign hashslot {slot} to a different node while I still hold keys for this hash slot.").into()
}
pub fn cluster_bad_base_port(port: &[u8]) -> CmdError {
    format!(
        "ERR Invalid TCP base port specified: {}",
        String::from_utf8_lossy(port)
    )
    .into()
}
pub fn cluster_bad_bus_port(port: &[u8]) -> CmdError {
    format!(
        "ERR Invalid TCP bus port specified: {}",
        String::from_utf8_lossy(port)
    )
    .into()
}
pub fn cluster_bad_address(ip: &[u8], port: &[u8]) -> CmdError {
    format!(
        "ERR Invalid node address specified: {}:{}",
        String::from_utf8_lossy(ip),
        String::from_utf8_lossy(port)
    )
    .into()
}
pub fn cluster_bad_epoch(epoch: i64) -> CmdError {
    format!("ERR Invalid config epoch specified: {epoch}").into()
}
pub fn cluster_saveconfig_failed(why: &str) -> CmdError {
    format!("ERR error saving the cluster node config: {why}").into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_command_format() {
        let e = unknown_command(&[b"foo", b"a", b"b"]);
        assert_eq!(
            e.text(),
            b"ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
        let long = vec![b'x'; 200];
        let e = unknown_command(&[b"foo", b"a\nb", &long]);
        let expect = format!(
            "ERR unknown command 'foo', with args beginning with: 'a\nb' '{}' ",
            "x".repeat(128 - 6)
        );
        assert_eq!(e.text(), expect.as_bytes());
        assert_eq!(e.code(), b"ERR");
    }
}
