//! Where Velero 1.9.2 keeps its files in a storage location's bucket
//! (`pkg/persistence/object_store_layout.go`): everything under the location's prefix, in
//! `backups/<backup>/`, `restores/<restore>/` and `restic/<namespace>/`.

/// The keys of one storage location (bucket and prefix).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// `""` or `prefix/`.
    root: String,
}

/// The top-level folders Velero accepts under the prefix (`IsValid`).
pub const SUBDIRS: &[&str] = &["backups", "restores", "restic", "metadata", "plugins"];

impl Layout {
    pub fn new(prefix: &str) -> Layout {
        let prefix = prefix.trim_matches('/');
        Layout {
            root: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
        }
    }

    pub fn root(&self) -> &str {
        &self.root
    }

    pub fn subdir(&self, name: &str) -> String {
        format!("{}{name}/", self.root)
    }

    pub fn backup_dir(&self, backup: &str) -> String {
        format!("{}backups/{backup}/", self.root)
    }

    pub fn backup_file(&self, backup: &str, suffix: &str) -> String {
        format!("{}{backup}{suffix}", self.backup_dir(backup))
    }

    pub fn metadata(&self, backup: &str) -> String {
        format!("{}velero-backup.json", self.backup_dir(backup))
    }

    pub fn contents(&self, backup: &str) -> String {
        self.backup_file(backup, ".tar.gz")
    }

    pub fn restore_file(&self, restore: &str, suffix: &str) -> String {
        format!("{}restores/{restore}/restore-{restore}{suffix}", self.root)
    }

    pub fn restic_dir(&self, namespace: &str) -> String {
        format!("{}restic/{namespace}/", self.root)
    }

    /// The key a DownloadRequest's target kind names (`GetDownloadURL`); None for a kind
    /// Velero 1.9.2 does not serve.
    pub fn download_key(&self, kind: &str, name: &str) -> Option<String> {
        Some(match kind {
            "BackupContents" => self.contents(name),
            "BackupLog" => self.backup_file(name, "-logs.gz"),
            "BackupVolumeSnapshots" => self.backup_file(name, "-volumesnapshots.json.gz"),
            "BackupItemSnapshots" => self.backup_file(name, "-itemsnapshots.json.gz"),
            "BackupResourceList" => self.backup_file(name, "-resource-list.json.gz"),
            "RestoreLog" => self.restore_file(name, "-logs.gz"),
            "RestoreResults" => self.restore_file(name, "-results.gz"),
            "CSIBackupVolumeSnapshots" => self.backup_file(name, "-csi-volumesnapshots.json.gz"),
            "CSIBackupVolumeSnapshotContents" => {
                self.backup_file(name, "-csi-volumesnapshotcontents.json.gz")
            }
            _ => return None,
        })
    }
}
