//! Results on the server: a batch's payload is split into parts in the parts
//! bucket (`RUN.B.DIGEST.N`, named by the payload digest so two different
//! results never overwrite each other's parts), then its manifest is
//! *created* under `RUN.done.B` in the runs bucket — an atomic
//! create-if-absent, so of two workers finishing one batch exactly one
//! manifest is kept and the other learns it lost and compares digests.
//!
//! Checkpoints of long batches go to their own bucket: the segments of
//! blocks closed between checkpoints and the checkpoint file, in parts named
//! like result parts, and a manifest `RUN.B.latest` naming the latest
//! checkpoint and every segment before it.

use async_nats::jetstream::kv;
use bytes::Bytes;

use crate::wire::{CheckpointManifest, Conflict, Manifest, Refusal, RunSpec, SavedCheckpoint, sha256_hex};
use crate::{Cluster, ClusterError};

/// Key of the specification of `run`.
pub fn spec_key(run: &str) -> String {
    format!("{run}.spec")
}

/// Key of batch `batch`'s latest checkpoint manifest in the checkpoints bucket.
pub fn checkpoint_key(run: &str, batch: u32) -> String {
    format!("{run}.{batch}.latest")
}

/// Key of batch `batch`'s manifest.
pub fn done_key(run: &str, batch: u32) -> String {
    format!("{run}.done.{batch}")
}

fn part_key(run: &str, batch: u32, digest: &str, part: u32) -> String {
    format!("{run}.{batch}.{}.{part}", &digest[..16])
}

/// A stored checkpoint, read back: its manifest, its segments' payloads in
/// order and the checkpoint file.
#[derive(Debug)]
pub struct LoadedCheckpoint {
    /// The manifest it was found by.
    pub manifest: CheckpointManifest,
    /// The payloads of the blocks closed before it, in order.
    pub segments: Vec<Vec<u8>>,
    /// The checkpoint file.
    pub checkpoint: Vec<u8>,
}

/// What storing a result found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// This result is the batch's result.
    New,
    /// The same result was already stored (a redelivered batch finished twice).
    Duplicate,
    /// A different result was already stored: the conflict is recorded.
    Conflict(Conflict),
}

fn nats<E: std::fmt::Display>(e: E) -> ClusterError {
    ClusterError::Nats(e.to_string())
}

impl Cluster {
    /// The manifest of `batch`, if it is done.
    pub async fn manifest(&self, run: &str, batch: u32) -> Result<Option<Manifest>, ClusterError> {
        match self.runs.get(done_key(run, batch)).await.map_err(nats)? {
            Some(v) => serde_json::from_slice(&v).map(Some).map_err(|e| ClusterError::Malformed(e.to_string())),
            None => Ok(None),
        }
    }

    /// Stores `payload` as the result of `batch`, then its manifest.
    pub async fn store_result(
        &self,
        run: &str,
        batch: u32,
        payload: &[u8],
        worker: &str,
    ) -> Result<Stored, ClusterError> {
        let manifest = self.put_parts(&self.parts, run, batch, payload, worker).await?;
        let digest = manifest.digest.clone();
        let value = Bytes::from(serde_json::to_vec(&manifest).expect("a manifest serialises"));
        match self.runs.create(done_key(run, batch), value).await {
            Ok(_) => Ok(Stored::New),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                let kept = self
                    .manifest(run, batch)
                    .await?
                    .ok_or_else(|| ClusterError::Nats(format!("manifest of batch {batch} vanished")))?;
                if kept.digest == digest {
                    return Ok(Stored::Duplicate);
                }
                let conflict = Conflict { batch, kept: kept.digest, other: digest, worker: worker.to_owned() };
                let value = Bytes::from(serde_json::to_vec(&conflict).expect("a conflict serialises"));
                self.runs.put(format!("{run}.conflict.{batch}"), value).await.map_err(nats)?;
                Ok(Stored::Conflict(conflict))
            }
            Err(e) => Err(nats(e)),
        }
    }

    /// Stores `payload` in `bucket`, cut into parts named by its digest;
    /// returns what names them.
    async fn put_parts(
        &self,
        bucket: &kv::Store,
        run: &str,
        batch: u32,
        payload: &[u8],
        worker: &str,
    ) -> Result<Manifest, ClusterError> {
        let digest = sha256_hex(payload);
        let chunk = self.part_bytes();
        let chunks: Vec<&[u8]> = if payload.is_empty() { vec![] } else { payload.chunks(chunk).collect() };
        for (i, part) in chunks.iter().enumerate() {
            bucket.put(part_key(run, batch, &digest, i as u32), Bytes::copy_from_slice(part)).await.map_err(nats)?;
        }
        Ok(Manifest { digest, bytes: payload.len() as u64, parts: chunks.len() as u32, worker: worker.to_owned() })
    }

    /// The payload `manifest` names in `bucket`, checked against its digest.
    async fn get_parts(
        &self,
        bucket: &kv::Store,
        run: &str,
        batch: u32,
        manifest: &Manifest,
    ) -> Result<Vec<u8>, ClusterError> {
        if manifest.digest.len() != 64 {
            return Err(ClusterError::BadResult { batch, what: "manifest digest is not 32 bytes of hex".into() });
        }
        let mut payload = Vec::with_capacity(manifest.bytes.min(crate::wire::MAX_RESULT_BYTES as u64) as usize);
        for part in 0..manifest.parts {
            let bytes = bucket
                .get(part_key(run, batch, &manifest.digest, part))
                .await
                .map_err(nats)?
                .ok_or_else(|| ClusterError::BadResult { batch, what: format!("part {part} is missing") })?;
            if payload.len() + bytes.len() > crate::wire::MAX_RESULT_BYTES {
                return Err(ClusterError::BadResult { batch, what: "result larger than the limit".into() });
            }
            payload.extend_from_slice(&bytes);
        }
        let digest = sha256_hex(&payload);
        if digest != manifest.digest || payload.len() as u64 != manifest.bytes {
            return Err(ClusterError::BadResult {
                batch,
                what: format!("stored bytes have digest {digest}, the manifest says {}", manifest.digest),
            });
        }
        Ok(payload)
    }

    /// The payload a manifest names, checked against its digest.
    pub async fn load_result(&self, run: &str, batch: u32, manifest: &Manifest) -> Result<Vec<u8>, ClusterError> {
        self.get_parts(&self.parts, run, batch, manifest).await
    }

    /// Stores a checkpoint of `batch` taken by `worker` in the checkpoints
    /// bucket: the blocks closed since the previous one (`segment`, a batch
    /// result payload; nothing is stored when it holds no block), the
    /// checkpoint file, then the manifest `RUN.B.latest` naming them with
    /// every earlier segment of `previous`; the checkpoint file `previous`
    /// named is then deleted. The newest manifest is the one to resume from.
    pub async fn store_checkpoint(
        &self,
        run: &str,
        batch: u32,
        previous: Option<&CheckpointManifest>,
        saved: &SavedCheckpoint,
        worker: &str,
    ) -> Result<CheckpointManifest, ClusterError> {
        let mut segments = previous.map(|p| p.segments.clone()).unwrap_or_default();
        if saved.blocks > 0 {
            segments.push(self.put_parts(&self.checkpoints, run, batch, &saved.segment, worker).await?);
        }
        let checkpoint = self.put_parts(&self.checkpoints, run, batch, &saved.checkpoint, worker).await?;
        let manifest = CheckpointManifest {
            worker: worker.to_owned(),
            next_group: saved.next_group,
            summary: saved.summary.clone(),
            segments,
            checkpoint,
        };
        let value = Bytes::from(serde_json::to_vec(&manifest).expect("a checkpoint manifest serialises"));
        self.checkpoints.put(checkpoint_key(run, batch), value).await.map_err(nats)?;
        if let Some(old) = previous.map(|p| &p.checkpoint).filter(|old| old.digest != manifest.checkpoint.digest) {
            self.delete_parts(&self.checkpoints, run, batch, old).await?;
        }
        Ok(manifest)
    }

    /// The latest checkpoint of `batch`, if one is stored: its manifest, its
    /// segments' payloads in order and the checkpoint file (each checked
    /// against its digest).
    pub async fn load_checkpoint(&self, run: &str, batch: u32) -> Result<Option<LoadedCheckpoint>, ClusterError> {
        let Some(value) = self.checkpoints.get(checkpoint_key(run, batch)).await.map_err(nats)? else {
            return Ok(None);
        };
        let manifest: CheckpointManifest =
            serde_json::from_slice(&value).map_err(|e| ClusterError::Malformed(format!("checkpoint manifest: {e}")))?;
        let mut segments = Vec::with_capacity(manifest.segments.len());
        for segment in &manifest.segments {
            segments.push(self.get_parts(&self.checkpoints, run, batch, segment).await?);
        }
        let checkpoint = self.get_parts(&self.checkpoints, run, batch, &manifest.checkpoint).await?;
        Ok(Some(LoadedCheckpoint { manifest, segments, checkpoint }))
    }

    /// Deletes the checkpoint of a finished `batch` (its manifest first, so
    /// nobody resumes from a half-deleted one, then its parts). Returns
    /// whether there was one.
    pub async fn drop_checkpoint(&self, run: &str, batch: u32) -> Result<bool, ClusterError> {
        let Some(value) = self.checkpoints.get(checkpoint_key(run, batch)).await.map_err(nats)? else {
            return Ok(false);
        };
        self.checkpoints.delete(checkpoint_key(run, batch)).await.map_err(nats)?;
        if let Ok(manifest) = serde_json::from_slice::<CheckpointManifest>(&value) {
            for parts in manifest.segments.iter().chain([&manifest.checkpoint]) {
                self.delete_parts(&self.checkpoints, run, batch, parts).await?;
            }
        }
        Ok(true)
    }

    async fn delete_parts(&self, bucket: &kv::Store, run: &str, batch: u32, m: &Manifest) -> Result<(), ClusterError> {
        if m.digest.len() != 64 {
            return Ok(());
        }
        for part in 0..m.parts {
            bucket.purge(part_key(run, batch, &m.digest, part)).await.map_err(nats)?;
        }
        Ok(())
    }

    /// Records that `worker` refused `run`.
    pub async fn refuse(&self, run: &str, worker: &str, reason: &str) -> Result<(), ClusterError> {
        let refusal = Refusal { worker: worker.to_owned(), reason: reason.to_owned() };
        let value = Bytes::from(serde_json::to_vec(&refusal).expect("a refusal serialises"));
        let key: String =
            worker.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
        self.runs.put(format!("{run}.refused.{key}"), value).await.map_err(nats)?;
        Ok(())
    }

    /// The specification of `run`.
    pub async fn spec(&self, run: &str) -> Result<Option<RunSpec>, ClusterError> {
        match self.runs.get(spec_key(run)).await.map_err(nats)? {
            Some(v) => serde_json::from_slice(&v).map(Some).map_err(|e| ClusterError::Malformed(e.to_string())),
            None => Ok(None),
        }
    }
}
