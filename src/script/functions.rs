//! FUNCTION libraries: `#!lua name=<lib>` code that registers named functions with
//! `redis.register_function`, called by FCALL / FCALL_RO. They live in their own interpreter
//! (as in Redis), so SCRIPT FLUSH leaves them alone.

use std::collections::{BTreeMap, HashMap};
use std::ffi::c_int;

use super::Engine;
use crate::persist::rdb::{opcode, Decoder, Encoder};
use crate::persist::{open_payload, seal_payload};
use crate::resp::errors::{self as err, CmdError};

pub struct Library {
    /// The whole code, shebang included (FUNCTION LIST WITHCODE, DUMP).
    pub code: Vec<u8>,
    /// Function names in registration order.
    pub functions: Vec<Vec<u8>>,
}

pub struct Function {
    /// As registered (FCALL finds it in any case; errors name it this way).
    pub name: Vec<u8>,
    pub library: Vec<u8>,
    pub func: c_int,
    pub flags: u32,
    pub description: Option<Vec<u8>>,
}

/// FUNCTION RESTORE's policy.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum RestorePolicy {
    Append,
    Replace,
    Flush,
}

pub struct Functions {
    /// Out of its place while one of its functions runs (FCALL).
    pub engine: Option<Box<Engine>>,
    pub libraries: BTreeMap<Vec<u8>, Library>,
    /// By lowercased name: function names are case-insensitive, as in Redis.
    functions: HashMap<Vec<u8>, Function>,
}

/// A function name as the `functions` table keys it (no copy when already lowercase).
fn fold_case(name: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if name.iter().any(u8::is_ascii_uppercase) {
        name.to_ascii_lowercase().into()
    } else {
        name.into()
    }
}

impl Functions {
    pub fn new() -> Box<Functions> {
        Box::new(Functions {
            engine: Some(Engine::for_functions()),
            libraries: BTreeMap::new(),
            functions: HashMap::new(),
        })
    }

    /// FUNCTION LOAD: returns the library's name.
    pub fn load(&mut self, code: &[u8], replace: bool) -> Result<Vec<u8>, CmdError> {
        let (name, body_start) = parse_metadata(code)?;
        if !replace && self.libraries.contains_key(&name) {
            return Err(err::library_exists(&name, true));
        }
        let registered = self.engine_mut().load_library(&code[body_start..])?;
        let failure = if registered.is_empty() {
            Some(CmdError::from(err::FUNCTION_NONE_REGISTERED))
        } else {
            registered.iter().find_map(|r| {
                let clash = self.get(&r.name).is_some_and(|f| f.library != name);
                clash.then(|| err::function_exists(&r.name))
            })
        };
        if let Some(e) = failure {
            for r in registered {
                self.engine_mut().release(r.func);
            }
            return Err(e);
        }
        self.delete(&name);
        let mut names = Vec::with_capacity(registered.len());
        for r in registered {
            names.push(r.name.clone());
            // Two names differing only in case: the last one answers FCALL, as in Redis.
            let replaced = self.functions.insert(
                fold_case(&r.name).into_owned(),
                Function {
                    name: r.name,
                    library: name.clone(),
                    func: r.func,
                    flags: r.flags,
                    description: r.description,
                },
            );
            if let Some(old) = replaced {
                self.engine_mut().release(old.func);
            }
        }
        self.libraries.insert(
            name.clone(),
            Library {
                code: code.to_vec(),
                functions: names,
            },
        );
        Ok(name)
    }

    /// FUNCTION DELETE: false if there is no such library.
    pub fn delete(&mut self, name: &[u8]) -> bool {
        let Some(lib) = self.libraries.remove(name) else {
            return false;
        };
        for f in lib.functions {
            if let Some(f) = self.functions.remove(fold_case(&f).as_ref()) {
                self.engine_mut().release(f.func);
            }
        }
        true
    }

    /// The DUMP payload of no libraries.
    pub fn empty_dump() -> Vec<u8> {
        seal_payload(Vec::new())
    }

    /// FUNCTION DUMP: each library as an RDB function record, then the RDB version and a
    /// CRC-64, as Redis's DUMP payloads.
    pub fn dump(&self) -> Vec<u8> {
        let mut enc = Encoder::new(Vec::new(), true);
        for lib in self.libraries.values() {
            // Writing to a Vec cannot fail.
            let _ = enc.byte(opcode::FUNCTION2);
            let _ = enc.string(&lib.code);
        }
        seal_payload(enc.into_inner())
    }

    /// FUNCTION RESTORE. Every library of the payload is loaded into a scratch set first, so
    /// a bad payload changes nothing.
    pub fn restore(&mut self, payload: &[u8], policy: RestorePolicy) -> Result<(), CmdError> {
        let codes = parse_dump(payload)?;
        let mut scratch = Functions::new();
        for code in &codes {
            scratch.load(code, false)?;
        }
        if policy == RestorePolicy::Flush {
            *self = *scratch;
            return Ok(());
        }
        for (name, lib) in &scratch.libraries {
            if policy == RestorePolicy::Append && self.libraries.contains_key(name) {
                return Err(err::library_exists(name, false));
            }
            for f in &lib.functions {
                if self.get(f).is_some_and(|old| &old.library != name) {
                    return Err(err::function_exists(f));
                }
            }
        }
        for code in &codes {
            self.load(code, true)?;
        }
        Ok(())
    }

    fn engine_mut(&mut self) -> &mut Engine {
        self.engine.get_or_insert_with(Engine::for_functions)
    }

    /// The function called `name`, in any case.
    pub fn get(&self, name: &[u8]) -> Option<&Function> {
        self.functions.get(fold_case(name).as_ref())
    }

    pub fn function_count(&self) -> usize {
        self.functions.len()
    }
}

/// Reads `#!<engine> name=<lib>` (Redis's functionExtractLibMetaData): the library name and
/// where the code after the shebang line starts (its newline kept, so lines match).
pub fn parse_metadata(code: &[u8]) -> Result<(Vec<u8>, usize), CmdError> {
    if !code.starts_with(b"#!") {
        return Err(err::FUNCTION_NO_METADATA.into());
    }
    let bad = || CmdError::from(err::FUNCTION_BAD_METADATA);
    let end = memchr::memchr(b'\n', code).ok_or_else(bad)?;
    let parts = crate::util::splitargs::split_args(&code[..end])
        .filter(|p| !p.is_empty())
        .ok_or_else(bad)?;
    let engine = &parts[0][2.min(parts[0].len())..];
    let mut name: Option<&[u8]> = None;
    for part in &parts[1..] {
        match part.get(..5) {
            Some(key) if key.eq_ignore_ascii_case(b"name=") => {
                if name.is_some() {
                    return Err(err::FUNCTION_NAME_TWICE.into());
                }
                name = Some(&part[5..]);
            }
            _ => return Err(err::function_bad_metadata_value(part)),
        }
    }
    let name = name.ok_or(CmdError::from(err::FUNCTION_NO_NAME))?;
    if name.is_empty() || !name.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_') {
        return Err(err::FUNCTION_BAD_NAME.into());
    }
    if !engine.eq_ignore_ascii_case(b"lua") {
        return Err(err::function_engine_not_found(engine));
    }
    Ok((name.to_vec(), end))
}

/// Checks a DUMP payload's version and CRC and returns the library codes in it.
fn parse_dump(payload: &[u8]) -> Result<Vec<Vec<u8>>, CmdError> {
    let bad = || CmdError::from(err::DUMP_PAYLOAD);
    let (body, _) = open_payload(payload, true).ok_or_else(bad)?;
    let mut dec = Decoder::new(body);
    let mut codes = Vec::new();
    while dec.pos < body.len() {
        let t = body[dec.pos];
        dec.pos += 1;
        if t != opcode::FUNCTION2 {
            return Err(err::FUNCTION_RESTORE_TYPE.into());
        }
        codes.push(dec.string().map_err(|_| bad())?);
    }
    Ok(codes)
}
