//! The storage behind the sandbox's S3 server: buckets as folders, objects as files at their
//! keys, as MinIO keeps them on a file system, and the rest where no key can reach it.
//!
//! The folder holds `<bucket>/<key>` for every object, and `.s3/` (no bucket name starts with a
//! dot) for what S3 says of an object beyond its bytes: `.s3/objects/<bucket>/<sha256 of the
//! key>.json` (the key, size, ETag, content type and user metadata), multipart uploads in
//! progress under `.s3/uploads/<id>/` (`upload.json`, `part-<n>` and its ETag), and files being
//! written under `.s3/tmp/`. A file is written whole under `.s3/tmp/` and renamed into place,
//! so a reader sees an object whole or not at all.
//!
//! It refuses what MinIO refuses: keys over 1,024 bytes or with a path segment over 255
//! (`KeyTooLongError`), empty, `.` or `..` segments (`XMinioInvalidObjectName`), a key under
//! another object's key (`XMinioParentIsObject`), multipart parts under 5 MiB but the last
//! (`EntityTooSmall`), parts completed out of order or with an ETag that is not theirs, a body
//! shorter than its `Content-Length` or not matching its `Content-MD5`.

use std::collections::{BTreeMap, HashMap};
use std::io::SeekFrom;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use base64::Engine;
use bytes::Bytes;
use futures::StreamExt;
use md5::Digest as _;
use s3s::dto::ETag;
use s3s::dto::{
    AbortMultipartUploadInput, AbortMultipartUploadOutput, Bucket, CommonPrefix,
    CompleteMultipartUploadInput, CompleteMultipartUploadOutput, CreateBucketInput,
    CreateBucketOutput, CreateMultipartUploadInput, CreateMultipartUploadOutput, DeleteBucketInput,
    DeleteBucketOutput, DeleteObjectInput, DeleteObjectOutput, GetBucketLocationInput,
    GetBucketLocationOutput, GetObjectInput, GetObjectOutput, HeadBucketInput, HeadBucketOutput,
    HeadObjectInput, HeadObjectOutput, ListBucketsInput, ListBucketsOutput, ListObjectsInput,
    ListObjectsOutput, ListObjectsV2Input, ListObjectsV2Output, Object, PutObjectInput,
    PutObjectOutput, StreamingBlob, Timestamp, UploadPartInput, UploadPartOutput,
};
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

pub(super) mod multipart;

/// The longest key MinIO and S3 take, in bytes.
const MAX_KEY: usize = 1024;
/// The longest path segment of a key a file system takes.
const MAX_SEGMENT: usize = 255;
/// The most keys one listing page gives.
const MAX_KEYS: usize = 1000;
/// Where the storage keeps what is not an object.
const STATE: &str = ".s3";

/// Buckets and objects in a folder.
#[derive(Debug)]
pub(super) struct Folder {
    root: PathBuf,
    serial: AtomicU64,
}

/// What S3 says of an object beyond its bytes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Attributes {
    key: String,
    size: u64,
    etag: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    metadata: BTreeMap<String, String>,
}

impl Folder {
    pub(super) fn new(root: &Path) -> std::io::Result<Folder> {
        // What a server stopped mid-write left half written is no object's.
        let _ = std::fs::remove_dir_all(root.join(STATE).join("tmp"));
        for dir in ["objects", "uploads", "tmp"] {
            std::fs::create_dir_all(root.join(STATE).join(dir))?;
        }
        Ok(Folder {
            root: root.to_path_buf(),
            serial: AtomicU64::new(0),
        })
    }

    fn bucket_path(&self, bucket: &str) -> S3Result<PathBuf> {
        if !valid_bucket_name(bucket) {
            return Err(s3_error!(
                InvalidBucketName,
                "The specified bucket is not valid: {bucket}"
            ));
        }
        Ok(self.root.join(bucket))
    }

    /// The bucket's folder; NoSuchBucket when there is none.
    async fn bucket(&self, bucket: &str) -> S3Result<PathBuf> {
        let path = self.bucket_path(bucket)?;
        match tokio::fs::metadata(&path).await {
            Ok(m) if m.is_dir() => Ok(path),
            _ => Err(s3_error!(
                NoSuchBucket,
                "The specified bucket does not exist: {bucket}"
            )),
        }
    }

    fn object_path(bucket: &Path, key: &str) -> S3Result<PathBuf> {
        check_key(key)?;
        Ok(bucket.join(key))
    }

    fn attributes_path(&self, bucket: &str, key: &str) -> PathBuf {
        let digest = Sha256::digest(key.as_bytes());
        self.root
            .join(STATE)
            .join("objects")
            .join(bucket)
            .join(format!("{}.json", hex::encode(digest)))
    }

    /// A fresh name under `.s3/tmp/`.
    fn temp_path(&self) -> PathBuf {
        let n = self.serial.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        self.root
            .join(STATE)
            .join("tmp")
            .join(format!("{}-{nanos}-{n}", std::process::id()))
    }

    /// An object's attributes: what was recorded with it, or what its file tells (an object
    /// put into the folder by hand has no record: its ETag is its MD5).
    async fn attributes(&self, bucket: &str, key: &str, file: &Path) -> S3Result<Attributes> {
        let size = tokio::fs::metadata(file).await.map_err(internal)?.len();
        if let Ok(text) = tokio::fs::read(self.attributes_path(bucket, key)).await
            && let Ok(recorded) = serde_json::from_slice::<Attributes>(&text)
            && recorded.key == key
            && recorded.size == size
        {
            return Ok(recorded);
        }
        let mut file = tokio::fs::File::open(file).await.map_err(internal)?;
        let mut md5 = md5::Md5::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = file.read(&mut buf).await.map_err(internal)?;
            if n == 0 {
                break;
            }
            md5.update(&buf[..n]);
        }
        Ok(Attributes {
            key: key.to_string(),
            size,
            etag: hex::encode(md5.finalize()),
            ..Attributes::default()
        })
    }

    /// The object's file, open, with its attributes; NoSuchBucket or NoSuchKey.
    async fn open(
        &self,
        bucket: &str,
        key: &str,
    ) -> S3Result<(tokio::fs::File, Attributes, SystemTime)> {
        let dir = self.bucket(bucket).await?;
        let path = Folder::object_path(&dir, key)?;
        let metadata = match tokio::fs::metadata(&path).await {
            Ok(m) if m.is_file() => m,
            _ => {
                return Err(s3_error!(
                    NoSuchKey,
                    "The specified key does not exist: {key}"
                ));
            }
        };
        let file = tokio::fs::File::open(&path).await.map_err(internal)?;
        let attributes = self.attributes(bucket, key, &path).await?;
        let modified = metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        Ok((file, attributes, modified))
    }

    /// Writes a body to a fresh temporary file: its path, size and MD5.
    async fn receive(
        &self,
        body: Option<StreamingBlob>,
        length: Option<i64>,
        content_md5: Option<&str>,
    ) -> S3Result<(PathBuf, u64, [u8; 16])> {
        let Some(mut body) = body else {
            return Err(s3_error!(IncompleteBody, "The request has no body"));
        };
        let path = self.temp_path();
        let result = async {
            let mut file = tokio::fs::File::create(&path).await.map_err(internal)?;
            let mut md5 = md5::Md5::new();
            let mut size = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk: Bytes = chunk.map_err(|e| {
                    s3_error!(IncompleteBody, "The request body ended before its end: {e}")
                })?;
                md5.update(&chunk);
                size += chunk.len() as u64;
                file.write_all(&chunk).await.map_err(internal)?;
            }
            file.sync_all().await.map_err(internal)?;
            let digest: [u8; 16] = md5.finalize().into();
            if let Some(expected) = length
                && u64::try_from(expected).ok() != Some(size)
            {
                return Err(s3_error!(
                    IncompleteBody,
                    "You did not provide the number of bytes specified by the Content-Length \
                     HTTP header ({expected}); {size} arrived"
                ));
            }
            if let Some(expected) = content_md5 {
                let given = base64::engine::general_purpose::STANDARD.decode(expected.trim());
                if given.as_deref() != Ok(digest.as_slice()) {
                    return Err(s3_error!(
                        BadDigest,
                        "The Content-MD5 you specified did not match what was received"
                    ));
                }
            }
            Ok((size, digest))
        }
        .await;
        match result {
            Ok((size, digest)) => Ok((path, size, digest)),
            Err(e) => {
                let _ = tokio::fs::remove_file(&path).await;
                Err(e)
            }
        }
    }

    /// Puts a written temporary file in place as `key`, with its attributes.
    async fn install(&self, bucket: &str, temp: &Path, attributes: &Attributes) -> S3Result<()> {
        let dir = self.bucket(bucket).await?;
        let path = Folder::object_path(&dir, &attributes.key)?;
        let parent_ok = match path.parent() {
            Some(parent) => tokio::fs::create_dir_all(parent).await.is_ok(),
            None => true,
        };
        if !parent_ok {
            return Err(minio_error(
                "XMinioParentIsObject",
                hyper::StatusCode::BAD_REQUEST,
                "Object-prefix is already an object, please choose a different object-prefix \
                 name.",
            ));
        }
        if tokio::fs::metadata(&path).await.is_ok_and(|m| m.is_dir()) {
            return Err(minio_error(
                "XMinioObjectExistsAsDirectory",
                hyper::StatusCode::CONFLICT,
                "Object name already exists as a directory.",
            ));
        }
        let record_path = self.attributes_path(bucket, &attributes.key);
        if let Some(parent) = record_path.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(internal)?;
        }
        let record_temp = self.temp_path();
        let text = serde_json::to_vec(attributes).map_err(internal)?;
        tokio::fs::write(&record_temp, text)
            .await
            .map_err(internal)?;
        // The record goes first: until the file is renamed, the old file's size disagrees
        // with it and a reader takes the file's own MD5.
        tokio::fs::rename(&record_temp, &record_path)
            .await
            .map_err(internal)?;
        tokio::fs::rename(temp, &path).await.map_err(internal)?;
        Ok(())
    }

    /// Every key of the bucket at or under `prefix`, in order.
    async fn keys(&self, bucket: &Path, prefix: &str) -> S3Result<Vec<String>> {
        let bucket = bucket.to_path_buf();
        let prefix = prefix.to_string();
        tokio::task::spawn_blocking(move || {
            // Start at the folder the prefix names whole; a prefix no key can have (`..`, an
            // empty segment) lists nothing, and never a folder outside the bucket.
            let start = match prefix.rfind('/') {
                Some(at) => &prefix[..at],
                None => "",
            };
            if !start.is_empty()
                && start
                    .split('/')
                    .any(|s| s.is_empty() || s == "." || s == "..")
            {
                return Vec::new();
            }
            let mut keys = Vec::new();
            let mut stack = vec![(bucket.join(start), start.to_string())];
            while let Some((dir, key_prefix)) = stack.pop() {
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    continue;
                };
                for entry in entries.filter_map(Result::ok) {
                    let Ok(name) = entry.file_name().into_string() else {
                        continue;
                    };
                    let key = if key_prefix.is_empty() {
                        name
                    } else {
                        format!("{key_prefix}/{name}")
                    };
                    let Ok(kind) = entry.file_type() else {
                        continue;
                    };
                    if kind.is_dir() {
                        if prefix.starts_with(&format!("{key}/")) || key.starts_with(&prefix) {
                            stack.push((entry.path(), key));
                        }
                    } else if kind.is_file() && key.starts_with(&prefix) {
                        keys.push(key);
                    }
                }
            }
            keys.sort();
            keys
        })
        .await
        .map_err(internal)
    }

    /// One page of a listing: objects and common prefixes after `after`, at most `max`; and
    /// whether more follow.
    async fn page(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        after: Option<&str>,
        max: usize,
    ) -> S3Result<(Vec<Object>, Vec<CommonPrefix>, Option<String>)> {
        let dir = self.bucket(bucket).await?;
        let keys = self.keys(&dir, prefix).await?;
        let mut objects = Vec::new();
        let mut prefixes: Vec<CommonPrefix> = Vec::new();
        let mut last: Option<String> = None;
        let mut count = 0;
        for key in keys {
            if let Some(after) = after
                && (key.as_str() <= after
                    || delimiter.is_some_and(|d| after.ends_with(d) && key.starts_with(after)))
            {
                continue;
            }
            let common = delimiter.filter(|d| !d.is_empty()).and_then(|d| {
                key[prefix.len()..]
                    .find(d)
                    .map(|at| key[..prefix.len() + at + d.len()].to_string())
            });
            if let Some(common) = &common
                && last.as_deref() == Some(common.as_str())
            {
                continue;
            }
            if count == max {
                return Ok((objects, prefixes, last));
            }
            count += 1;
            match common {
                Some(common) => {
                    last = Some(common.clone());
                    prefixes.push(CommonPrefix {
                        prefix: Some(common),
                    });
                }
                None => {
                    let path = dir.join(&key);
                    let Ok(metadata) = tokio::fs::metadata(&path).await else {
                        // Deleted while listed.
                        count -= 1;
                        continue;
                    };
                    let attributes = self.attributes(bucket, &key, &path).await?;
                    objects.push(Object {
                        key: Some(key.clone()),
                        size: Some(i64::try_from(attributes.size).unwrap_or(i64::MAX)),
                        e_tag: Some(ETag::Strong(attributes.etag)),
                        last_modified: metadata.modified().ok().map(Timestamp::from),
                        storage_class: Some("STANDARD".to_string().into()),
                        ..Object::default()
                    });
                    last = Some(key);
                }
            }
        }
        Ok((objects, prefixes, None))
    }

    /// Removes the folders left empty above `path`, up to the bucket's.
    async fn prune(bucket: &Path, path: &Path) {
        let mut dir = path.parent();
        while let Some(d) = dir {
            if d == bucket || !d.starts_with(bucket) || tokio::fs::remove_dir(d).await.is_err() {
                break;
            }
            dir = d.parent();
        }
    }
}

fn max_keys(given: Option<i32>) -> S3Result<usize> {
    match given {
        None => Ok(MAX_KEYS),
        Some(n) if n < 0 => Err(s3_error!(
            InvalidArgument,
            "max-keys cannot be negative: {n}"
        )),
        Some(n) => Ok(usize::try_from(n).unwrap_or(MAX_KEYS).min(MAX_KEYS)),
    }
}

fn valid_bucket_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    (3..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || *b == b'.')
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && !name.contains("..")
}

fn check_key(key: &str) -> S3Result<()> {
    if key.len() > MAX_KEY {
        return Err(s3_error!(
            KeyTooLongError,
            "Your key is too long: {} bytes, at most {MAX_KEY}",
            key.len()
        ));
    }
    if key.split('/').any(|s| s.len() > MAX_SEGMENT) {
        return Err(s3_error!(
            KeyTooLongError,
            "Your key has a path segment longer than {MAX_SEGMENT} bytes"
        ));
    }
    let bad_segment = key
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..");
    let components_ok = Path::new(key)
        .components()
        .all(|c| matches!(c, Component::Normal(_)));
    if key.is_empty() || bad_segment || !components_ok || key.contains('\0') {
        return Err(minio_error(
            "XMinioInvalidObjectName",
            hyper::StatusCode::BAD_REQUEST,
            "Object name contains unsupported characters.",
        ));
    }
    Ok(())
}

fn minio_error(code: &str, status: hyper::StatusCode, message: &'static str) -> S3Error {
    let Ok(code) = code.parse::<S3ErrorCode>();
    let mut e = S3Error::with_message(code, message);
    e.set_status_code(status);
    e
}

fn internal(e: impl std::fmt::Display) -> S3Error {
    s3_error!(InternalError, "{e}")
}

fn metadata_of(given: Option<HashMap<String, String>>) -> BTreeMap<String, String> {
    given.unwrap_or_default().into_iter().collect()
}

fn metadata_out(attributes: &Attributes) -> Option<HashMap<String, String>> {
    (!attributes.metadata.is_empty()).then(|| attributes.metadata.clone().into_iter().collect())
}

fn etag_value(e: &ETag) -> &str {
    match e {
        ETag::Strong(v) | ETag::Weak(v) => v,
    }
}

#[async_trait::async_trait]
impl S3 for Folder {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let path = self.bucket_path(&req.input.bucket)?;
        if tokio::fs::metadata(&path).await.is_ok() {
            return Err(s3_error!(
                BucketAlreadyOwnedByYou,
                "Your previous request to create the named bucket succeeded and you already \
                 own it."
            ));
        }
        tokio::fs::create_dir_all(&path).await.map_err(internal)?;
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{}", req.input.bucket)),
        }))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.bucket(&req.input.bucket).await?;
        Ok(S3Response::new(HeadBucketOutput::default()))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.bucket(&req.input.bucket).await?;
        Ok(S3Response::new(GetBucketLocationOutput::default()))
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let path = self.bucket(&req.input.bucket).await?;
        if !self.keys(&path, "").await?.is_empty() {
            return Err(s3_error!(
                BucketNotEmpty,
                "The bucket you tried to delete is not empty"
            ));
        }
        tokio::fs::remove_dir_all(&path).await.map_err(internal)?;
        let _ = tokio::fs::remove_dir_all(
            self.root
                .join(STATE)
                .join("objects")
                .join(&req.input.bucket),
        )
        .await;
        Ok(S3Response::new(DeleteBucketOutput::default()))
    }

    async fn list_buckets(
        &self,
        _req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let mut buckets = Vec::new();
        let mut entries = tokio::fs::read_dir(&self.root).await.map_err(internal)?;
        while let Some(entry) = entries.next_entry().await.map_err(internal)? {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let Ok(metadata) = entry.metadata().await else {
                continue;
            };
            if metadata.is_dir() && valid_bucket_name(&name) {
                buckets.push(Bucket {
                    name: Some(name),
                    creation_date: metadata
                        .created()
                        .or_else(|_| metadata.modified())
                        .ok()
                        .map(Timestamp::from),
                    ..Bucket::default()
                });
            }
        }
        buckets.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            ..ListBucketsOutput::default()
        }))
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let input = req.input;
        let dir = self.bucket(&input.bucket).await?;
        Folder::object_path(&dir, &input.key)?;
        let (temp, size, digest) = self
            .receive(
                input.body,
                input.content_length,
                input.content_md5.as_deref(),
            )
            .await?;
        let attributes = Attributes {
            key: input.key,
            size,
            etag: hex::encode(digest),
            content_type: input.content_type.map(|c| c.to_string()),
            metadata: metadata_of(input.metadata),
        };
        if let Err(e) = self.install(&input.bucket, &temp, &attributes).await {
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(e);
        }
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(ETag::Strong(attributes.etag)),
            ..PutObjectOutput::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        let (mut file, attributes, modified) = self.open(&input.bucket, &input.key).await?;
        let size = attributes.size;
        let (start, length, content_range) = match &input.range {
            None => (0, size, None),
            Some(range) => {
                let span = range.check(size)?;
                let range_text = format!("bytes {}-{}/{size}", span.start, span.end - 1);
                (span.start, span.end - span.start, Some(range_text))
            }
        };
        if start > 0 {
            file.seek(SeekFrom::Start(start)).await.map_err(internal)?;
        }
        let reader = tokio_util::io::ReaderStream::with_capacity(file.take(length), 64 * 1024);
        Ok(S3Response::new(GetObjectOutput {
            body: Some(StreamingBlob::wrap(reader)),
            content_length: Some(i64::try_from(length).unwrap_or(i64::MAX)),
            content_range,
            content_type: attributes.content_type.clone(),
            e_tag: Some(ETag::Strong(attributes.etag.clone())),
            last_modified: Some(Timestamp::from(modified)),
            metadata: metadata_out(&attributes),
            accept_ranges: Some("bytes".to_string()),
            ..GetObjectOutput::default()
        }))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        let (_, attributes, modified) = self.open(&input.bucket, &input.key).await?;
        Ok(S3Response::new(HeadObjectOutput {
            content_length: Some(i64::try_from(attributes.size).unwrap_or(i64::MAX)),
            content_type: attributes.content_type.clone(),
            e_tag: Some(ETag::Strong(attributes.etag.clone())),
            last_modified: Some(Timestamp::from(modified)),
            metadata: metadata_out(&attributes),
            accept_ranges: Some("bytes".to_string()),
            ..HeadObjectOutput::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let input = req.input;
        let dir = self.bucket(&input.bucket).await?;
        let path = Folder::object_path(&dir, &input.key)?;
        if tokio::fs::metadata(&path).await.is_ok_and(|m| m.is_file()) {
            tokio::fs::remove_file(&path).await.map_err(internal)?;
            let _ = tokio::fs::remove_file(self.attributes_path(&input.bucket, &input.key)).await;
            Folder::prune(&dir, &path).await;
        }
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let prefix = input.prefix.clone().unwrap_or_default();
        let token = match &input.continuation_token {
            Some(token) => Some(
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(token)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        s3_error!(
                            InvalidArgument,
                            "The continuation token provided is incorrect"
                        )
                    })?,
            ),
            None => None,
        };
        let after = match (token.as_deref(), input.start_after.as_deref()) {
            (Some(t), Some(s)) => Some(t.max(s)),
            (t, s) => t.or(s),
        };
        let max = max_keys(input.max_keys)?;
        let (objects, prefixes, next) = self
            .page(
                &input.bucket,
                &prefix,
                input.delimiter.as_deref(),
                after,
                max,
            )
            .await?;
        let count = objects.len() + prefixes.len();
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(prefix),
            delimiter: input.delimiter,
            max_keys: Some(i32::try_from(max).unwrap_or(i32::MAX)),
            key_count: Some(i32::try_from(count).unwrap_or(i32::MAX)),
            continuation_token: input.continuation_token,
            start_after: input.start_after,
            is_truncated: Some(next.is_some()),
            next_continuation_token: next
                .map(|n| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(n)),
            contents: Some(objects),
            common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
            encoding_type: input.encoding_type,
            ..ListObjectsV2Output::default()
        }))
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
        let prefix = input.prefix.clone().unwrap_or_default();
        let max = max_keys(input.max_keys)?;
        let (objects, prefixes, next) = self
            .page(
                &input.bucket,
                &prefix,
                input.delimiter.as_deref(),
                input.marker.as_deref(),
                max,
            )
            .await?;
        // S3 gives NextMarker only with a delimiter; without one the last key is the marker.
        let next_marker = next.clone().filter(|_| input.delimiter.is_some());
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(prefix),
            delimiter: input.delimiter,
            marker: input.marker,
            max_keys: Some(i32::try_from(max).unwrap_or(i32::MAX)),
            is_truncated: Some(next.is_some()),
            next_marker,
            contents: Some(objects),
            common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
            encoding_type: input.encoding_type,
            ..ListObjectsOutput::default()
        }))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.create_upload(req.input).await.map(S3Response::new)
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        self.receive_part(req.input).await.map(S3Response::new)
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.complete_upload(req.input).await.map(S3Response::new)
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.abort_upload(req.input).await.map(S3Response::new)
    }
}
