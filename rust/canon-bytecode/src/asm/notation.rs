//! The readable local-type notation of `.type NAME = ...`: the notation that
//! `impl Display for LocalType` prints, e.g.
//! `mu X.B!{Ping(Int).B?Pong(Int).X, Stop().end}`.
//!
//! ```text
//! ty      := "end" | "mu" NAME "." ty | NAME | NAME ("!" | "?") choice
//! choice  := branch | "{" branch ("," branch)* "}"
//! branch  := NAME "(" [item ("," item)*] ")" "." ty
//! item    := [NAME ":"] NAME
//! ```
//!
//! A name followed by `!` or `?` is a peer, so roles may be called `end` or `mu`.

use canon_types::{Branch, LocalType, Payload};

use super::cursor::Cursor;
use super::lex::Tok;
use super::{AsmError, AsmErrorKind};

/// How deeply a local type may nest before it is rejected (keeps the
/// recursive parser and lowering off the end of the stack).
const MAX_DEPTH: usize = 256;

/// Parses one local type from `c`.
pub(crate) fn parse(c: &mut Cursor<'_>) -> Result<LocalType, AsmError> {
    ty(c, 0)
}

/// A name: a bare word or a quoted string.
fn name(c: &mut Cursor<'_>, what: &'static str) -> Result<String, AsmError> {
    match c.peek() {
        Some(Tok::Ident(s) | Tok::Str(s)) => {
            c.bump();
            Ok(s.clone())
        }
        _ => Err(c.expected(what)),
    }
}

fn ty(c: &mut Cursor<'_>, depth: usize) -> Result<LocalType, AsmError> {
    if depth > MAX_DEPTH {
        return Err(c.err(AsmErrorKind::TooDeep));
    }
    let keyword = matches!(c.peek(), Some(Tok::Ident(_)));
    let head = name(c, "a local type")?;
    match c.peek() {
        Some(Tok::Punct('!')) => {
            c.bump();
            Ok(LocalType::Send { to: head, branches: choice(c, depth)? })
        }
        Some(Tok::Punct('?')) => {
            c.bump();
            Ok(LocalType::Recv { from: head, branches: choice(c, depth)? })
        }
        _ if keyword && head == "end" => Ok(LocalType::End),
        _ if keyword && head == "mu" => {
            let var = name(c, "a recursion variable")?;
            c.punct('.', "`.`")?;
            Ok(LocalType::Mu { var, body: Box::new(ty(c, depth + 1)?) })
        }
        _ => Ok(LocalType::Var { var: head }),
    }
}

fn choice(c: &mut Cursor<'_>, depth: usize) -> Result<Vec<Branch>, AsmError> {
    if c.peek() != Some(&Tok::Punct('{')) {
        return Ok(vec![branch(c, depth)?]);
    }
    let mut out = Vec::new();
    for mut item in c.group('{', "`{`")? {
        out.push(branch(&mut item, depth)?);
        item.finish()?;
    }
    if out.is_empty() {
        return Err(c.expected("at least one branch"));
    }
    Ok(out)
}

fn branch(c: &mut Cursor<'_>, depth: usize) -> Result<Branch, AsmError> {
    let label = name(c, "a message label")?;
    let mut payload = Vec::new();
    for mut item in c.group('(', "`(`")? {
        let first = name(&mut item, "a payload type")?;
        let p = if item.eat_punct(':') {
            Payload { name: Some(first), ty: name(&mut item, "a payload type")?, refinement: None }
        } else {
            Payload { name: None, ty: first, refinement: None }
        };
        item.finish()?;
        payload.push(p);
    }
    c.punct('.', "`.` and a continuation")?;
    Ok(Branch { label, payload, cont: ty(c, depth + 1)? })
}
