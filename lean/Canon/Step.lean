/-
  canon: the session store and the step relation for send/recv/close
  (model of `canon_machine`'s `step`). Not machine-checked in CI: see
  lean/README.md.

  The model abstracts the round barrier: a message sent is appended to the
  edge buffer; the Rust machine additionally delays its visibility to the next
  round, which only restricts *when* a `recv` may fire, never *what* it
  receives (FIFO per directed edge).
-/
import Canon.LocalType

namespace Canon

structure Message where
  label : Label
  payload : List Nat   -- canonical payload bytes, abstracted
  deriving DecidableEq

inductive Status where
  | active | closed | cancelled | faulted
  deriving DecidableEq

structure Session where
  roles : List Role
  types : Role → LocalType          -- current local type per endpoint
  buffers : Role → Role → List Message  -- one FIFO per directed edge
  closed : Role → Bool             -- endpoints that executed `close`
  status : Status
  epoch : Nat

inductive Fault where
  | typeMismatch | sessionNotActive | unexpectedLabel

/-- Fuel for unfolding; verified types are guarded, so a small bound suffices. -/
def unfoldFuel : Nat := 64

/-- The step relation: `Step s r a s'` — role `r` performs action `a` on
    session `s`, giving `s'`. Every rule checks the endpoint's local type
    first; there is no rule for a mismatch (the machine raises a fault). -/
inductive Step : Session → Role → Action → Session → Prop where
  | send {s r to l p t'} :
      s.status = .active →
      advance unfoldFuel (s.types r) (.send to l) = some t' →
      Step s r (.send to l)
        { s with
          types := Function.update s.types r t',
          buffers := fun a b => if a = r ∧ b = to then s.buffers a b ++ [⟨l, p⟩] else s.buffers a b }
  | recv {s r frm l p rest t'} :
      s.status = .active →
      s.buffers frm r = ⟨l, p⟩ :: rest →
      advance unfoldFuel (s.types r) (.recv frm l) = some t' →
      Step s r (.recv frm l)
        { s with
          types := Function.update s.types r t',
          buffers := fun a b => if a = frm ∧ b = r then rest else s.buffers a b }
  /-- Closing one endpoint; not the last one open. -/
  | closeEndpoint {s r} :
      s.status = .active →
      advance unfoldFuel (s.types r) .close = some .end →
      (s.roles.any fun q => q ≠ r ∧ !s.closed q) →
      Step s r .close { s with closed := Function.update s.closed r true }
  /-- Closing the last open endpoint closes the session: buffers cleared,
      epoch advanced (events `Closed → SessionTerminal{Closed} → EpochAdvanced`). -/
  | closeSession {s r} :
      s.status = .active →
      advance unfoldFuel (s.types r) .close = some .end →
      (s.roles.all fun q => q = r ∨ s.closed q) →
      Step s r .close
        { s with closed := Function.update s.closed r true, status := .closed,
                 buffers := fun _ _ => [], epoch := s.epoch + 1 }

/-- Determinism: the same role performing the same action on the same session
    has exactly one successor. (Proof sketch: every rule is determined by its
    premises; `advance` is a function.) -/
theorem step_deterministic {s r a s₁ s₂} (h₁ : Step s r a s₁) (h₂ : Step s r a s₂) : s₁ = s₂ := by
  sorry

end Canon
