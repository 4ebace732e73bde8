//! Resolving symbol ids and role indices to names while walking a replay.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use canon_machine::event::{Event, EventKind, EventSite};
use canon_types::{SymId, Value};

/// The names in scope at one point of a replay: the string table, and the
/// role lists of the sessions the current group has opened so far (sessions
/// belong to one group, so the lists are dropped when the group changes and
/// memory does not grow with the run).
pub(crate) struct Names<'a> {
    strings: &'a [String],
    sessions: BTreeMap<u64, Vec<SymId>>,
    group: Option<u32>,
}

impl<'a> Names<'a> {
    pub fn new(strings: &'a [String]) -> Self {
        Names { strings, sessions: BTreeMap::new(), group: None }
    }

    /// Moves to `ev`'s group, and records the role list of a session when
    /// `ev` opens one.
    pub fn observe(&mut self, ev: &Event) {
        if self.group != Some(ev.site.group) {
            self.group = Some(ev.site.group);
            self.sessions.clear();
        }
        if let EventKind::Opened { roles, .. } = &ev.kind {
            self.sessions.insert(ev.site.sid, roles.clone());
        }
    }

    /// The string `id` names, if the table has it.
    pub fn lookup(&self, id: SymId) -> Option<&'a str> {
        self.strings.get(id.0 as usize).map(String::as_str)
    }

    /// The name of `id`, or `#id` when it is outside the table.
    pub fn sym(&self, id: SymId) -> String {
        self.lookup(id).map_or_else(|| format!("#{}", id.0), str::to_owned)
    }

    /// The name of role index `role` of session `sid`, if known.
    pub fn role_name(&self, sid: u64, role: u16) -> Option<&'a str> {
        let roles = self.sessions.get(&sid)?;
        roles.get(usize::from(role)).and_then(|r| self.lookup(*r))
    }

    /// The name of role index `role` of session `sid`, or `r{role}`.
    pub fn role(&self, sid: u64, role: u16) -> String {
        self.role_name(sid, role).map_or_else(|| format!("r{role}"), str::to_owned)
    }

    /// `value` in the text view: like `Display`, with labels resolved.
    pub fn value(&self, value: &Value) -> String {
        let mut out = String::new();
        self.write_value(&mut out, value);
        out
    }

    fn write_value(&self, out: &mut String, value: &Value) {
        match value {
            Value::Label(id) => out.push_str(&self.sym(*id)),
            Value::Tuple(items) => {
                out.push('(');
                self.write_items(out, items);
                out.push(')');
            }
            other => {
                let _ = write!(out, "{other}");
            }
        }
    }

    fn write_items(&self, out: &mut String, items: &[Value]) {
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            self.write_value(out, item);
        }
    }

    /// A message as `Label(args)`: a unit payload prints no argument, a tuple
    /// prints its items.
    pub fn message(&self, label: SymId, payload: &Value) -> String {
        let mut out = self.sym(label);
        out.push('(');
        match payload {
            Value::Unit => {}
            Value::Tuple(items) => self.write_items(&mut out, items),
            other => self.write_value(&mut out, other),
        }
        out.push(')');
        out
    }
}

/// A session id as text: `s{n}` when it is the group's `n`-th session
/// (`sid = group << 32 | n`), else `s#{sid}`.
pub(crate) fn sid_text(site: &EventSite) -> String {
    if site.sid >> 32 == u64::from(site.group) {
        format!("s{}", site.sid & 0xffff_ffff)
    } else {
        format!("s#{}", site.sid)
    }
}

/// Lower-case hex of `bytes`.
pub(crate) use canon_types::hex;
