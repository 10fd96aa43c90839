//! An S3 object storage client (one bucket): listing, HEAD, GET as a whole or streamed, PUT in
//! one request or as a multipart upload, DELETE, presigned GETs. Path-style requests, SigV4
//! signed by `rusty-s3`, sent with hyper and rustls. Knows nothing of backups or migrations.

mod client;
mod endpoint;
mod error;
mod reader;
mod types;
mod upload;

pub use client::S3Client;
pub use endpoint::{DEFAULT_REGION, S3Endpoint};
pub use error::{Refusal, S3Error, ServiceError};
pub use reader::ObjectReader;
pub use types::{DEFAULT_PART_SIZE, MIN_PART_SIZE, ObjectHead, ObjectInfo};
