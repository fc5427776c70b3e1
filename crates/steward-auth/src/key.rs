//! API keys: the `stw_<id>_<secret>` format, making a key, and checking a
//! presented secret against its stored keyed hash.
//!
//! The id (12 characters of `a-z0-9`) is public: it names the key in lists,
//! logs and audit rows. The secret (256 bits from the OS, 64 hex digits) is
//! shown once, when the key is made; the store keeps only
//! HMAC-SHA-256(server secret, secret). A stolen database therefore yields no
//! usable key without the server secret, and a key needs no slow hash: its
//! secret is random, not a password.

use std::time::Duration;

use hmac::{KeyInit, Mac};
use steward_store::{ApiKeyRecord, Store};

use crate::access::{Permission, Role};
use crate::error::{Error, Result};
use crate::secret::ServerSecret;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Every Steward key starts with this, so that secret scanners can find one
/// pasted where it should not be.
pub const KEY_PREFIX: &str = "stw_";

const ID_CHARS: usize = 12;
const ID_ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const SECRET_BYTES: usize = 32;

/// A key as presented, split into its parts; borrowed from the header.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PresentedKey<'a> {
    pub id: &'a str,
    secret: &'a str,
}

/// The secret stays out of logs.
impl std::fmt::Debug for PresentedKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresentedKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Reads `stw_<id>_<secret>`, checking the shape of both parts, so that
/// garbage never reaches the store.
pub fn parse_key(text: &str) -> Result<PresentedKey<'_>> {
    let rest = text.strip_prefix(KEY_PREFIX).ok_or(Error::MalformedKey)?;
    let (id, secret) = rest.split_once('_').ok_or(Error::MalformedKey)?;
    let id_ok = id.len() == ID_CHARS && id.bytes().all(|byte| ID_ALPHABET.contains(&byte));
    let secret_ok = secret.len() == 2 * SECRET_BYTES
        && secret
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte));
    if id_ok && secret_ok {
        Ok(PresentedKey { id, secret })
    } else {
        Err(Error::MalformedKey)
    }
}

/// Reads an `Authorization` header value: `Bearer <key>` (the scheme in any
/// case, as RFC 9110 says).
pub fn parse_bearer(header: &str) -> Result<PresentedKey<'_>> {
    let (scheme, token) = header.trim().split_once(' ').ok_or(Error::MalformedKey)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Error::MalformedKey);
    }
    parse_key(token.trim())
}

impl PresentedKey<'_> {
    /// Whether the secret matches `hash`, compared in constant time.
    pub fn verify(&self, server_secret: &ServerSecret, hash: &[u8]) -> bool {
        keyed_hasher(server_secret, self.secret)
            .verify_slice(hash)
            .is_ok()
    }
}

fn keyed_hasher(server_secret: &ServerSecret, key_secret: &str) -> HmacSha256 {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(server_secret.expose().as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(key_secret.as_bytes());
    mac
}

/// HMAC-SHA-256(server secret, key secret): what the store keeps.
fn hash_secret(server_secret: &ServerSecret, key_secret: &str) -> Vec<u8> {
    keyed_hasher(server_secret, key_secret)
        .finalize()
        .into_bytes()
        .to_vec()
}

pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(Error::Random)?;
    Ok(bytes)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

/// 12 characters of `a-z0-9`, uniform: bytes at or above 252 (7 × 36) are
/// drawn again rather than folded, which would favour the first letters.
fn new_id() -> Result<String> {
    let mut id = String::with_capacity(ID_CHARS);
    while id.len() < ID_CHARS {
        for byte in random_bytes::<16>()? {
            if byte < 252 && id.len() < ID_CHARS {
                id.push(char::from(ID_ALPHABET[usize::from(byte % 36)]));
            }
        }
    }
    Ok(id)
}

/// Makes a key and stores it (hashed). Returns the key in full, which
/// nothing can show again, and the stored record. `scopes` empty: the key
/// may do all its role allows. `expires_in` `None`: it never expires.
pub async fn create_key(
    store: &Store,
    server_secret: &ServerSecret,
    name: &str,
    role: Role,
    scopes: &[Permission],
    expires_in: Option<Duration>,
) -> Result<(String, ApiKeyRecord)> {
    let id = new_id()?;
    let secret = hex(&random_bytes::<SECRET_BYTES>()?);
    // Whole milliseconds, as the store keeps times: the record returned is
    // the record stored.
    let created_at = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 3);
    let expires_at = expires_in.map(|duration| {
        chrono::Duration::from_std(duration)
            .ok()
            .and_then(|duration| created_at.checked_add_signed(duration))
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
    });
    let record = ApiKeyRecord {
        id: id.clone(),
        name: name.to_string(),
        role: role.as_str().to_string(),
        scopes: scopes
            .iter()
            .map(|scope| scope.as_str().to_string())
            .collect(),
        hash: hash_secret(server_secret, &secret),
        created_at,
        expires_at,
        revoked_at: None,
        last_used_at: None,
    };
    store.insert_api_key(&record).await?;
    Ok((format!("{KEY_PREFIX}{id}_{secret}"), record))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_secret() -> ServerSecret {
        ServerSecret::new("0123456789abcdef0123456789abcdef").expect("long enough")
    }

    #[test]
    fn keys_parse_only_in_their_exact_shape() {
        let secret = "a".repeat(64);
        let good = format!("stw_abcdefghij01_{secret}");
        let parsed = parse_key(&good).expect("well formed");
        assert_eq!(parsed.id, "abcdefghij01");
        let check = |text: &str, ok: bool| {
            assert_eq!(parse_key(text).is_ok(), ok, "{text}");
        };
        check(&good, true);
        check(&format!("sk_abcdefghij01_{secret}"), false);
        check(&format!("stw_abcdefghij0_{secret}"), false);
        check(&format!("stw_ABCDEFGHIJ01_{secret}"), false);
        check(&format!("stw_abcdefghij01_{}", "a".repeat(63)), false);
        check(&format!("stw_abcdefghij01_{}", "g".repeat(64)), false);
        check(&format!("stw_abcdefghij01{secret}"), false);
        check("", false);

        let bearer = |header: &str, ok: bool| {
            assert_eq!(parse_bearer(header).is_ok(), ok, "{header}");
        };
        bearer(&format!("Bearer {good}"), true);
        bearer(&format!("bearer  {good} "), true);
        bearer(&format!("Basic {good}"), false);
        bearer(&good, false);
        bearer("Bearer", false);
        assert!(!format!("{parsed:?}").contains(&secret), "{parsed:?}");
    }

    #[test]
    fn ids_are_random_and_well_formed() {
        let first = new_id().expect("random");
        let second = new_id().expect("random");
        assert_ne!(first, second);
        for id in [first, second] {
            assert_eq!(id.len(), ID_CHARS);
            assert!(id.bytes().all(|byte| ID_ALPHABET.contains(&byte)), "{id}");
        }
        assert_eq!(hex(&[0x00, 0x9f, 0xff]), "009fff");
    }

    #[test]
    fn a_secret_verifies_only_under_its_server_secret() {
        let key = format!("stw_abcdefghij01_{}", "0f".repeat(32));
        let presented = parse_key(&key).expect("well formed");
        let hash = hash_secret(&server_secret(), presented.secret);
        assert_eq!(hash.len(), 32);
        assert!(presented.verify(&server_secret(), &hash));
        let other = ServerSecret::new("another secret that is long enough").expect("long");
        assert!(!presented.verify(&other, &hash));
        let mut tampered = hash.clone();
        tampered[31] ^= 1;
        assert!(!presented.verify(&server_secret(), &tampered));
        assert!(!presented.verify(&server_secret(), &hash[..31]));
    }
}
