//! docs/cli-reference.md is generated from the command-line definitions:
//! every command's and subcommand's `--help`, as clap renders it from the
//! `clap::Command` tree, walked through the `Commands:` lists. The committed
//! file must match; `CANON_BLESS=1 cargo test -p canon-cli --test
//! cli_reference` rewrites it (review the diff).

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
