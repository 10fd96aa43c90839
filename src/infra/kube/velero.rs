//! Velero's objects on one cluster: a Backup's or Restore's progress, and the files Velero keeps
//! beside them in object storage (logs, results) through a DownloadRequest, as `velero backup
//! describe` and `velero restore logs` fetch them.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

use super::cluster::KubeCluster;
use super::custom::CustomKind;
use crate::infra::velero::Progress;

/// How long the server has to answer a DownloadRequest (the CLI's describer waits 30 s).
const DOWNLOAD_URL_WAIT: Duration = Duration::from_secs(30);

/// A DownloadRequest's kinds cutover asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DownloadTarget {
    BackupLog,
    RestoreResults,
    RestoreLog,
}

impl DownloadTarget {
    fn kind(self) -> &'static str {
        match self {
            DownloadTarget::BackupLog => "BackupLog",
            DownloadTarget::RestoreResults => "RestoreResults",
            DownloadTarget::RestoreLog => "RestoreLog",
        }
    }
}

impl KubeCluster {
    /// A Backup's or Restore's object and its progress; None when there is none by that name.
    pub async fn velero_progress(
        &self,
        kind: CustomKind,
        velero_namespace: &str,
        name: &str,
    ) -> Result<Option<(Value, Progress)>> {
        let Some(object) = self.get_custom(kind, Some(velero_namespace), name).await? else {
            return Ok(None);
        };
        let object = serde_json::to_value(&object)?;
        let progress = match kind {
            CustomKind::VeleroBackup => Progress::of_backup(&object),
            _ => Progress::of_restore(&object),
        };
        Ok(Some((object, progress)))
    }

    /// The presigned URL of one of the files Velero keeps for `name`: creates a
    /// DownloadRequest `<name>-<nonce>` and waits, bounded, for the server to answer it. The
    /// URL points at the storage location's object storage; fetching it is the caller's.
    pub async fn velero_download_url(
        &self,
        velero_namespace: &str,
        target: DownloadTarget,
        name: &str,
    ) -> Result<String> {
        let nonce = chrono::Utc::now().format("%Y%m%d%H%M%S%3f");
        let request_name = format!("{name}-{nonce}");
        let request = json!({
            "metadata": {"name": request_name},
            "spec": {"target": {"kind": target.kind(), "name": name}}
        });
        self.create_custom(
            CustomKind::DownloadRequest,
            Some(velero_namespace),
            &request,
        )
        .await?;
        let deadline = tokio::time::Instant::now() + DOWNLOAD_URL_WAIT;
        loop {
            let object = self
                .get_custom(
                    CustomKind::DownloadRequest,
                    Some(velero_namespace),
                    &request_name,
                )
                .await?
                .with_context(|| format!("the DownloadRequest {request_name} disappeared"))?;
            let url = object
                .data
                .pointer("/status/downloadURL")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !url.is_empty() {
                let url = url.to_string();
                // Velero deletes expired requests itself; this one has served its purpose.
                let _ = self
                    .delete_custom(
                        CustomKind::DownloadRequest,
                        Some(velero_namespace),
                        &request_name,
                    )
                    .await;
                return Ok(url);
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "Velero did not answer the DownloadRequest for the {} of {name} within {} s: \
                     its backup storage location may not be available (velero backup-location get)",
                    target.kind(),
                    DOWNLOAD_URL_WAIT.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// The most a results file may hold (they are small JSON documents).
const MAX_RESULTS: usize = 16 * 1024 * 1024;

impl KubeCluster {
    /// The warnings and errors of a finished Backup or Restore, as `velero … describe` shows
    /// them: a Restore's `-results.gz`, or the error and warning lines of a log (Velero 1.9
    /// keeps a backup's only there), fetched through a DownloadRequest. `ca_file` is trusted for the
    /// object storage's certificate.
    pub async fn velero_results(
        &self,
        velero_namespace: &str,
        target: DownloadTarget,
        name: &str,
        ca_file: Option<&std::path::Path>,
    ) -> Result<crate::infra::velero::Results> {
        let url = self
            .velero_download_url(velero_namespace, target, name)
            .await?;
        let shown = crate::infra::url::redact(url.split('?').next().unwrap_or(""));
        let client = crate::infra::https::client(ca_file)?;
        let request = hyper::Request::get(url.as_str())
            .body(http_body_util::Full::new(hyper::body::Bytes::new()))
            .map_err(|e| anyhow!("the download URL {shown} is not usable: {e}"))?;
        let (status, body) = crate::infra::https::exchange(
            &client,
            request,
            MAX_RESULTS,
            &shown,
            "Velero's object storage",
            |e| {
                anyhow!(
                    "fetching the {} of {name} from {shown} failed: {} (the URL is the storage \
                     location's s3Url; from outside the cluster it needs the location's \
                     publicUrl)",
                    target.kind(),
                    crate::infra::https::chain(e)
                )
            },
        )
        .await?;
        if status == 404 {
            return Ok(crate::infra::velero::Results::default());
        }
        if !(200..300).contains(&status) {
            bail!(
                "the object storage answered {status} for the {} of {name}",
                target.kind()
            );
        }
        let text = gunzip(&body)?;
        if matches!(
            target,
            DownloadTarget::BackupLog | DownloadTarget::RestoreLog
        ) {
            return Ok(crate::infra::velero::Results::from_log(&text));
        }
        let json: Value = serde_json::from_str(&text)
            .map_err(|e| anyhow!("the {} of {name} is not JSON: {e}", target.kind()))?;
        Ok(crate::infra::velero::Results::parse(&json))
    }
}

/// The text of a gzip-compressed file Velero wrote (every download kind but the contents).
pub fn gunzip(bytes: &[u8]) -> Result<String> {
    use std::io::Read;
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .map_err(|e| anyhow!("Velero's file is not gzip-compressed text: {e}"))?;
    Ok(text)
}
