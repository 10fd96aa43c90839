//! age encryption of the secrets dump: the cleaned objects are encrypted in memory on their way
//! to the file, so no plaintext ever reaches the disk, and decrypted back into memory only.
//!
//! Recipients are the config's `dumps.age_recipients` (`age1…` X25519 keys, `ssh-ed25519` and
//! `ssh-rsa` public keys); the identity is the file `dumps.age_identity` names (lines of
//! `AGE-SECRET-KEY-1…`, or an unencrypted OpenSSH private key). Errors name the config key, the
//! file and the line or entry number, never the key material itself.

use std::io::{BufReader, Read, Write};
use std::path::Path;
use std::str::FromStr;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use super::artifacts::{create_private, hex, partial_path, publish};
use crate::error::bad_input;

/// The keys a file is encrypted to.
pub struct Recipients(Vec<Box<dyn age::Recipient + Send + Sync>>);

impl Recipients {
    /// Parses the config's `dumps.age_recipients`. None configured, or one that is not a key,
    /// is bad input.
    pub fn parse(list: &[String]) -> Result<Recipients> {
        if list.is_empty() {
            return Err(bad_input(
                "dumps.age_recipients is empty: the secrets are only ever written encrypted. Set \
                 it in the config to the age public keys (age1…) or SSH public keys of whoever \
                 may decrypt the dump (both parties), then run the step again",
            ));
        }
        let mut keys: Vec<Box<dyn age::Recipient + Send + Sync>> = Vec::new();
        for (i, entry) in list.iter().enumerate() {
            let entry = entry.trim();
            let parsed: Option<Box<dyn age::Recipient + Send + Sync>> = if entry.starts_with("age1")
            {
                age::x25519::Recipient::from_str(entry)
                    .ok()
                    .map(|r| Box::new(r) as _)
            } else {
                age::ssh::Recipient::from_str(entry)
                    .ok()
                    .map(|r| Box::new(r) as _)
            };
            match parsed {
                Some(key) => keys.push(key),
                None => {
                    return Err(bad_input(format!(
                        "dumps.age_recipients entry {} is not a valid age public key (age1…) or \
                         ssh-ed25519/ssh-rsa public key; copy it again from `age-keygen -y` or \
                         the .pub file",
                        i + 1
                    )));
                }
            }
        }
        Ok(Recipients(keys))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The operator's private keys, read from the identity file.
pub struct Identities {
    keys: Vec<Box<dyn age::Identity + Send + Sync>>,
    /// The file, for messages.
    file: String,
}

impl Identities {
    /// Reads the identity file `path` (the config's `dumps.age_identity`).
    pub fn load(path: &Path) -> Result<Identities> {
        let file = path.display().to_string();
        let text = std::fs::read(path).map_err(|e| {
            bad_input(format!(
                "cannot read the age identity file {file} (dumps.age_identity): {}; point \
                 dumps.age_identity at your identity file (AGE-SECRET-KEY-1… lines, or an \
                 unencrypted SSH private key whose public key is a recipient)",
                e.kind()
            ))
        })?;
        let keys = if text
            .windows(b"-----BEGIN".len())
            .any(|w| w == b"-----BEGIN")
        {
            ssh_identity(&text, &file)?
        } else {
            x25519_identities(&text, &file)?
        };
        if keys.is_empty() {
            return Err(bad_input(format!(
                "the age identity file {file} (dumps.age_identity) holds no identity; put your \
                 AGE-SECRET-KEY-1… line or SSH private key in it"
            )));
        }
        Ok(Identities { keys, file })
    }
}

/// The `AGE-SECRET-KEY-1…` lines of an identity file; `#` comments and blank lines are
/// skipped. A bad line is named by its number only.
fn x25519_identities(text: &[u8], file: &str) -> Result<Vec<Box<dyn age::Identity + Send + Sync>>> {
    let text = std::str::from_utf8(text).map_err(|_| {
        bad_input(format!(
            "the age identity file {file} (dumps.age_identity) is not text; it must hold \
             AGE-SECRET-KEY-1… lines (from age-keygen) or an SSH private key"
        ))
    })?;
    let mut keys: Vec<Box<dyn age::Identity + Send + Sync>> = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match age::x25519::Identity::from_str(line) {
            Ok(key) => keys.push(Box::new(key)),
            Err(_) => {
                return Err(bad_input(format!(
                    "the age identity file {file} (dumps.age_identity) holds something that is \
                     not an age identity on line {}; it must hold AGE-SECRET-KEY-1… lines (from \
                     age-keygen) or an SSH private key",
                    number + 1
                )));
            }
        }
    }
    Ok(keys)
}

fn ssh_identity(text: &[u8], file: &str) -> Result<Vec<Box<dyn age::Identity + Send + Sync>>> {
    let identity = age::ssh::Identity::from_buffer(BufReader::new(text), None).map_err(|_| {
        bad_input(format!(
            "the SSH private key in {file} (dumps.age_identity) cannot be read; use an OpenSSH \
             ed25519 or RSA private key, or an age identity file"
        ))
    })?;
    match identity {
        age::ssh::Identity::Unencrypted(_) => Ok(vec![Box::new(identity)]),
        age::ssh::Identity::Encrypted(_) => Err(bad_input(format!(
            "the SSH private key in {file} (dumps.age_identity) is protected by a passphrase, \
             which cutover cannot ask for; point dumps.age_identity at an age identity file, or \
             at an unencrypted copy of the key kept with mode 0600"
        ))),
        age::ssh::Identity::Unsupported(_) => Err(bad_input(format!(
            "the SSH private key in {file} (dumps.age_identity) is of a kind age cannot use \
             (only unencrypted ed25519 and RSA keys); use an age identity file instead"
        ))),
    }
}

/// A writer that hashes and counts what goes through it.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Encrypts `plaintext` to `recipients` into `to`: through `<to>.partial` (mode 0600, holding
/// ciphertext only), synced, then renamed into place. Returns the file's size and SHA-256.
pub async fn encrypt_to_file(
    recipients: &Recipients,
    plaintext: &[u8],
    to: &Path,
) -> Result<(u64, String)> {
    let partial = partial_path(to);
    let file = create_private(&partial).await?.into_std().await;
    let written = encrypt_into(recipients, plaintext, file);
    let (bytes, sha) = match written {
        Ok(done) => done,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e.context(format!("cannot write {}", partial.display())));
        }
    };
    publish(&partial, to)?;
    Ok((bytes, sha))
}

fn encrypt_into(
    recipients: &Recipients,
    plaintext: &[u8],
    file: std::fs::File,
) -> Result<(u64, String)> {
    let encryptor = age::Encryptor::with_recipients(recipients.0.iter().map(|r| r.as_ref() as _))
        .map_err(|e| anyhow::anyhow!("age refuses the recipients: {e}"))?;
    let out = Hashing {
        inner: std::io::BufWriter::new(file),
        hasher: Sha256::new(),
        bytes: 0,
    };
    let mut writer = encryptor
        .wrap_output(out)
        .context("writing the age header (is the disk full?)")?;
    writer
        .write_all(plaintext)
        .context("writing the encrypted file (is the disk full?)")?;
    let mut out = writer
        .finish()
        .context("finishing the encrypted file (is the disk full?)")?;
    out.flush().context("writing the encrypted file")?;
    let Hashing {
        inner,
        hasher,
        bytes,
    } = out;
    let file = inner
        .into_inner()
        .map_err(|e| anyhow::anyhow!("writing the encrypted file: {}", e.error()))?;
    file.sync_all().context("syncing the encrypted file")?;
    Ok((bytes, hex(&hasher.finalize())))
}

/// Decrypts the age file `path` into memory with `identities`.
pub fn decrypt_file(identities: &Identities, path: &Path) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open the encrypted file {}", path.display()))?;
    let decryptor = age::Decryptor::new_buffered(BufReader::new(file)).map_err(|e| {
        anyhow::anyhow!(
            "{} is not an age file cutover can read ({e}); use the file the dump step wrote",
            path.display()
        )
    })?;
    let mut reader = decryptor
        .decrypt(identities.keys.iter().map(|k| k.as_ref() as _))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => bad_input(format!(
                "{} was not encrypted to any key of the identity file {} (dumps.age_identity): \
                 use the identity of one of the recipients the dump was made for, or dump \
                 again with your public key in dumps.age_recipients",
                path.display(),
                identities.file
            )),
            other => anyhow::anyhow!("cannot decrypt {}: {other}", path.display()),
        })?;
    let mut plain = Vec::new();
    reader.read_to_end(&mut plain).with_context(|| {
        format!(
            "cannot decrypt {}: the file is damaged or truncated",
            path.display()
        )
    })?;
    Ok(plain)
}

/// A new X25519 identity: (the identity file's text, its public key). For the rehearsal
/// sandbox and tests.
pub fn generate_identity() -> (String, String) {
    use age::secrecy::ExposeSecret;
    let identity = age::x25519::Identity::generate();
    let public = identity.to_public().to_string();
    let secret = identity.to_string();
    (
        format!("# public key: {public}\n{}\n", secret.expose_secret()),
        public,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_recipients_are_refused_without_echoing_them() {
        let err = Recipients::parse(&[]).err().expect("empty");
        assert!(format!("{err:#}").contains("dumps.age_recipients is empty"));
        let secretish = "age1notakeyatallbutsomethinglongXYZ".to_string();
        let err = Recipients::parse(std::slice::from_ref(&secretish))
            .err()
            .expect("bad");
        let text = format!("{err:#}");
        assert!(text.contains("entry 1"), "{text}");
        assert!(!text.contains(&secretish), "{text}");
    }

    #[tokio::test]
    async fn a_file_decrypts_only_with_a_recipient_identity() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (identity, public) = generate_identity();
        let (other, _) = generate_identity();
        let id_path = dir.path().join("id.txt");
        let other_path = dir.path().join("other.txt");
        std::fs::write(&id_path, &identity).expect("write");
        std::fs::write(&other_path, &other).expect("write");
        let recipients = Recipients::parse(&[public]).expect("recipients");
        let to = dir.path().join("s/secret.json.age");
        let plain = b"{\"data\":{\"K\":\"dmFsdWU=\"}}";
        let (bytes, sha) = encrypt_to_file(&recipients, plain, &to)
            .await
            .expect("encrypt");
        let on_disk = std::fs::read(&to).expect("read");
        assert_eq!(on_disk.len() as u64, bytes);
        assert_eq!(hex(&Sha256::digest(&on_disk)), sha);
        assert!(!on_disk.windows(5).any(|w| w == b"dmFsd"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&to).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        let ids = Identities::load(&id_path).expect("identity");
        assert_eq!(decrypt_file(&ids, &to).expect("decrypt"), plain);
        let wrong = Identities::load(&other_path).expect("identity");
        let err = format!(
            "{:#}",
            decrypt_file(&wrong, &to).expect_err("not a recipient")
        );
        assert!(err.contains("was not encrypted to any key"), "{err}");
        assert!(!err.contains("AGE-SECRET-KEY"), "{err}");

        std::fs::write(&other_path, "AGE-SECRET-KEY-1NOTAKEY\n").expect("write");
        let err = format!(
            "{:#}",
            Identities::load(&other_path)
                .err()
                .expect("not an identity")
        );
        assert!(!err.contains("NOTAKEY"), "{err}");
        assert!(err.contains("line 1"), "{err}");
    }
}
