//! Secrets: password hashing (argon2id), session tokens, bot token secrets, and their digests.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use plaza_core::Password;
use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ServiceError;

/// A valid argon2id hash of a password nobody has, verified against when a username is unknown.
pub(crate) const DECOY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Vn7l1bJ0wGv7m3Gx+0m6b4o9h8cH2e1Xb1wq8yKc2eA";

pub fn sha256(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

/// Compares two digests in constant time.
pub(crate) fn hashes_equal(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Hashes with argon2id (the crate's defaults, OWASP's minimum) on a blocking thread.
pub async fn hash_password(password: Password) -> Result<String, ServiceError> {
    tokio::task::spawn_blocking(move || {
        let salt_bytes: [u8; 16] = rand::rng().random();
        let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| ServiceError::Internal(format!("salt: {e}")))?;
        Argon2::default()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| ServiceError::Internal(format!("argon2: {e}")))
    })
    .await
    .map_err(|e| ServiceError::Internal(e.to_string()))?
}

pub async fn verify_password(password: Password, hash: String) -> Result<bool, ServiceError> {
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&hash).map_err(|e| ServiceError::Internal(format!("stored hash: {e}")))?;
        Ok(Argon2::default().verify_password(password.expose().as_bytes(), &parsed).is_ok())
    })
    .await
    .map_err(|e| ServiceError::Internal(e.to_string()))?
}

/// 256 random bits, URL-safe base64.
pub(crate) fn session_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// An id that must not be guessable (files, polls): 192 random bits, URL-safe base64 (32 characters).
pub(crate) fn opaque_id() -> String {
    let bytes: [u8; 24] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A content's stable short id: the first 96 bits of its SHA-256, URL-safe base64.
pub(crate) fn unique_id(sha256: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&sha256[..12.min(sha256.len())])
}

/// 35 characters of `[A-Za-z0-9_-]`, the shape of Telegram's token secrets (about 209 random bits).
pub(crate) fn bot_secret() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    let mut rng = rand::rng();
    (0..plaza_core::user::BOT_SECRET_LEN).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoy_hash_parses() {
        assert!(PasswordHash::new(DECOY_HASH).is_ok());
    }

    #[test]
    fn secrets_have_the_right_shape() {
        let s = bot_secret();
        assert_eq!(s.len(), 35);
        assert!(s.bytes().all(plaza_core::user::is_secret_byte));
        assert_ne!(bot_secret(), s);
        assert_eq!(session_token().len(), 43);
    }

    #[tokio::test]
    async fn passwords_verify() {
        let h = hash_password(Password::parse("hunter22").unwrap()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(Password::parse("hunter22").unwrap(), h.clone()).await.unwrap());
        assert!(!verify_password(Password::parse("hunter23").unwrap(), h).await.unwrap());
    }
}
