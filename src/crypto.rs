//! Secrets at rest: XChaCha20-Poly1305 under a master key from the environment or a key file.

use std::{fmt, io::Write, path::Path};

use anyhow::{bail, Context};
use base64::{engine::general_purpose::STANDARD, Engine};
use chacha20poly1305::{
    aead::{Aead, KeyInit, Payload},
    XChaCha20Poly1305, XNonce,
};
use rand::RngCore;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

/// The hex SHA-256 of a token: what is stored in its place.
pub fn digest(token: &str) -> String {
    <sha2::Sha256 as sha2::Digest>::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A string that must not leak: its `Debug` and `Display` print a placeholder and it has no
/// `Serialize`. Read it with [`Secret::expose`] at the one place that needs it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

/// Whether two byte strings are equal, in a time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Seals and opens secrets. The associated data binds each ciphertext to its row, so a
/// ciphertext copied to another row does not open.
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
    /// A key for signing links (media URLs), derived from the master key: rotating the master
    /// key ends the links signed under the old one.
    link_key: [u8; 32],
    /// True when the key file was created by this start, i.e. no secret can be under it yet.
    pub new_key: bool,
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBox([redacted])")
    }
}

impl SecretBox {
    pub fn from_key(key: &[u8; 32]) -> Self {
        use hmac::Mac;
        let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(key).expect("any key length");
        mac.update(b"switchboard link signing key v1");
        let link_key = mac.finalize().into_bytes().into();
        Self { cipher: XChaCha20Poly1305::new(key.into()), link_key, new_key: false }
    }

    /// The key from `SWITCHBOARD_MASTER_KEY` (base64 of 32 bytes) when given, else from the key
    /// file, which is created with owner-only permissions on first start.
    pub fn load(env_key: Option<&Secret>, key_file: &Path) -> anyhow::Result<Self> {
        if let Some(key) = env_key {
            return Ok(Self::from_key(&decode_key(key.expose()).context("SWITCHBOARD_MASTER_KEY")?));
        }
        if key_file.exists() {
            let text = std::fs::read_to_string(key_file)
                .with_context(|| format!("reading the master key file {}", key_file.display()))?;
            return Ok(Self::from_key(
                &decode_key(text.trim()).with_context(|| format!("master key file {}", key_file.display()))?,
            ));
        }
        let key = new_key();
        write_key_file(key_file, &key)?;
        tracing::info!(path = %key_file.display(), "created a new master key file");
        Ok(Self { new_key: true, ..Self::from_key(&key) })
    }

    pub fn seal(&self, plaintext: &str, aad: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext.as_bytes(), aad: aad.as_bytes() })
            .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory input");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// HMAC-SHA256 of `message` under the link key, hex.
    pub fn sign_link(&self, message: &str) -> String {
        use hmac::Mac;
        let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(&self.link_key).expect("any key length");
        mac.update(message.as_bytes());
        mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Whether `signature` is [`Self::sign_link`] of `message`, compared in constant time.
    pub fn verify_link(&self, message: &str, signature: &str) -> bool {
        use hmac::Mac;
        let Some(bytes) = (0..signature.len())
            .step_by(2)
            .map(|i| signature.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect::<Option<Vec<u8>>>()
        else {
            return false;
        };
        let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(&self.link_key).expect("any key length");
        mac.update(message.as_bytes());
        mac.verify_slice(&bytes).is_ok()
    }

    pub fn open(&self, sealed: &[u8], aad: &str) -> anyhow::Result<Secret> {
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != VERSION {
            bail!("sealed secret has an unknown format");
        }
        let (nonce, ct) = sealed[1..].split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: aad.as_bytes() })
            .map_err(|_| anyhow::anyhow!("a stored secret does not open with this master key"))?;
        Ok(Secret(String::from_utf8(plain)?))
    }
}

/// 32 random bytes from the operating system.
pub fn new_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    key
}

/// The key as `SWITCHBOARD_MASTER_KEY` takes it.
pub fn encode_key(key: &[u8; 32]) -> Secret {
    Secret(STANDARD.encode(key))
}

/// Writes a new key file, readable by its owner only, synced to disk; never overwrites one.
pub fn write_key_file(path: &Path, key: &[u8; 32]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("creating the master key file {}", path.display()))?;
    writeln!(file, "{}", encode_key(key).expose())?;
    file.sync_all()?;
    Ok(())
}

fn decode_key(text: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = STANDARD.decode(text.trim()).context("the master key is not valid base64")?;
    bytes.try_into().map_err(|_| anyhow::anyhow!("the master key must be 32 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secret_opens_only_with_its_row() {
        let sb = SecretBox::from_key(&[7; 32]);
        let sealed = sb.seal("0123456789abcdef0123456789abcdef", "connector-1");
        assert!(!sealed.windows(8).any(|w| w == b"01234567"), "ciphertext must not contain the secret");
        assert_eq!(sb.open(&sealed, "connector-1").unwrap().expose(), "0123456789abcdef0123456789abcdef");
        assert!(sb.open(&sealed, "connector-2").is_err());
        assert!(SecretBox::from_key(&[8; 32]).open(&sealed, "connector-1").is_err());
    }

    #[test]
    fn secret_debug_is_redacted() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret([redacted])");
    }

    #[test]
    fn key_file_is_created_owner_only_and_reused() {
        let dir = std::env::temp_dir().join(format!("sb-key-{}", crate::new_id()));
        let path = dir.join("master.key");
        let first = SecretBox::load(None, &path).unwrap();
        assert!(first.new_key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let sealed = first.seal("token", "row");
        let second = SecretBox::load(None, &path).unwrap();
        assert!(!second.new_key);
        assert_eq!(second.open(&sealed, "row").unwrap().expose(), "token");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
