//! A backup's contents as Velero 1.9.2 writes and reads them: a gzipped tar with
//! `metadata/version` (`1.1.0`) first, then every item as JSON, twice when its version is the
//! preferred one (`pkg/backup/item_backupper.go`): under
//! `resources/<resource.group>/<version>-preferredversion/{namespaces/<ns>,cluster}/<name>.json`
//! and, for older readers, without the version folder. A restore reads the latter
//! (`pkg/archive`: extractor, parser).

use std::collections::BTreeMap;
use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

/// The backup format Velero 1.9.2 writes (`BackupFormatVersion`).
pub const FORMAT_VERSION: &str = "1.1.0";

/// One item as the backup holds it.
pub struct Item {
    /// `deployments.apps`, `secrets`.
    pub group_resource: String,
    /// The object's version (`v1`), the server's preferred one here.
    pub version: String,
    /// None for a cluster-scoped item.
    pub namespace: Option<String>,
    pub name: String,
    pub json: Vec<u8>,
}

fn scope(namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => format!("namespaces/{ns}"),
        None => "cluster".to_string(),
    }
}

/// The paths an item is written at, the preferred-version one first.
pub fn item_paths(item: &Item) -> [String; 2] {
    let scope = scope(item.namespace.as_deref());
    [
        format!(
            "resources/{}/{}-preferredversion/{scope}/{}.json",
            item.group_resource, item.version, item.name
        ),
        format!(
            "resources/{}/{scope}/{}.json",
            item.group_resource, item.name
        ),
    ]
}

fn add(tar: &mut tar::Builder<impl Write>, path: &str, data: &[u8]) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o755);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mtime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    );
    tar.append_data(&mut header, path, data)
}

/// The `<backup>.tar.gz` of these items.
pub fn write(items: &[Item]) -> std::io::Result<Vec<u8>> {
    let gz = GzEncoder::new(Vec::new(), Compression::default());
    let mut tar = tar::Builder::new(gz);
    add(
        &mut tar,
        "metadata/version",
        format!("{FORMAT_VERSION}\n").as_bytes(),
    )?;
    for item in items {
        for path in item_paths(item) {
            add(&mut tar, &path, &item.json)?;
        }
    }
    tar.into_inner()?.finish()
}

/// A backup's contents, extracted: every file by its path.
pub struct Archive {
    files: BTreeMap<String, Vec<u8>>,
}

/// The items of one resource in a backup (`archive.ResourceItems`): names by namespace (`""`
/// for cluster-scoped).
pub type Resources = BTreeMap<String, BTreeMap<String, Vec<String>>>;

/// Extracts a tarball as `UnzipAndExtractBackup` does; the error is worded as Go's readers
/// word it (`gzip: invalid header`, `unexpected EOF`).
pub fn read(bytes: &[u8]) -> Result<Archive, String> {
    if bytes.len() < 10 || bytes[0] != 0x1f || bytes[1] != 0x8b {
        return Err(if bytes.is_empty() {
            "EOF".into()
        } else {
            "gzip: invalid header".into()
        });
    }
    let mut tar = tar::Archive::new(GzDecoder::new(bytes));
    let mut files = BTreeMap::new();
    let entries = tar.entries().map_err(go_error)?;
    for entry in entries {
        let mut entry = entry.map_err(go_error)?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let path = entry
            .path()
            .map_err(go_error)?
            .to_string_lossy()
            .into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).map_err(go_error)?;
        files.insert(path, data);
    }
    Ok(Archive { files })
}

fn go_error(e: std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => "unexpected EOF".into(),
        std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData => {
            if e.to_string().contains("gzip") || e.to_string().contains("deflate") {
                "flate: corrupt input before offset 0".into()
            } else {
                "archive/tar: invalid tar header".into()
            }
        }
        _ => e.to_string(),
    }
}

impl Archive {
    pub fn file(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(Vec::as_slice)
    }

    /// What `archive.Parser.Parse` finds: for each `resources/<gr>/`, the items of
    /// `cluster/` and of each `namespaces/<ns>/`. Err as Velero words a backup without
    /// `resources/`.
    pub fn resources(&self) -> Result<Resources, String> {
        let mut out = Resources::new();
        let mut any = false;
        for path in self.files.keys() {
            let Some(rest) = path.strip_prefix("resources/") else {
                continue;
            };
            any = true;
            let parts: Vec<&str> = rest.split('/').collect();
            let (gr, ns, file) = match parts.as_slice() {
                [gr, "cluster", file] => (*gr, "", *file),
                [gr, "namespaces", ns, file] => (*gr, *ns, *file),
                _ => continue,
            };
            let name = file.strip_suffix(".json").unwrap_or(file);
            out.entry(gr.to_string())
                .or_default()
                .entry(ns.to_string())
                .or_default()
                .push(name.to_string());
        }
        if !any {
            return Err("directory \"resources\": does not exist".into());
        }
        Ok(out)
    }

    /// The path `archive.GetItemFilePath` gives an item.
    pub fn item_path(group_resource: &str, namespace: &str, name: &str) -> String {
        let ns = if namespace.is_empty() {
            None
        } else {
            Some(namespace)
        };
        format!("resources/{group_resource}/{}/{name}.json", scope(ns))
    }
}

/// A `.json.gz` or `.gz` file as Velero writes them (gzip of the bytes).
pub fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(data)?;
    gz.finish()
}

pub fn gunzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    GzDecoder::new(data).read_to_end(&mut out)?;
    Ok(out)
}
