//! Graphviz printer: a local type as a communicating state machine
//! (`canon project --format dot`), in the style of nuscr and rumpsteak.
//!
//! States are numbered from 0 in the order they are reached; state 0 is the
//! initial state and is declared first. Edges are labelled `Peer!Label(T)`
//! (send) and `Peer?Label(T)` (receive); a recursion variable is a back edge
//! to its binder's state; `end` is a final (double-circled) state.

use std::fmt::Write as _;

use crate::local::{Branch, LocalType};

/// One role's state machine as a complete `digraph`.
pub fn dot(role: &str, ty: &LocalType) -> String {
    let mut out = format!("digraph \"{}\" {{\n  rankdir=LR;\n  node [shape=circle];\n", escape(role));
    StateMachine::of(ty).write(&mut out, "", "  ");
    out.push_str("}\n");
    out
}

/// Every role's state machine in one `digraph`, one cluster per role; state
/// names are prefixed with the role (`"Buyer1:0"`).
pub fn dot_all(protocol: &str, projections: &[(String, LocalType)]) -> String {
    let mut out = format!("digraph \"{}\" {{\n  rankdir=LR;\n  node [shape=circle];\n", escape(protocol));
    for (i, (role, ty)) in projections.iter().enumerate() {
        let _ = writeln!(out, "  subgraph \"cluster_{i}\" {{\n    label=\"{}\";", escape(role));
        StateMachine::of(ty).write(&mut out, &format!("{role}:"), "    ");
        out.push_str("  }\n");
    }
    out.push_str("}\n");
    out
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// States (`true` = final) and labelled edges.
#[derive(Default)]
struct StateMachine {
    finals: Vec<bool>,
    edges: Vec<(usize, usize, String)>,
    shared_end: Option<usize>,
}

impl StateMachine {
    fn of(ty: &LocalType) -> StateMachine {
        let mut m = StateMachine::default();
        m.build(ty, &mut Vec::new(), None);
        // Edges listed by source state, in the order they were found.
        m.edges.sort_by_key(|e| e.0);
        m
    }

    fn state(&mut self) -> usize {
        self.finals.push(false);
        self.finals.len() - 1
    }

    /// Adds the states of `ty` and returns its entry state. `at`, if set, is
    /// the state already reserved for it (a `mu` binder's).
    fn build(&mut self, ty: &LocalType, env: &mut Vec<(String, usize)>, at: Option<usize>) -> usize {
        match ty {
            LocalType::End => match at {
                Some(s) => {
                    self.finals[s] = true;
                    s
                }
                None => *self.shared_end.get_or_insert_with(|| {
                    self.finals.push(true);
                    self.finals.len() - 1
                }),
            },
            LocalType::Send { to: peer, branches } | LocalType::Recv { from: peer, branches } => {
                let op = if matches!(ty, LocalType::Send { .. }) { '!' } else { '?' };
                let s = at.unwrap_or_else(|| self.state());
                for b in branches {
                    let t = self.build(&b.cont, env, None);
                    self.edges.push((s, t, edge_label(peer, op, b)));
                }
                s
            }
            LocalType::Mu { var, body } => {
                let s = at.unwrap_or_else(|| self.state());
                env.push((var.clone(), s));
                self.build(body, env, Some(s));
                env.pop();
                s
            }
            LocalType::Var { var } => {
                let target = env.iter().rev().find(|(v, _)| v == var).map(|(_, s)| *s);
                let target = target.unwrap_or_else(|| self.state());
                match at {
                    // `mu X. Y` (unguarded): a silent edge.
                    Some(s) => {
                        self.edges.push((s, target, "τ".to_owned()));
                        s
                    }
                    None => target,
                }
            }
        }
    }

    fn write(&self, out: &mut String, prefix: &str, indent: &str) {
        let prefix = escape(prefix);
        for (s, is_final) in self.finals.iter().enumerate() {
            let shape = if *is_final { ", shape=doublecircle" } else { "" };
            let _ = writeln!(out, "{indent}\"{prefix}{s}\" [label=\"{s}\"{shape}];");
        }
        for (from, to, label) in &self.edges {
            let _ = writeln!(out, "{indent}\"{prefix}{from}\" -> \"{prefix}{to}\" [label=\"{}\"];", escape(label));
        }
    }
}

fn edge_label(peer: &str, op: char, b: &Branch) -> String {
    let mut s = format!("{peer}{op}{}(", b.label);
    for (i, p) in b.payload.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{p}");
    }
    s.push(')');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::Payload;

    fn branch(label: &str, cont: LocalType) -> Branch {
        Branch { label: label.into(), payload: vec![Payload { name: None, ty: "Int".into(), refinement: None }], cont }
    }

    #[test]
    fn loop_with_exit_is_a_back_edge_and_a_final_state() {
        let ty = LocalType::Mu {
            var: "X".into(),
            body: Box::new(LocalType::Send {
                to: "B".into(),
                branches: vec![
                    branch(
                        "Ping",
                        LocalType::Recv {
                            from: "B".into(),
                            branches: vec![branch("Pong", LocalType::Var { var: "X".into() })],
                        },
                    ),
                    branch("Stop", LocalType::End),
                ],
            }),
        };
        let expected = "\
digraph \"A\" {
  rankdir=LR;
  node [shape=circle];
  \"0\" [label=\"0\"];
  \"1\" [label=\"1\"];
  \"2\" [label=\"2\", shape=doublecircle];
  \"0\" -> \"1\" [label=\"B!Ping(Int)\"];
  \"0\" -> \"2\" [label=\"B!Stop(Int)\"];
  \"1\" -> \"0\" [label=\"B?Pong(Int)\"];
}
";
        assert_eq!(dot("A", &ty), expected);
    }

    #[test]
    fn end_alone_is_one_final_initial_state_and_clusters_prefix_states() {
        assert!(dot("A", &LocalType::End).contains("\"0\" [label=\"0\", shape=doublecircle];"));
        let all = dot_all("P", &[("A".into(), LocalType::End), ("B".into(), LocalType::End)]);
        assert!(all.contains("subgraph \"cluster_1\" {\n    label=\"B\";\n    \"B:0\""));
    }
}
