//! Free disk space where a dump is about to be written.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// Bytes available to this user (not to root's reserve) on the filesystem of `path`, and the
/// path that was measured: `path` itself, or its nearest existing ancestor when the dump folder
/// does not exist yet.
pub fn free_space(path: &Path) -> anyhow::Result<(u64, PathBuf)> {
    let measured = nearest_existing(path)?;
    let stat = rustix::fs::statvfs(&measured).with_context(|| {
        format!(
            "could not read the free space at {}; check that this user may access it",
            measured.display()
        )
    })?;
    Ok((stat.f_bavail.saturating_mul(stat.f_frsize), measured))
}

fn nearest_existing(path: &Path) -> anyhow::Result<PathBuf> {
    for candidate in path.ancestors() {
        // A relative path's last ancestor is "", which means the working directory.
        let candidate = if candidate.as_os_str().is_empty() {
            Path::new(".")
        } else {
            candidate
        };
        let exists = candidate.try_exists().with_context(|| {
            format!(
                "could not check whether {} exists; check the permissions of its parent folders",
                candidate.display()
            )
        })?;
        if exists {
            return Ok(candidate.to_path_buf());
        }
    }
    anyhow::bail!("neither {} nor any folder above it exists", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn existing_path_is_measured_itself() {
        let dir = tempfile::tempdir().unwrap();
        let (free, measured) = free_space(dir.path()).unwrap();
        assert_eq!(measured, dir.path());
        assert!(free > 0);
    }

    #[test]
    fn relative_missing_path_falls_back_to_working_directory() {
        let (_, measured) = free_space(Path::new("no-such-dir-xyz/sub")).unwrap();
        assert_eq!(measured, Path::new("."));
    }
}
