//! `canon keygen` and where `canon run` finds its signing-key seed.
//!
//! Endpoint signing keys derive from a secret key seed that no replay
//! contains. `canon run` takes it from `--key-seed-file FILE`, else from the
//! file named by `CANON_KEY_SEED_FILE`, else from the per-user default
//! (`$XDG_CONFIG_HOME/canon/key-seed`, or `$HOME/.config/canon/key-seed`),
//! which it creates on first use and says so. Runs with `--auth none` need
//! no key.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use canon_machine::{Auth, KeySeed, KeySource};
use clap::Args;

use crate::exit;
use crate::out::Out;

/// The environment variable naming a key-seed file.
pub const KEY_SEED_ENV: &str = "CANON_KEY_SEED_FILE";

#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// Where to write the new key seed (refused if the file exists, unless --force); with
    /// --verifying-keys-of, where to write the key list (default: standard output).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
    /// Instead of a new seed: list the endpoint verifying keys this key-seed file gives, for
    /// `replay verify --trusted-keys` (sessions `instance << 32 | open` × roles).
    #[arg(long, value_name = "KEY_SEED_FILE")]
    pub verifying_keys_of: Option<PathBuf>,
    /// Instances (`run --sessions`) to list keys for.
    #[arg(long, default_value_t = 1, requires = "verifying_keys_of")]
    pub instances: u32,
    /// Sessions each instance opens.
    #[arg(long, default_value_t = 1, requires = "verifying_keys_of")]
    pub opens: u32,
    /// Roles per session.
    #[arg(long, default_value_t = 8, requires = "verifying_keys_of")]
    pub roles: u16,
}

/// Most keys `--verifying-keys-of` lists (instances × opens × roles).
pub const MAX_LISTED_KEYS: u64 = 1 << 20;

/// `canon keygen -o FILE`: writes a fresh random key seed (mode 0600 on Unix).
/// `canon keygen --verifying-keys-of FILE`: lists the verifying keys it gives.
pub fn keygen(args: &KeygenArgs, out: &mut Out) -> Result<u8> {
    if let Some(seed_file) = &args.verifying_keys_of {
        return verifying_keys(args, seed_file, out);
    }
    let Some(output) = &args.output else {
        bail!("keygen needs -o FILE (where to write the new key seed)");
    };
    let seed = fresh_seed()?;
    write_secret(output, &seed.to_text(), args.force)?;
    writeln!(
        out,
        "wrote a new key seed to {} (keep it secret: endpoint signing keys derive from it)",
        output.display()
    )?;
    Ok(exit::OK)
}

fn verifying_keys(args: &KeygenArgs, seed_file: &Path, out: &mut Out) -> Result<u8> {
    let count = u64::from(args.instances) * u64::from(args.opens) * u64::from(args.roles);
    if count > MAX_LISTED_KEYS {
        bail!("{count} keys requested; at most {MAX_LISTED_KEYS} (lower --instances, --opens or --roles)");
    }
    let seed = read_key_seed(seed_file)?;
    let mut text = format!(
        "# endpoint verifying keys of the key seed {}
",
        seed_file.display()
    );
    for instance in 0..args.instances {
        for open in 0..args.opens {
            let sid = u64::from(instance) << 32 | u64::from(open);
            text.push_str(&format!(
                "# session {sid:#x}
"
            ));
            for role in 0..args.roles {
                text.push_str(&canon_types::hex(&seed.endpoint_key(sid, role).verifying_bytes()));
                text.push('\n');
            }
        }
    }
    match &args.output {
        Some(path) => crate::files::write_atomic(path, text.as_bytes())?,
        None => out.text(&text)?,
    }
    Ok(exit::OK)
}

/// A key seed from the operating system's random source.
fn fresh_seed() -> Result<KeySeed> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no random source for a key seed: {e}"))?;
    Ok(KeySeed::from_bytes(bytes))
}

/// Writes `text` to a new file only the user can read.
fn write_secret(path: &Path, text: &str, overwrite: bool) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if overwrite {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).with_context(|| {
        if path.exists() && !overwrite {
            format!("{} exists; pass --force to overwrite it", path.display())
        } else {
            format!("cannot create {}", path.display())
        }
    })?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Largest key-seed file read (one key line and comments).
pub const MAX_KEY_SEED_FILE_BYTES: u64 = 64 * 1024;

/// Reads and parses a key-seed file (at most [`MAX_KEY_SEED_FILE_BYTES`]).
pub fn read_key_seed(path: &Path) -> Result<KeySeed> {
    use std::io::Read;
    let file = std::fs::File::open(path).with_context(|| format!("cannot read key seed {}", path.display()))?;
    let mut text = String::new();
    file.take(MAX_KEY_SEED_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read key seed {}", path.display()))?;
    if text.len() as u64 > MAX_KEY_SEED_FILE_BYTES {
        bail!("{} is larger than {MAX_KEY_SEED_FILE_BYTES} bytes: not a key-seed file", path.display());
    }
    KeySeed::parse(&text).with_context(|| format!("{} is not a canon key-seed file", path.display()))
}

/// The per-user default key-seed file.
pub fn default_key_seed_path() -> Option<PathBuf> {
    let nonempty = |v: std::ffi::OsString| (!v.is_empty()).then(|| PathBuf::from(v));
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").and_then(nonempty) {
        return Some(dir.join("canon").join("key-seed"));
    }
    std::env::var_os("HOME").and_then(nonempty).map(|home| home.join(".config").join("canon").join("key-seed"))
}

/// Where a run's keys came from, for the summary.
#[derive(Debug, Clone)]
pub enum KeyOrigin {
    /// `--auth none`: no keys.
    Unsigned,
    File(PathBuf),
}

/// The key source of a `canon run`: see the module documentation for the order.
pub fn run_key_source(flag: Option<&Path>, auth: Auth) -> Result<(KeySource, KeyOrigin)> {
    if auth == Auth::None && flag.is_none() {
        return Ok((KeySource::None, KeyOrigin::Unsigned));
    }
    let path = match (flag, std::env::var_os(KEY_SEED_ENV).filter(|v| !v.is_empty())) {
        (Some(p), _) => p.to_path_buf(),
        (None, Some(env)) => PathBuf::from(env),
        (None, None) => {
            let Some(path) = default_key_seed_path() else {
                bail!("no key seed: pass --key-seed-file FILE (make one with `canon keygen -o FILE`) or set HOME");
            };
            if !path.exists() {
                create_default(&path)?;
            }
            path
        }
    };
    let seed = read_key_seed(&path)?;
    Ok((KeySource::Seed(seed), KeyOrigin::File(path)))
}

/// Creates the per-user key seed on first use, and says so on stderr.
fn create_default(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let seed = fresh_seed()?;
    match write_secret(path, &seed.to_text(), false) {
        Ok(()) => {
            crate::out::stderrln!(
                "canon: created a new signing key seed at {} (endpoint keys derive from it; keep it secret, \
                 and keep it to reproduce signed runs)",
                path.display()
            );
            Ok(())
        }
        // Another process created it between the check and the create: use theirs.
        Err(_) if path.exists() => Ok(()),
        Err(e) => Err(e),
    }
}
