//! A worker's counters, in the Prometheus text format: served on a loopback
//! `/metrics` endpoint (`canon worker --metrics-addr 127.0.0.1:PORT`) and
//! printed when the worker stops.

use std::net::SocketAddr;
use std::sync::Arc;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::wire::BatchSummary;

/// Largest request head the endpoint reads.
const MAX_REQUEST_BYTES: usize = 8 * 1024;

/// The counters of one worker.
#[derive(Clone)]
pub struct Metrics {
    /// Batches finished and stored.
    pub batches: Counter,
    /// Groups run.
    pub groups: Counter,
    /// Sessions run.
    pub sessions: Counter,
    /// Rounds run, summed over groups.
    pub rounds: Counter,
    /// Result payload bytes stored.
    pub bytes: Counter,
    /// Batches found already finished with an identical result.
    pub duplicates: Counter,
    /// Runs refused (for example a program whose digest does not match).
    pub refused: Counter,
    /// Checkpoints of long batches stored.
    pub checkpoints: Counter,
    /// Batches resumed from a stored checkpoint.
    pub resumed: Counter,
    registry: Arc<Registry>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Zeroed counters, registered under the `canon_worker` prefix.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("canon_worker");
        let (batches, groups, sessions, rounds, bytes, duplicates, refused) = Default::default();
        let (checkpoints, resumed) = Default::default();
        registry.register("batches", "Batches run and stored", Clone::clone(&batches));
        registry.register("groups", "Groups (instances) run", Clone::clone(&groups));
        registry.register("sessions", "Sessions opened", Clone::clone(&sessions));
        registry.register("rounds", "Rounds run, over all groups", Clone::clone(&rounds));
        registry.register("bytes", "Result bytes stored", Clone::clone(&bytes));
        registry.register("duplicates", "Batches finished again with the same result", Clone::clone(&duplicates));
        registry.register("refused", "Work items refused (program, keys or machine mismatch)", Clone::clone(&refused));
        registry.register("checkpoints", "Checkpoints of long batches stored", Clone::clone(&checkpoints));
        registry.register("resumed", "Batches resumed from a checkpoint", Clone::clone(&resumed));
        Metrics {
            batches,
            groups,
            sessions,
            rounds,
            bytes,
            duplicates,
            refused,
            checkpoints,
            resumed,
            registry: Arc::new(registry),
        }
    }

    /// Counts one stored batch.
    pub fn record(&self, summary: &BatchSummary, bytes: u64) {
        self.batches.inc();
        self.groups.inc_by(summary.groups);
        self.sessions.inc_by(summary.sessions);
        self.rounds.inc_by(summary.rounds_total);
        self.bytes.inc_by(bytes);
    }

    /// The counters in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String does not fail");
        out
    }

    /// Serves `GET /metrics` on `addr`, which must be a loopback address.
    pub async fn serve(self, addr: SocketAddr) -> std::io::Result<()> {
        if !addr.ip().is_loopback() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("the metrics endpoint listens on loopback addresses only, not {addr}"),
            ));
        }
        let listener = tokio::net::TcpListener::bind(addr).await?;
        loop {
            let (mut conn, _) = listener.accept().await?;
            let metrics = self.clone();
            tokio::spawn(async move {
                let mut head = vec![0; MAX_REQUEST_BYTES];
                let n = conn.read(&mut head).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&head[..n]);
                let response = if request.starts_with("GET /metrics ") {
                    let body = metrics.render();
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                } else {
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned()
                };
                let _ = conn.write_all(response.as_bytes()).await;
            });
        }
    }
}
