//! The verifier's module-wide work budget and the sorted label index that
//! keeps every label lookup logarithmic.
//!
//! Every pass adds the steps it takes to one [`Work`] counter for the whole
//! module; a module whose verification would take more than
//! [`MAX_VERIFY_WORK`] steps is refused (`TooComplex`) instead of verified
//! slowly. The passes themselves are O(n log n) in the module's size, except
//! where work depends on how code and types combine (the typestate walk, the
//! peer walk of each `open`, type equivalence at calls): those are what the
//! budget bounds.

use std::cell::Cell;

use canon_types::{FlatBranch, SymId, TypeGraph, TypeId, TypeNode};

pub use canon_types::graph::sort_cost;

use super::error::{Site, VerifyError};

/// Most steps spent verifying one module (every pass, every procedure).
pub const MAX_VERIFY_WORK: u64 = 1 << 26;

/// The steps spent so far on one module.
#[derive(Debug)]
pub(super) struct Work {
    spent: Cell<u64>,
    limit: u64,
}

impl Work {
    pub(super) fn new(limit: u64) -> Work {
        Work { spent: Cell::new(0), limit }
    }

    pub(super) fn spent(&self) -> u64 {
        self.spent.get()
    }

    /// Adds `n` steps without checking the limit (for passes bounded by the
    /// input's size, checked at the next [`Work::spend`]).
    pub(super) fn add(&self, n: u64) {
        self.spent.set(self.spent.get().saturating_add(n));
    }

    /// Adds `n` steps; `TooComplex` at `at()` if the module's total passes the limit.
    pub(super) fn spend(&self, n: u64, at: impl FnOnce() -> Site) -> Result<(), VerifyError> {
        self.add(n);
        if self.spent.get() > self.limit {
            return Err(VerifyError::TooComplex { at: at(), cost: self.spent.get(), limit: self.limit });
        }
        Ok(())
    }
}

/// For every `Send`/`Recv` node, its branches' positions sorted by label, so
/// a label is found by binary search.
#[derive(Debug)]
pub(super) struct LabelIndex {
    /// Node id → start of its run in `sorted` (`starts[t]..starts[t + 1]`).
    starts: Vec<u32>,
    /// (label, branch position) pairs, sorted by label within each node's run.
    sorted: Vec<(SymId, u32)>,
}

impl LabelIndex {
    pub(super) fn new(graph: &TypeGraph, work: &Work) -> LabelIndex {
        let mut starts = Vec::with_capacity(graph.nodes.len() + 1);
        let mut sorted = Vec::new();
        for node in &graph.nodes {
            starts.push(sorted.len() as u32);
            if let TypeNode::Send { branches, .. } | TypeNode::Recv { branches, .. } = node {
                let from = sorted.len();
                sorted.extend(branches.iter().enumerate().map(|(i, b)| (b.label, i as u32)));
                sorted[from..].sort_unstable();
                work.add(1 + sort_cost(branches.len()));
            }
        }
        starts.push(sorted.len() as u32);
        LabelIndex { starts, sorted }
    }

    /// The branch of node `t` (a `Send`/`Recv` with `branches`) labelled `label`.
    pub(super) fn find<'g>(&self, t: TypeId, branches: &'g [FlatBranch], label: SymId) -> Option<&'g FlatBranch> {
        let run = &self.sorted[self.starts[t.0 as usize] as usize..self.starts[t.0 as usize + 1] as usize];
        let at = run.binary_search_by_key(&label, |&(l, _)| l).ok()?;
        branches.get(run[at].1 as usize)
    }

    /// The cost counted for one [`LabelIndex::find`] among `n` branches.
    pub(super) fn find_cost(n: usize) -> u64 {
        1 + u64::from(usize::BITS - n.leading_zeros())
    }
}
