//! docs/cli-reference.md is generated from the command-line definitions:
//! every command's and subcommand's `--help`, as clap renders it from the
//! `clap::Command` tree, walked through the `Commands:` lists. The committed
//! file must match; `CANON_BLESS=1 cargo test -p canon-cli --test
//! cli_reference` rewrites it (review the diff). The other tables of the
//! docs that restate the binary are held to it too: the exit codes
//! (docs/cli.md, docs/ci.md) and the `--json` fields (docs/cli.md).

mod common;

use common::{canon, listed_subcommands as listed, repo_root};

/// The reference: one section per command, depth first in the order the
/// help lists them.
fn reference() -> String {
    let mut out = String::from(
        "# canon command-line reference\n\n\
         <!-- Generated from the command-line definitions (clap) by\n\
         `CANON_BLESS=1 cargo test -p canon-cli --test cli_reference`; do not edit. -->\n\n\
         Every command's `--help`. [cli.md](cli.md) explains the commands with examples.\n",
    );
    let mut stack = vec![Vec::<String>::new()];
    while let Some(path) = stack.pop() {
        let mut args = path.clone();
        args.push("--help".to_owned());
        let help = canon(&args);
        help.expect_code(0);
        let name = if path.is_empty() { "canon".to_owned() } else { format!("canon {}", path.join(" ")) };
        out.push_str(&format!("\n## `{name}`\n\n```text\n{}\n```\n", help.stdout.trim_end()));
        for sub in listed(&help.stdout).into_iter().rev() {
            let mut next = path.clone();
            next.push(sub);
            stack.push(next);
        }
    }
    out
}

#[test]
fn the_reference_matches_the_command_line() {
    let path = repo_root().join("docs/cli-reference.md");
    let now = reference();
    if std::env::var_os("CANON_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &now).expect("write docs/cli-reference.md");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == now,
        "docs/cli-reference.md is stale: run `CANON_BLESS=1 cargo test -p canon-cli --test cli_reference` and review the diff"
    );
    // Every command has its section.
    for section in ["## `canon run`", "## `canon replay verify`", "## `canon bundle export`", "## `canon completions`"]
    {
        assert!(now.contains(section), "no {section}");
    }
}

#[test]
fn completions_name_every_subcommand_in_every_shell() {
    let top = listed(&canon(&["--help"]).stdout);
    assert!(top.len() >= 10, "{top:?}");
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = canon(&["completions", shell]);
        script.expect_code(0);
        for sub in top.iter().chain(["verify", "audit", "export", "pubkey"].map(str::to_owned).iter()) {
            assert!(script.stdout.contains(sub.as_str()), "{shell} completions lack `{sub}`");
        }
    }
    canon(&["completions", "tcsh"]).expect_code(2);
}

/// The first-column numbers of the table under the heading `## Exit codes`
/// of `doc`.
fn documented_exit_codes(doc: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(common::repo_root().join(doc)).expect("a document");
    let section = text.split("\n## Exit codes\n").nth(1).unwrap_or_else(|| panic!("{doc}: no `## Exit codes`"));
    let section = section.split("\n## ").next().unwrap_or_default();
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter_map(|l| l.split(" |").next()?.trim().parse().ok())
        .collect()
}

/// docs/cli.md's and docs/ci.md's exit-code tables list exactly the codes of
/// the binary's `exit` module, in order.
#[test]
fn the_exit_code_tables_list_every_exit_code() {
    let src = std::fs::read_to_string(common::repo_root().join("rust/canon-cli/src/cli.rs")).expect("cli.rs");
    let module = src.split("pub mod exit {").nth(1).and_then(|m| m.split("\n}").next()).expect("the exit module");
    let codes: Vec<u8> = module
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub const ")?.split("= ").nth(1)?.trim_end_matches(';').parse().ok())
        .collect();
    assert!(codes.len() >= 8 && codes.contains(&6) && codes.contains(&130), "{codes:?}");
    for doc in ["docs/cli.md", "docs/ci.md"] {
        assert_eq!(documented_exit_codes(doc), codes, "{doc}'s exit-code table");
    }
}

/// The top-level field names of docs/cli.md's `--json` table row whose
/// first cell is `command`: the first backticked name of each
/// comma-separated item outside parentheses.
fn documented_json_fields(command: &str) -> std::collections::BTreeSet<String> {
    let text = std::fs::read_to_string(repo_root().join("docs/cli.md")).expect("docs/cli.md");
    let prefix = format!("| {command} | ");
    let row = text.lines().find_map(|l| l.strip_prefix(prefix.as_str())).unwrap_or_else(|| panic!("no row {command}"));
    let (mut items, mut item, mut depth) = (Vec::new(), String::new(), 0i32);
    for c in row.trim_end_matches(" |").chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => items.push(std::mem::take(&mut item)),
            _ => {}
        }
        item.push(c);
    }
    items.push(item);
    items
        .iter()
        .filter_map(|i| i.split('`').nth(1).map(str::to_owned))
        .filter(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .collect()
}

fn json_keys(args: &[&str]) -> std::collections::BTreeSet<String> {
    let o = canon(&args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>());
    let line = o.stdout.lines().next().unwrap_or_else(|| panic!("no output\n{o}"));
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}\n{o}"));
    v.as_object().unwrap_or_else(|| panic!("not an object\n{o}")).keys().cloned().collect()
}

/// Every `--json` object has exactly the top-level fields docs/cli.md lists
/// for it (check of bytecode and of a choreography, run, replay verify).
#[test]
fn json_objects_have_the_documented_fields() {
    let dir = common::temp_dir("json-fields");
    let replay = dir.join("pp.replay").to_string_lossy().into_owned();
    canon(&["run", "fixtures/asm/ping_pong.casm", "-q", "-o", &replay].map(String::from)).expect_code(0);
    let cases: [(&str, &[&str]); 4] = [
        ("`check` (bytecode)", &["check", "fixtures/asm/ping_pong.casm", "--json"]),
        ("`check` (choreography)", &["check", "fixtures/two_buyer.canon", "--json"]),
        ("`run`", &["run", "fixtures/asm/ping_pong.casm", "--json"]),
        ("`replay verify`", &["replay", "verify", &replay, "--json"]),
    ];
    for (row, args) in cases {
        let documented = documented_json_fields(row);
        assert!(documented.len() >= 4, "{row}: {documented:?}");
        assert_eq!(json_keys(args), documented, "{row}: the fields printed and the fields documented");
    }
}
