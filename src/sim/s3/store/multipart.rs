//! Multipart uploads: `.s3/uploads/<id>/` holds the upload's key and attributes
//! (`upload.json`) and each part as `part-<n>` with its ETag beside it; completing joins the
//! parts named, in order, into the object, whose ETag is the MD5 of the parts' MD5s and their
//! count, as S3 and MinIO give it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use md5::Digest as _;
use s3s::dto::{
    AbortMultipartUploadInput, AbortMultipartUploadOutput, CompleteMultipartUploadInput,
    CompleteMultipartUploadOutput, CreateMultipartUploadInput, CreateMultipartUploadOutput, ETag,
    UploadPartInput, UploadPartOutput,
};
use s3s::{S3Error, S3Result, s3_error};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use sha2::Sha256;

use super::{Attributes, Folder, STATE, etag_value, internal, metadata_of};

/// The smallest part of a multipart upload but its last.
const MIN_PART: u64 = 5 * 1024 * 1024;

/// A multipart upload in progress.
#[derive(Debug, Serialize, Deserialize)]
struct Upload {
    bucket: String,
    key: String,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

fn no_such_upload() -> S3Error {
    s3_error!(
        NoSuchUpload,
        "The specified multipart upload does not exist. The upload ID may be invalid, or the \
         upload may have been aborted or completed."
    )
}

/// The uploads in progress under `root` and the parts they hold.
pub(in crate::sim::s3) fn uploads(root: &Path) -> (usize, usize) {
    let Ok(uploads) = std::fs::read_dir(root.join(STATE).join("uploads")) else {
        return (0, 0);
    };
    let mut count = (0, 0);
    for upload in uploads.filter_map(Result::ok) {
        count.0 += 1;
        count.1 += std::fs::read_dir(upload.path())
            .map(|parts| {
                parts
                    .filter_map(Result::ok)
                    .filter(|p| {
                        p.file_name()
                            .to_str()
                            .is_some_and(|n| n.starts_with("part-") && !n.ends_with(".etag"))
                    })
                    .count()
            })
            .unwrap_or(0);
    }
    count
}

impl Folder {
    fn upload_path(&self, id: &str) -> S3Result<PathBuf> {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(no_such_upload());
        }
        Ok(self.root.join(STATE).join("uploads").join(id))
    }

    /// An upload in progress of this bucket and key; NoSuchUpload otherwise.
    async fn upload_of(&self, id: &str, bucket: &str, key: &str) -> S3Result<(PathBuf, Upload)> {
        self.bucket(bucket).await?;
        let path = self.upload_path(id)?;
        let text = tokio::fs::read(path.join("upload.json"))
            .await
            .map_err(|_| no_such_upload())?;
        let upload: Upload = serde_json::from_slice(&text).map_err(internal)?;
        if upload.bucket != bucket || upload.key != key {
            return Err(no_such_upload());
        }
        Ok((path, upload))
    }

    pub(super) async fn create_upload(
        &self,
        input: CreateMultipartUploadInput,
    ) -> S3Result<CreateMultipartUploadOutput> {
        let dir = self.bucket(&input.bucket).await?;
        Folder::object_path(&dir, &input.key)?;
        let seed = format!(
            "{}:{}:{:?}",
            input.key,
            self.serial.fetch_add(1, Ordering::Relaxed),
            SystemTime::now()
        );
        let id = hex::encode(&Sha256::digest(seed.as_bytes())[..16]);
        let path = self.upload_path(&id)?;
        tokio::fs::create_dir_all(&path).await.map_err(internal)?;
        let upload = Upload {
            bucket: input.bucket.clone(),
            key: input.key.clone(),
            content_type: input.content_type.map(|c| c.to_string()),
            metadata: metadata_of(input.metadata),
        };
        let text = serde_json::to_vec(&upload).map_err(internal)?;
        tokio::fs::write(path.join("upload.json"), text)
            .await
            .map_err(internal)?;
        Ok(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(id),
            ..CreateMultipartUploadOutput::default()
        })
    }

    pub(super) async fn receive_part(&self, input: UploadPartInput) -> S3Result<UploadPartOutput> {
        let path = self
            .upload_of(&input.upload_id, &input.bucket, &input.key)
            .await?
            .0;
        if !(1..=10_000).contains(&input.part_number) {
            return Err(s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive"
            ));
        }
        let (temp, _, digest) = self
            .receive(
                input.body,
                input.content_length,
                input.content_md5.as_deref(),
            )
            .await?;
        let etag = hex::encode(digest);
        let part = path.join(format!("part-{}", input.part_number));
        let written = async {
            tokio::fs::write(path.join(format!("part-{}.etag", input.part_number)), &etag).await?;
            tokio::fs::rename(&temp, &part).await
        }
        .await;
        if let Err(e) = written {
            let _ = tokio::fs::remove_file(&temp).await;
            // Aborted meanwhile.
            if tokio::fs::metadata(&path).await.is_err() {
                return Err(no_such_upload());
            }
            return Err(internal(e));
        }
        Ok(UploadPartOutput {
            e_tag: Some(ETag::Strong(etag)),
            ..UploadPartOutput::default()
        })
    }

    pub(super) async fn complete_upload(
        &self,
        input: CompleteMultipartUploadInput,
    ) -> S3Result<CompleteMultipartUploadOutput> {
        let (path, upload) = self
            .upload_of(&input.upload_id, &input.bucket, &input.key)
            .await?;
        let parts = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default();
        if parts.is_empty() {
            return Err(s3_error!(
                MalformedXML,
                "You must specify at least one part"
            ));
        }
        let mut numbers = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            let Some(n) = part.part_number else {
                return Err(s3_error!(InvalidPart, "A part has no number"));
            };
            if numbers.last().is_some_and(|last| *last >= n) {
                return Err(s3_error!(
                    InvalidPartOrder,
                    "The list of parts was not in ascending order"
                ));
            }
            let recorded = tokio::fs::read_to_string(path.join(format!("part-{n}.etag")))
                .await
                .map_err(|_| s3_error!(InvalidPart, "Part {n} was not uploaded"))?;
            let given = part.e_tag.as_ref().map(etag_value).unwrap_or("");
            if given.trim_matches('"') != recorded {
                return Err(s3_error!(
                    InvalidPart,
                    "Part {n}'s ETag is not the one it was uploaded with"
                ));
            }
            let size = tokio::fs::metadata(path.join(format!("part-{n}")))
                .await
                .map_err(|_| s3_error!(InvalidPart, "Part {n} was not uploaded"))?
                .len();
            if i + 1 < parts.len() && size < MIN_PART {
                return Err(s3_error!(
                    EntityTooSmall,
                    "Part {n} is {size} bytes; every part but the last must be at least \
                     {MIN_PART}"
                ));
            }
            numbers.push(n);
        }
        let temp = self.temp_path();
        let joined = async {
            let mut out = tokio::fs::File::create(&temp).await.map_err(internal)?;
            let mut md5s = md5::Md5::new();
            let mut size = 0u64;
            for n in &numbers {
                let mut part = tokio::fs::File::open(path.join(format!("part-{n}")))
                    .await
                    .map_err(internal)?;
                size += tokio::io::copy(&mut part, &mut out)
                    .await
                    .map_err(internal)?;
                let recorded = tokio::fs::read_to_string(path.join(format!("part-{n}.etag")))
                    .await
                    .map_err(internal)?;
                md5s.update(hex::decode(recorded.trim()).map_err(internal)?);
            }
            out.sync_all().await.map_err(internal)?;
            Ok::<_, S3Error>((size, md5s.finalize()))
        }
        .await;
        let (size, md5s) = match joined {
            Ok(joined) => joined,
            Err(e) => {
                let _ = tokio::fs::remove_file(&temp).await;
                return Err(e);
            }
        };
        let attributes = Attributes {
            key: upload.key.clone(),
            size,
            etag: format!("{}-{}", hex::encode(md5s), numbers.len()),
            content_type: upload.content_type,
            metadata: upload.metadata,
        };
        if let Err(e) = self.install(&upload.bucket, &temp, &attributes).await {
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(e);
        }
        let _ = tokio::fs::remove_dir_all(&path).await;
        Ok(CompleteMultipartUploadOutput {
            bucket: Some(upload.bucket),
            key: Some(upload.key),
            e_tag: Some(ETag::Strong(attributes.etag)),
            ..CompleteMultipartUploadOutput::default()
        })
    }

    pub(super) async fn abort_upload(
        &self,
        input: AbortMultipartUploadInput,
    ) -> S3Result<AbortMultipartUploadOutput> {
        let (path, _) = self
            .upload_of(&input.upload_id, &input.bucket, &input.key)
            .await?;
        tokio::fs::remove_dir_all(&path).await.map_err(internal)?;
        Ok(AbortMultipartUploadOutput::default())
    }
}
