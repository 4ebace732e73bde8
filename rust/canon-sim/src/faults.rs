//! The faults a simulation injects, by name.

use canon_machine::Injection;

/// One kind of injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// Transport: a message delivered twice.
    Duplicate,
    /// Transport: a message held back behind the next one on its edge.
    Reorder,
    /// Transport: a message lost.
    Drop,
    /// Transport: a payload altered after signing.
    CorruptPayload,
    /// Transport: a signature bit flipped.
    CorruptSignature,
    /// Handler error: a delivery rejected by the host (`accept` false).
    Reject,
    /// Handler error: a payload of the wrong kind or arity from `produce`.
    BadValue,
    /// Handler error: a branch index out of range from `choose`.
    BadChoice,
    /// Handler error: an endpoint value from `invoke` (forged capability).
    Forge,
    /// A group's round budget cut short at a random round, as a timeout of
    /// the whole instance (a cancelled run).
    Cut,
    /// A host handler panics (on the simulator's thread, the cooperative
    /// runner's, or a threaded runner's worker): the run stops with a typed
    /// error and is recovered from the last checkpoint.
    Panic,
    /// The machine is saved to a checkpoint file at random rounds and
    /// restored from it, and the run continues on the restored machine.
    Checkpoint,
    /// The host-side owner of an instance's session dies at a random round
    /// (`OwnerDied`, 4011).
    OwnerDeath,
    /// An instance's session is cancelled at a random round (a staged
    /// ownership transfer abandoned).
    Cancel,
}

impl FaultKind {
    /// Every kind, in the order `--faults` lists them.
    pub const ALL: [FaultKind; 14] = [
        FaultKind::Duplicate,
        FaultKind::Reorder,
        FaultKind::Drop,
        FaultKind::CorruptPayload,
        FaultKind::CorruptSignature,
        FaultKind::Reject,
        FaultKind::BadValue,
        FaultKind::BadChoice,
        FaultKind::Forge,
        FaultKind::Cut,
        FaultKind::Panic,
        FaultKind::Checkpoint,
        FaultKind::OwnerDeath,
        FaultKind::Cancel,
    ];

    /// The kebab-case name (transport kinds as `canon run --inject` spells them).
    pub fn name(self) -> &'static str {
        match self.injection() {
            Some(i) => i.name(),
            None => match self {
                FaultKind::Reject => "reject",
                FaultKind::BadValue => "bad-value",
                FaultKind::BadChoice => "bad-choice",
                FaultKind::Forge => "forge",
                FaultKind::Panic => "panic",
                FaultKind::Checkpoint => "checkpoint",
                FaultKind::OwnerDeath => "owner-death",
                FaultKind::Cancel => "cancel",
                _ => "cut",
            },
        }
    }

    /// The transport injection this kind is, if it is one.
    pub fn injection(self) -> Option<Injection> {
        match self {
            FaultKind::Duplicate => Some(Injection::Duplicate),
            FaultKind::Reorder => Some(Injection::Reorder),
            FaultKind::Drop => Some(Injection::Drop),
            FaultKind::CorruptPayload => Some(Injection::CorruptPayload),
            FaultKind::CorruptSignature => Some(Injection::CorruptSignature),
            _ => None,
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of fault kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FaultSet(u16);

impl FaultSet {
    /// Every kind.
    pub fn all() -> FaultSet {
        FaultSet(FaultKind::ALL.iter().fold(0, |acc, k| acc | k.bit()))
    }

    /// No kind.
    pub fn none() -> FaultSet {
        FaultSet(0)
    }

    /// Whether `k` is in the set.
    pub fn contains(self, k: FaultKind) -> bool {
        self.0 & k.bit() != 0
    }

    /// The set with `k` added.
    pub fn with(self, k: FaultKind) -> FaultSet {
        FaultSet(self.0 | k.bit())
    }

    /// The transport injections in the set.
    pub fn injections(self) -> Vec<Injection> {
        FaultKind::ALL.iter().filter(|k| self.contains(**k)).filter_map(|k| k.injection()).collect()
    }

    /// Parses `all`, `none`, or a comma-separated list of names.
    pub fn parse(s: &str) -> Result<FaultSet, String> {
        match s {
            "all" => return Ok(FaultSet::all()),
            "none" => return Ok(FaultSet::none()),
            _ => {}
        }
        s.split(',').map(str::trim).try_fold(FaultSet::none(), |set, name| {
            let kind = FaultKind::ALL.into_iter().find(|k| k.name() == name).ok_or_else(|| {
                let names: Vec<&str> = FaultKind::ALL.iter().map(|k| k.name()).collect();
                format!("unknown fault `{name}` (one of all, none, {})", names.join(", "))
            })?;
            Ok(set.with(kind))
        })
    }

    /// The set as `parse` reads it back.
    pub fn to_arg(self) -> String {
        if self == FaultSet::all() {
            return "all".to_owned();
        }
        if self == FaultSet::none() {
            return "none".to_owned();
        }
        FaultKind::ALL.iter().filter(|k| self.contains(**k)).map(|k| k.name()).collect::<Vec<_>>().join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(FaultSet::parse("all"), Ok(FaultSet::all()));
        for k in FaultKind::ALL {
            let set = FaultSet::none().with(k);
            assert_eq!(FaultSet::parse(&set.to_arg()), Ok(set));
        }
        let two = FaultSet::parse("drop,reject").expect("two names");
        assert!(two.contains(FaultKind::Drop) && two.contains(FaultKind::Reject) && !two.contains(FaultKind::Reorder));
        assert_eq!(FaultSet::parse(&two.to_arg()), Ok(two));
        assert!(FaultSet::parse("lose").is_err());
    }
}
