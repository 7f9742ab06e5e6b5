//! Users and selectors described as rules (ACL LIST, ACL GETUSER, ACL SAVE), such that
//! applying the description rebuilds the same permissions.

use super::commands;
use super::selector::{KeyPattern, Selector, READ, READ_WRITE, WRITE};
use super::User;
use crate::cmd::meta::{acl_bit, ACL_CATEGORY_NAMES};

/// A key pattern as a rule: `~p`, `%R~p` or `%W~p`.
pub fn key_pattern(out: &mut Vec<u8>, k: &KeyPattern) {
    out.extend_from_slice(match k.perm {
        READ_WRITE => b"~".as_slice(),
        READ => b"%R~",
        WRITE => b"%W~",
        _ => unreachable!("key patterns have a permission"),
    });
    out.extend_from_slice(&k.pattern);
}

/// The command rules that rebuild a selector's command bitmap (Redis's
/// ACLDescribeSelectorCommandRules): +@all or -@all, then the categories that fit best, then
/// single commands and first arguments for what is left.
pub fn command_rules(s: &Selector) -> Vec<u8> {
    let mut rules: Vec<u8> = Vec::new();
    // Rules are applied to `fake` as they are emitted, so what still differs is known.
    let mut fake = Selector::new(false);
    let additive = !s.allows_future_commands();
    let start: &[u8] = if additive { b"-@all" } else { b"+@all" };
    rules.extend_from_slice(start);
    rules.push(b' ');
    fake.apply(start).expect("+@all/-@all");
    // `temp` has the categories already chosen inverted, so they stop looking attractive.
    let mut temp = s.clone();
    let mut applied = [false; ACL_CATEGORY_NAMES.len()];
    loop {
        let mut best = None;
        let (mut min_diff, mut max_same) = (usize::MAX, 0);
        for (j, _) in ACL_CATEGORY_NAMES.iter().enumerate() {
            if applied[j] {
                continue;
            }
            let (on, off) = temp.count_category(acl_bit(j));
            let (diff, same) = if additive { (off, on) } else { (on, off) };
            if same > diff && (diff < min_diff || (diff == min_diff && same > max_same)) {
                best = Some(j);
                min_diff = diff;
                max_same = same;
            }
        }
        let Some(j) = best else { break };
        let name = ACL_CATEGORY_NAMES[j].as_bytes();
        let op = [if additive { b"+@" } else { b"-@" }.as_slice(), name].concat();
        let inverse = [if additive { b"-@" } else { b"+@" }.as_slice(), name].concat();
        fake.apply(&op).expect("a category");
        temp.apply(&inverse).expect("a category");
        rules.extend_from_slice(&op);
        rules.push(b' ');
        applied[j] = true;
    }
    let table = commands::get();
    for cmd in table.walk() {
        let user_bit = s.bit(cmd.id);
        if user_bit != fake.bit(cmd.id) {
            rules.push(if user_bit { b'+' } else { b'-' });
            rules.extend_from_slice(cmd.name().as_bytes());
            rules.push(b' ');
            fake.change_perm(cmd, user_bit);
        }
        if !user_bit {
            for arg in s.first_args(cmd.id) {
                rules.push(b'+');
                rules.extend_from_slice(cmd.name().as_bytes());
                rules.push(b'|');
                rules.extend_from_slice(arg);
                rules.push(b' ');
            }
        }
    }
    rules.pop();
    debug_assert!(fake.same_commands(s), "described rules differ");
    rules
}

/// A selector as rules: keys, channels, commands.
pub fn selector(s: &Selector) -> Vec<u8> {
    let mut out = Vec::new();
    if s.all_keys {
        out.extend_from_slice(b"~* ");
    } else {
        for k in &s.keys {
            key_pattern(&mut out, k);
            out.push(b' ');
        }
    }
    if s.all_channels {
        out.extend_from_slice(b"&* ");
    } else {
        out.extend_from_slice(b"resetchannels ");
        for c in &s.channels {
            out.push(b'&');
            out.extend_from_slice(c);
            out.push(b' ');
        }
    }
    out.extend_from_slice(&command_rules(s));
    out
}

/// A user's flags in Redis's order.
pub fn flags(u: &User) -> Vec<&'static str> {
    let mut f = vec![if u.enabled { "on" } else { "off" }];
    if u.nopass {
        f.push("nopass");
    }
    match u.sanitize_payload {
        Some(false) => f.push("skip-sanitize-payload"),
        Some(true) => f.push("sanitize-payload"),
        None => {}
    }
    f
}

/// A user as rules (Redis's ACLDescribeUser), without the "user <name>" prefix.
pub fn user(u: &User) -> Vec<u8> {
    let mut out = Vec::new();
    for f in flags(u) {
        out.extend_from_slice(f.as_bytes());
        out.push(b' ');
    }
    for p in &u.passwords {
        out.push(b'#');
        out.extend_from_slice(p);
        out.push(b' ');
    }
    for (i, s) in u.selectors.iter().enumerate() {
        if i == 0 {
            out.extend_from_slice(&selector(s));
        } else {
            out.extend_from_slice(b" (");
            out.extend_from_slice(&selector(s));
            out.push(b')');
        }
    }
    out
}

/// "user <name> <rules>": one line of ACL LIST and of the ACL file.
pub fn user_line(u: &User) -> Vec<u8> {
    [b"user ".as_slice(), &u.name, b" ", &user(u)].concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::User;

    fn described(rules: &[&str]) -> String {
        let mut u = User::new(b"u", false);
        for r in rules {
            u.apply(r.as_bytes(), false).unwrap();
        }
        String::from_utf8(user(&u)).unwrap()
    }

    #[test]
    fn descriptions_as_redis_writes_them() {
        assert_eq!(
            described(&["on", ">p", "~k*", "+get", "&ch*", "%R~r*"]),
            "on #148de9c5a7a44d19e56cd9ae1a554bf67847afb0c58f6e12fa29ac7ddfca9940 ~k* %R~r* \
             resetchannels &ch* -@all +get"
        );
        assert_eq!(
            described(&["on", "nopass", "+@all", "-@dangerous", "(+set ~s*)"]),
            "on nopass resetchannels +@all -@dangerous (~s* resetchannels -@all +set)"
        );
        assert_eq!(
            String::from_utf8(user(&User::new_default())).unwrap(),
            "on nopass ~* &* +@all"
        );
    }

    #[test]
    fn described_rules_rebuild_the_same_bitmap() {
        let cases: &[&[&str]] = &[
            &["+@string", "-get", "+config|get", "+select|0"],
            &["+@all", "-@dangerous", "+flushall", "-client|kill"],
            &["+@read", "+@write", "-@keyspace", "+del"],
            &["+debug", "-debug", "+debug|object"],
        ];
        for rules in cases {
            let mut s = Selector::new(false);
            for r in *rules {
                s.apply(r.as_bytes()).unwrap();
            }
            let text = command_rules(&s);
            let mut rebuilt = Selector::new(false);
            for op in text.split(|&b| b == b' ') {
                rebuilt.apply(op).unwrap();
            }
            assert!(
                rebuilt.same_commands(&s),
                "{rules:?} -> {}",
                String::from_utf8_lossy(&text)
            );
            assert_eq!(rebuilt.first_args(0), s.first_args(0));
        }
    }
}
