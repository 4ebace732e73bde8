//! Text and JSON printers for local types (`canon project --format text|json`).
//!
//! The text form is indented like a Scribble local protocol: one statement per
//! line, `Label(T) to Peer;` / `Label(T) from Peer;`, `choice at R { .. } or
//! { .. }` for a choice with more than one branch, `rec X { .. }` and
//! `continue X;`. `end` is implicit at the close of a block.

use std::fmt::Write as _;

use crate::local::{Branch, LocalType};

const INDENT: &str = "  ";

/// The multi-line form of `ty`; the deciding role of an internal choice is
/// printed as `self`. A type that is just `end` prints as `end;`.
pub fn pretty(ty: &LocalType) -> String {
    let mut out = String::new();
    write_body(&mut out, "self", ty, 0);
    if out.is_empty() {
        out.push_str("end;\n");
    }
    out
}

/// `ty` as a complete Scribble-style local protocol of `role` in `protocol`:
/// `local protocol Protocol_Role at Role { .. }`.
pub fn pretty_local(protocol: &str, role: &str, ty: &LocalType) -> String {
    let mut out = format!("local protocol {protocol}_{role} at {role} {{\n");
    write_body(&mut out, role, ty, 1);
    out.push_str("}\n");
    out
}

fn line(out: &mut String, depth: usize, text: &str) {
    for _ in 0..depth {
        out.push_str(INDENT);
    }
    out.push_str(text);
    out.push('\n');
}

fn message(b: &Branch, dir: &str, peer: &str) -> String {
    let mut s = format!("{}(", b.label);
    for (i, p) in b.payload.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{p}");
    }
    let _ = write!(s, ") {dir} {peer};");
    s
}

fn write_body(out: &mut String, me: &str, ty: &LocalType, depth: usize) {
    match ty {
        LocalType::End => {}
        LocalType::Send { to, branches } => write_choice(out, me, me, "to", to, branches, depth),
        LocalType::Recv { from, branches } => write_choice(out, me, from, "from", from, branches, depth),
        LocalType::Mu { var, body } => {
            line(out, depth, &format!("rec {var} {{"));
            write_body(out, me, body, depth + 1);
            line(out, depth, "}");
        }
        LocalType::Var { var } => line(out, depth, &format!("continue {var};")),
    }
}

fn write_choice(out: &mut String, me: &str, decider: &str, dir: &str, peer: &str, branches: &[Branch], depth: usize) {
    if let [only] = branches {
        line(out, depth, &message(only, dir, peer));
        write_body(out, me, &only.cont, depth);
        return;
    }
    line(out, depth, &format!("choice at {decider} {{"));
    for (i, b) in branches.iter().enumerate() {
        if i > 0 {
            line(out, depth, "} or {");
        }
        line(out, depth + 1, &message(b, dir, peer));
        write_body(out, me, &b.cont, depth + 1);
    }
    line(out, depth, "}");
}

/// Every role's local type as JSON:
/// `[{"role": "A", "local": {"kind": "Send", ..}}, ..]` (the tree's serde form),
/// one role per line and each compact, so the output grows with the size of
/// the types, not with their size times their nesting depth (as indentation
/// would).
pub fn projections_json(projections: &[(String, LocalType)]) -> Result<String, serde_json::Error> {
    #[derive(serde::Serialize)]
    struct Entry<'a> {
        role: &'a str,
        local: &'a LocalType,
    }
    let mut out = String::from("[");
    for (i, (role, local)) in projections.iter().enumerate() {
        out.push_str(if i == 0 { "\n" } else { ",\n" });
        out.push_str(&serde_json::to_string(&Entry { role, local })?);
    }
    out.push_str("\n]");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::Payload;

    /// A role sending `n` messages in a row, nested `n` deep.
    fn chain(n: usize) -> LocalType {
        (0..n).fold(LocalType::End, |cont, i| LocalType::Send {
            to: "B".into(),
            branches: vec![branch(&format!("M{i}"), Some("Int"), cont)],
        })
    }

    #[test]
    fn json_grows_linearly_with_nesting() {
        // Deep types need a deep stack to build, print and drop.
        let lens = std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn(|| {
                [500, 5_000].map(|n| {
                    let json = projections_json(&[("A".to_owned(), chain(n))]).unwrap();
                    json.len()
                })
            })
            .unwrap()
            .join()
            .unwrap();
        assert!(lens[1] <= lens[0] * 12, "10x messages: {} bytes against {}", lens[1], lens[0]);
        assert!(lens[1] < 100 * 5_000, "{}", lens[1]);
    }

    #[test]
    fn json_is_one_compact_entry_per_role() {
        let json = projections_json(&[("A".to_owned(), chain(1)), ("B".to_owned(), LocalType::End)]).unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value[1]["role"], "B");
        assert_eq!(json.lines().count(), 4, "{json}");
    }

    fn branch(label: &str, ty: Option<&str>, cont: LocalType) -> Branch {
        Branch {
            label: label.into(),
            payload: ty.map(|t| Payload { name: None, ty: t.into(), refinement: None }).into_iter().collect(),
            cont,
        }
    }

    #[test]
    fn scribble_like_layout() {
        let ty = LocalType::Send {
            to: "S".into(),
            branches: vec![branch(
                "Title",
                Some("String"),
                LocalType::Mu {
                    var: "L".into(),
                    body: Box::new(LocalType::Recv {
                        from: "S".into(),
                        branches: vec![
                            branch("More", Some("Int"), LocalType::Var { var: "L".into() }),
                            branch("Done", None, LocalType::End),
                        ],
                    }),
                },
            )],
        };
        let expected = "\
Title(String) to S;
rec L {
  choice at S {
    More(Int) from S;
    continue L;
  } or {
    Done() from S;
  }
}
";
        assert_eq!(pretty(&ty), expected);
        assert!(pretty_local("P", "B", &ty).starts_with("local protocol P_B at B {\n  Title(String) to S;\n"));
        assert_eq!(pretty(&LocalType::End), "end;\n");
    }

    #[test]
    fn json_names_roles_and_kinds() {
        let json = projections_json(&[("A".into(), LocalType::End)]).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v[0]["role"], "A");
        assert_eq!(v[0]["local"]["kind"], "End");
    }
}
