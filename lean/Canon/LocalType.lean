/-
  canon: local session types (model of `canon_types::LocalType`).
  Not machine-checked in CI: see lean/README.md.
-/
namespace Canon

abbrev Role := String
abbrev Label := String
abbrev TypeName := String

mutual
  /-- A local type: one role's view of a protocol. -/
  inductive LocalType where
    | «end» : LocalType
    | send (to : Role) (branches : List Branch) : LocalType
    | recv (frm : Role) (branches : List Branch) : LocalType
    | mu (var : String) (body : LocalType) : LocalType
    | var (name : String) : LocalType

  /-- A labelled branch with its payload type names and continuation. -/
  inductive Branch where
    | mk (label : Label) (payload : List TypeName) (cont : LocalType) : Branch
end

/-- Substitution of `t` for free occurrences of variable `x`. -/
partial def LocalType.subst (x : String) (t : LocalType) : LocalType → LocalType
  | .end => .end
  | .send to bs => .send to (bs.map fun (.mk l p c) => .mk l p (LocalType.subst x t c))
  | .recv f bs => .recv f (bs.map fun (.mk l p c) => .mk l p (LocalType.subst x t c))
  | .mu y body => if y = x then .mu y body else .mu y (LocalType.subst x t body)
  | .var y => if y = x then t else .var y

/-- One unfolding step: `μX.T ↦ T[μX.T/X]`. The Rust machine does the same by
    following an index from a `Var` node to its binder (no substitution). -/
def LocalType.unfoldOnce : LocalType → LocalType
  | .mu x body => body.subst x (.mu x body)
  | t => t

/-- The action an endpoint attempts. -/
inductive Action where
  | send (to : Role) (label : Label)
  | recv (frm : Role) (label : Label)
  | close

/-- `advance t a = some t'` iff the (unfolded) type `t` allows action `a`,
    and `t'` is the continuation. This is the check every `send`/`recv`/
    `close` of the machine performs. -/
def advance (fuel : Nat) (t : LocalType) (a : Action) : Option LocalType :=
  match fuel with
  | 0 => none
  | fuel + 1 =>
    match t, a with
    | .mu x body, a => advance fuel (body.subst x (.mu x body)) a
    | .send to bs, .send to' l =>
        if to = to' then (bs.find? (fun (.mk l' _ _) => l' = l)).map (fun (.mk _ _ c) => c) else none
    | .recv f bs, .recv f' l =>
        if f = f' then (bs.find? (fun (.mk l' _ _) => l' = l)).map (fun (.mk _ _ c) => c) else none
    | .end, .close => some .end
    | _, _ => none

end Canon
