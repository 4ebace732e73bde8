/-
  canon: global types and projection (model of `canon_types::project`).
  Not machine-checked in CI: see lean/README.md.
-/
import Canon.LocalType

namespace Canon

mutual
  inductive GlobalType where
    | «end» : GlobalType
    | msg (frm to : Role) (label : Label) (payload : List TypeName) (cont : GlobalType) : GlobalType
    /-- `choice at r { g₁ } or { g₂ } …`: each branch starts with a message from `r`. -/
    | choice (at : Role) (branches : List GlobalType) : GlobalType
    | rec (var : String) (body : GlobalType) : GlobalType
    | cont (var : String) : GlobalType
end

/-- Plain merge: third parties must see identical behaviour, or receptions
    from the same peer whose label sets are merged (disjoint labels union,
    shared labels merge their continuations). -/
partial def merge : LocalType → LocalType → Option LocalType
  | .recv f₁ bs₁, .recv f₂ bs₂ =>
      if f₁ = f₂ then
        let shared := bs₂.filter fun (.mk l _ _) => bs₁.any fun (.mk l' _ _) => l' = l
        let onlyTwo := bs₂.filter fun (.mk l _ _) => !(bs₁.any fun (.mk l' _ _) => l' = l)
        let merged? : Option (List Branch) := bs₁.mapM fun (.mk l p c) =>
          match shared.find? (fun (.mk l' _ _) => l' = l) with
          | some (.mk _ _ c') => (merge c c').map (.mk l p)
          | none => some (.mk l p c)
        merged?.map fun bs => .recv f₁ (bs ++ onlyTwo)
      else none
  | t₁, t₂ => if t₁ = t₂ then some t₁ else none

/-- Projection of a global type onto role `r`. -/
partial def project (r : Role) : GlobalType → Option LocalType
  | .end => some .end
  | .msg f t l p k => do
      let k' ← project r k
      if r = f then pure (.send t [.mk l p k'])
      else if r = t then pure (.recv f [.mk l p k'])
      else pure k'
  | .choice at bs => do
      let ps ← bs.mapM (project r)
      if r = at then
        -- the subject's branches are sends to one peer: combine them into one select
        let collect : List Branch := ps.foldr (fun t acc => match t with
          | .send _ [b] => b :: acc
          | _ => acc) []
        match ps.head? with
        | some (.send to _) => pure (.send to collect)
        | _ => none
      else
        match ps with
        | [] => none
        | p :: rest => rest.foldlM merge p
  | .rec x body => do
      let b ← project r body
      -- a recursion the role does not take part in projects to `end`
      if b = .var x then pure .end else pure (.mu x b)
  | .cont x => some (.var x)

/-- Sanity property: projecting `end` gives `end` for every role. -/
theorem project_end (r : Role) : project r .end = some .end := by
  simp [project]

end Canon
