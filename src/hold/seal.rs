//! Held requests carry the client's aggregator credentials (Authorization
//! headers, Vonage `api_secret` in bodies): they are sealed with
//! ChaCha20-Poly1305 before they touch the disk.
//!
//! The key comes from `TOLLGATE_DATA_KEY` (32 bytes, base64 or hex) or from
//! `data.key` in the data dir, created with mode 0600 on first start.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("TOLLGATE_DATA_KEY must be 32 bytes in base64 or hex")]
    BadKey,
    #[error("the data key file {0}: {1}")]
    KeyFile(String, std::io::Error),
    #[error("a sealed record could not be opened (wrong key or corrupted)")]
    Open,
}

pub struct Sealer {
    cipher: ChaCha20Poly1305,
}

const NONCE: usize = 12;

impl Sealer {
    pub fn from_key(key: &[u8; 32]) -> Sealer {
        Sealer {
            cipher: ChaCha20Poly1305::new(Key::from_slice(key)),
        }
    }

    /// The key from the environment value if given, else the data dir's key
    /// file (created on first start).
    pub fn load(env: Option<&str>, data_dir: &Path) -> Result<Sealer, SealError> {
        if let Some(text) = env.map(str::trim).filter(|t| !t.is_empty()) {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .ok()
                .filter(|b| b.len() == 32)
                .or_else(|| decode_hex(text))
                .ok_or(SealError::BadKey)?;
            let key: [u8; 32] = bytes.try_into().map_err(|_| SealError::BadKey)?;
            return Ok(Sealer::from_key(&key));
        }
        let path = data_dir.join("data.key");
        let err = |e| SealError::KeyFile(path.display().to_string(), e);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let key: [u8; 32] = bytes.try_into().map_err(|_| SealError::BadKey)?;
                Ok(Sealer::from_key(&key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = ChaCha20Poly1305::generate_key(&mut OsRng);
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(err)?;
                f.write_all(&key).and_then(|_| f.sync_all()).map_err(err)?;
                tracing::info!(path = %path.display(), "created a new data key for sealing held requests");
                Ok(Sealer {
                    cipher: ChaCha20Poly1305::new(&key),
                })
            }
            Err(e) => Err(err(e)),
        }
    }

    /// `nonce || ciphertext`.
    pub fn seal(&self, plain: &[u8]) -> Vec<u8> {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let mut out = nonce.to_vec();
        // Encryption with a fresh nonce only fails for absurd lengths.
        out.extend(self.cipher.encrypt(&nonce, plain).unwrap_or_default());
        out
    }

    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        if sealed.len() < NONCE {
            return Err(SealError::Open);
        }
        let (nonce, ct) = sealed.split_at(NONCE);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| SealError::Open)
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 {
        return None;
    }
    (0..32)
        .map(|i| u8::from_str_radix(s.get(i * 2..i * 2 + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn seals_opens_and_refuses_tampering() {
        let s = Sealer::from_key(&[7; 32]);
        let sealed = s.seal(b"Authorization: Basic QUM6dG9rZW4=");
        assert!(!sealed.windows(5).any(|w| w == b"Basic"));
        assert_eq!(
            s.open(&sealed).unwrap(),
            b"Authorization: Basic QUM6dG9rZW4="
        );
        let mut bad = sealed.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(s.open(&bad).is_err());
        assert!(Sealer::from_key(&[8; 32]).open(&sealed).is_err());
    }

    #[test]
    fn creates_a_private_key_file_once() {
        let dir = std::env::temp_dir().join(format!("tollgate-seal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = Sealer::load(None, &dir).unwrap();
        let mode = std::fs::metadata(dir.join("data.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = Sealer::load(None, &dir).unwrap();
        assert_eq!(b.open(&a.seal(b"x")).unwrap(), b"x");
        let hex = "11".repeat(32);
        assert!(Sealer::load(Some(&hex), &dir).is_ok());
        assert!(Sealer::load(Some("short"), &dir).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
