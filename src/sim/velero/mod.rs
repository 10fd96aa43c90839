//! The simulated Velero 1.9.2 server of one cluster: its own task beside the pod controller,
//! woken by every write and by its own deadlines. Each pass takes what it needs under the state
//! lock, talks to the storage locations' real S3 servers without it, then writes statuses under
//! it again. What each controller does is in its file: `location` (the AWS plugin's view of a
//! BackupStorageLocation), `store` (the bucket), `backup`, `restore`, `sync`, `download`,
//! `restic` (file-system backup), `tarball` and `layout` (the files as Velero writes them).

mod backup;
mod download;
mod items;
mod layout;
mod location;
mod logs;
mod restic;
mod restore;
mod store;
mod sync;
mod tarball;
mod task;

pub use backup::{FAIL_ANNOTATION, ITEM_ERROR_ANNOTATION};
pub(crate) use task::run;
