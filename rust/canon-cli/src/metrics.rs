//! `--metrics json|prometheus[=FILE]` of `canon run` and `canon resume`: the
//! run's [`canon_runtime::Metrics`], from its group reports and its replay
//! read back once the run ended, printed after the summary or written to
//! FILE atomically.

use std::io::Seek;
use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};
use canon_runtime::{Metrics, MetricsCollector};

use crate::out::Out;

/// The format of `--metrics`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricsFormat {
    /// One JSON object.
    Json,
    /// The Prometheus text exposition format.
    Prometheus,
}

/// `--metrics FORMAT[=FILE]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsArg {
    pub format: MetricsFormat,
    /// Where to write them; `None` prints them after the summary.
    pub file: Option<PathBuf>,
}

pub(crate) fn parse_metrics(s: &str) -> Result<MetricsArg, String> {
    let (format, file) = match s.split_once('=') {
        Some((f, path)) if !path.is_empty() => (f, Some(PathBuf::from(path))),
        Some(_) => return Err("FILE is empty: give json=FILE or prometheus=FILE, or no `=`".to_owned()),
        None => (s, None),
    };
    let format = match format {
        "json" => MetricsFormat::Json,
        "prometheus" => MetricsFormat::Prometheus,
        other => return Err(format!("unknown metrics format `{other}` (json or prometheus)")),
    };
    Ok(MetricsArg { format, file })
}

impl MetricsArg {
    /// Refuses a combination that would break `--json`'s one JSON object.
    pub fn check_with_json(&self, json: bool) -> Result<()> {
        if json && self.file.is_none() && self.format == MetricsFormat::Prometheus {
            bail!("--json prints one JSON object: write the Prometheus text to a file (--metrics prometheus=FILE)");
        }
        Ok(())
    }

    /// Whether the metrics go into the `--json` object (as `metrics`).
    pub fn in_json_object(&self, json: bool) -> bool {
        json && self.file.is_none()
    }

    /// The metrics as text in this format.
    pub fn render(&self, metrics: &Metrics) -> String {
        match self.format {
            MetricsFormat::Json => {
                let mut s = serde_json::to_string(metrics).expect("metrics serialise");
                s.push('\n');
                s
            }
            MetricsFormat::Prometheus => metrics.encode_prometheus(),
        }
    }

    /// Writes the metrics to the file (atomically), or prints them.
    pub fn emit(&self, metrics: &Metrics, out: &mut Out) -> Result<()> {
        let text = self.render(metrics);
        match &self.file {
            Some(path) => crate::files::write_atomic(path, text.as_bytes()),
            None => Ok(out.text(&text)?),
        }
    }
}

/// Finishes `collector` (the group reports already in) with the replay in
/// `replay`, read from its start.
pub fn with_replay(mut collector: MetricsCollector, mut replay: std::fs::File) -> Result<Metrics> {
    replay.rewind()?;
    collector
        .read_replay(std::io::BufReader::with_capacity(1 << 16, replay))
        .map_err(|e| anyhow!("computing the metrics: reading back the replay: {e}"))?;
    Ok(collector.finish())
}
