//! A dataset with every type in small and big encodings, and a canonical view of a server's
//! keys, for comparing servers after a file or payload moves between them.
#![allow(dead_code)]

use super::client::Client;

/// Every key of db 0 with its type, encoding, TTL presence and contents, in a canonical form.
pub fn snapshot(c: &mut Client) -> Vec<String> {
    let mut keys: Vec<Vec<u8>> = match c.cmd(&["KEYS", "*"]) {
        cinnabar::resp::frame::Frame::Array(v) => {
            v.iter().map(|f| f.as_bytes().unwrap().to_vec()).collect()
        }
        other => panic!("KEYS: {other:?}"),
    };
    keys.sort();
    let mut out = Vec::new();
    for k in keys {
        let key = String::from_utf8_lossy(&k).into_owned();
        let t = String::from_utf8_lossy(&c.cmd_raw(&["TYPE", &key])).into_owned();
        let enc = String::from_utf8_lossy(&c.cmd_raw(&["OBJECT", "ENCODING", &key])).into_owned();
        let ttl = match c.cmd(&["PTTL", &key]).as_int() {
            Some(-1) => "no ttl",
            Some(n) if n > 0 => "ttl",
            _ => "?",
        };
        let read: Vec<&str> = match t.trim() {
            "+string" => vec!["GET", &key],
            "+list" => vec!["LRANGE", &key, "0", "-1"],
            "+set" => vec!["SORT_RO", &key, "ALPHA"],
            "+zset" => vec!["ZRANGE", &key, "0", "-1", "WITHSCORES"],
            "+hash" => vec!["HGETALL", &key],
            "+stream" => vec!["XRANGE", &key, "-", "+"],
            other => panic!("type {other}"),
        };
        let mut value = c.cmd_raw(&read);
        if t.trim() == "+hash" {
            // Field order is the encoding's; compare as a sorted list of pairs.
            let mut pairs: Vec<Vec<u8>> = match cinnabar::resp::frame::decode(&value).unwrap() {
                Some((cinnabar::resp::frame::Frame::Array(v), _)) => v
                    .chunks(2)
                    .map(|p| [p[0].as_bytes().unwrap(), b"=", p[1].as_bytes().unwrap()].concat())
                    .collect(),
                _ => panic!("HGETALL"),
            };
            pairs.sort();
            value = pairs.join(&b","[..]);
        }
        out.push(format!(
            "{key} {t} {enc} {ttl} {}",
            String::from_utf8_lossy(&value).escape_debug()
        ));
        if t.trim() == "+stream" {
            out.push(String::from_utf8_lossy(&c.cmd_raw(&["XINFO", "GROUPS", &key])).into_owned());
        }
    }
    out
}

pub fn fill(c: &mut Client) {
    let run = |c: &mut Client, line: &str| {
        c.ok(line);
    };
    for line in [
        "SET str hello",
        "SET int 12345",
        "SET neg -7",
        "HSET hsmall a 1 b 2 c three",
        "RPUSH lsmall a 1 -2 300 70000 5000000000 hello",
        "SADD sints 3 1 2 -5 100000 9999999999",
        "SADD sstrs a b c",
        "ZADD zsmall 1 a 2.5 b -3 c 1e10 d",
        "XADD st 1-1 f v g w",
        "XADD st 2-1 f v2",
        "XGROUP CREATE st g1 0",
        "XREADGROUP GROUP g1 alice COUNT 1 STREAMS st >",
        "SET ttl v PX 900000",
        "HSET httl f v",
        "PEXPIRE httl 900000",
    ] {
        run(c, line);
    }
    // Big ones: hashtable, skiplist, several quicklist nodes, hashtable set, LZF strings.
    for i in 0..600 {
        let (i, v) = (i.to_string(), format!("value-{i}"));
        run(c, &format!("HSET hbig f{i} {v}"));
        run(c, &format!("ZADD zbig {i} m{i}"));
        run(c, &format!("RPUSH lbig {v}"));
        run(c, &format!("SADD sbig {i}"));
    }
    run(c, &format!("SET long {}", "abcdefgh".repeat(100)));
    let lib = "#!lua name=lib\nredis.register_function('f', function() return 1 end)";
    assert_eq!(c.cmd_raw(&["FUNCTION", "LOAD", lib]), b"$3\r\nlib\r\n");
}

/// `snapshot` of every database that holds keys, then the function libraries.
pub fn snapshot_all(c: &mut Client) -> Vec<String> {
    let mut out = Vec::new();
    for db in 0..16 {
        c.cmd(&["SELECT", &db.to_string()]);
        if c.cmd(&["DBSIZE"]).as_int() != Some(0) {
            out.push(format!("# db {db}"));
            out.extend(snapshot(c));
        }
    }
    c.cmd(&["SELECT", "0"]);
    out.push(String::from_utf8_lossy(&c.cmd_raw(&["FUNCTION", "DUMP"])).into_owned());
    out
}

/// A `snapshot_all` view as replication carries it: Redis propagates XREADGROUP's deliveries
/// as XCLAIMs, whose LASTID carries a group's last ID but not its entries read, so a replica
/// (Redis's as ours) knows that count only from a full sync. Its value is masked; everything
/// else must match.
pub fn as_replicated(view: &[String]) -> Vec<String> {
    const FIELD: &str = "$12\r\nentries-read\r\n";
    view.iter()
        .map(|line| {
            let mut out = String::with_capacity(line.len());
            let mut rest = line.as_str();
            while let Some(i) = rest.find(FIELD) {
                let (head, tail) = rest.split_at(i + FIELD.len());
                out.push_str(head);
                let end = tail.find("\r\n").map_or(tail.len(), |e| e + 2);
                out.push_str("<entries-read>\r\n");
                rest = &tail[end..];
            }
            out.push_str(rest);
            out
        })
        .collect()
}
