//! The ACL file (aclfile): "user <name> <rules...>" lines, loaded all or nothing (Redis's
//! ACLLoadFromFile) and saved through a temporary file, fsync and rename.

use std::io::Write;
use std::path::Path;

use super::{has_spaces, merge_selector_args, User};

/// Tail of every failed load (Redis's wording).
const NO_CHANGE: &str =
    "WARNING: ACL errors detected, no change to the previously active ACL rules was performed";

/// Parses ACL file text into users. Err: every problem found, in one line, as Redis reports
/// them (`shown_name` is the file name as configured).
pub fn parse(text: &[u8], shown_name: &str, pubsub_all: bool) -> Result<Vec<User>, String> {
    let mut users: Vec<User> = Vec::new();
    let mut errors = String::new();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        let linenum = i + 1;
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        let argv: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
        if argv[0] != b"user" || argv.len() < 2 {
            errors.push_str(&format!(
                "{shown_name}:{linenum} should start with user keyword followed by the username. "
            ));
            continue;
        }
        let name = argv[1];
        if has_spaces(name) {
            errors.push_str(&format!(
                "'{shown_name}:{linenum}: username '{}' contains invalid characters. ",
                String::from_utf8_lossy(name)
            ));
            continue;
        }
        if users.iter().any(|u| u.name == name) {
            errors.push_str(&format!(
                "WARNING: Duplicate user '{}' found on line {linenum}. ",
                String::from_utf8_lossy(name)
            ));
            continue;
        }
        let mut user = User::new(name, pubsub_all);
        match merge_selector_args(&argv[2..]) {
            Err(_) => errors.push_str(&format!(
                "{shown_name}:{linenum}: Unmatched parenthesis in selector definition."
            )),
            Ok(rules) => {
                for rule in rules {
                    if let Err(e) = user.apply(trim_tabs_newlines(&rule), pubsub_all) {
                        errors.push_str(&format!("{shown_name}:{linenum}: {}. ", e.message()));
                    }
                }
            }
        }
        users.push(user);
    }
    if errors.is_empty() {
        Ok(users)
    } else {
        errors.push_str(NO_CHANGE);
        Err(errors)
    }
}

/// Redis trims rules of "\t\r\n" only (not spaces).
fn trim_tabs_newlines(s: &[u8]) -> &[u8] {
    let keep = |b: &u8| !matches!(b, b'\t' | b'\r' | b'\n');
    let start = s.iter().position(keep).unwrap_or(s.len());
    let end = s.iter().rposition(keep).map_or(start, |i| i + 1);
    &s[start..end]
}

/// Reads and parses the ACL file.
pub fn load(path: &Path, shown_name: &str, pubsub_all: bool) -> Result<Vec<User>, String> {
    let text = std::fs::read(path).map_err(|e| {
        format!(
            "Error loading ACLs, opening file '{shown_name}': {}",
            crate::util::strerror(&e)
        )
    })?;
    parse(&text, shown_name, pubsub_all)
}

/// Writes the users to the ACL file: temporary file, fsync, rename.
pub fn save<'a>(path: &Path, users: impl Iterator<Item = &'a User>) -> std::io::Result<()> {
    let mut text = Vec::new();
    for u in users {
        text.extend_from_slice(&super::describe::user_line(u));
        text.push(b'\n');
    }
    let tmp = path.with_file_name(format!(
        "{}.tmp-{}",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&text)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Loads the users at startup (Redis's ACLLoadUsersAtStartup): from `user` directives or
/// from the ACL file, never both. Err: the log lines to print before exiting.
pub fn load_at_startup(
    acl: &mut super::Acl,
    configured: &[Vec<Vec<u8>>],
    aclfile: Option<&str>,
) -> Result<(), Vec<String>> {
    if aclfile.is_some() && !configured.is_empty() {
        return Err(vec![
            "Configuring Redis with users defined in redis.conf and at the same \
             setting an ACL file path is invalid. This setup is very likely to lead to \
             configuration errors and security holes, please define either an ACL file or \
             declare users directly in your redis.conf, but not both."
                .into(),
        ]);
    }
    let critical = "Critical error while loading ACLs. Exiting.".to_string();
    for entry in configured {
        let (name, rules) = (&entry[0], &entry[1..]);
        if has_spaces(name) {
            return Err(vec!["Spaces not allowed in ACL usernames".into(), critical]);
        }
        let mut user = User::new(name, acl.pubsub_all);
        if name == b"default" {
            user = acl.default_user().clone();
            user.apply(b"reset", acl.pubsub_all)
                .expect("reset always applies");
        }
        for rule in rules {
            if let Err(e) = user.apply(rule, acl.pubsub_all) {
                return Err(vec![
                    format!(
                        "Error loading ACL rule '{}' for the user named '{}': {}",
                        String::from_utf8_lossy(rule),
                        String::from_utf8_lossy(name),
                        e.message()
                    ),
                    critical,
                ]);
            }
        }
        if !user.enabled {
            tracing::info!(
                "The user '{}' is disabled (there is no 'on' modifier in the user description). \
                 Make sure this is not a configuration error.",
                String::from_utf8_lossy(name)
            );
        }
        acl.put(user);
    }
    if let Some(file) = aclfile {
        let users = load(Path::new(file), file, acl.pubsub_all)
            .map_err(|e| vec![format!("Aborting Redis startup because of ACL errors: {e}")])?;
        acl.replace_all(users);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_line_loads_nothing_and_says_why() {
        let text = b"user alice on >p ~* +@all\nuser bob on +nosuch\nuser alice off\nfoo\n";
        let e = parse(text, "users.acl", false).unwrap_err();
        assert_eq!(
            e,
            "users.acl:2: Unknown command or category name in ACL. WARNING: Duplicate user \
             'alice' found on line 3. users.acl:4 should start with user keyword followed by \
             the username. WARNING: ACL errors detected, no change to the previously active \
             ACL rules was performed"
        );
        let ok = parse(
            b"user alice on >p ~* +@all\n\nuser default on nopass ~* &* +@all\n",
            "f",
            false,
        )
        .unwrap();
        assert_eq!(ok.len(), 2);
        assert!(ok[0].enabled && ok[0].password_matches(b"p"));
    }
}
