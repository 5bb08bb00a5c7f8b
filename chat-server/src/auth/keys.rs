//! API keys: `mas_<8-character id>_<32-character secret>`, letters and digits
//! from the operating system's random source. The id part is kept in clear to
//! recognise a key in listings; only the SHA-256 of the whole key is stored.

use rand::{Rng, TryRngCore, distr::Alphanumeric, rngs::OsRng};
use sha2::{Digest, Sha256};

pub const PREFIX: &str = "mas_";
const ID_LEN: usize = 8;
const SECRET_LEN: usize = 32;

/// `len` letters and digits from the operating system's random source.
pub fn random(len: usize) -> String {
    let mut rng = OsRng.unwrap_err();
    (0..len).map(|_| rng.sample(Alphanumeric) as char).collect()
}

/// A new key: (the key to show once, its recognisable prefix `mas_xxxxxxxx`).
pub fn generate() -> (String, String) {
    let id = random(ID_LEN);
    let key = format!("{PREFIX}{id}_{}", random(SECRET_LEN));
    (key, format!("{PREFIX}{id}"))
}

/// Whether `key` has the shape of a key (checked before any lookup).
pub fn looks_like_key(key: &str) -> bool {
    key.strip_prefix(PREFIX)
        .and_then(|rest| rest.split_once('_'))
        .is_some_and(|(id, secret)| {
            id.len() == ID_LEN
                && secret.len() == SECRET_LEN
                && id
                    .chars()
                    .chain(secret.chars())
                    .all(|c| c.is_ascii_alphanumeric())
        })
}

/// The stored form of a key.
pub fn hash(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_recognisable_and_hashed() {
        let (key, prefix) = generate();
        assert!(looks_like_key(&key), "{key}");
        assert!(key.starts_with(&prefix) && prefix.len() == PREFIX.len() + ID_LEN);
        assert_ne!(generate().0, key);
        assert_eq!(hash(&key).len(), 64);
        assert_ne!(hash(&key), hash(&generate().0));
        for bad in [
            "",
            "mas_",
            "mas_abc_def",
            "sk-123",
            &key[..key.len() - 1],
            &format!("{key}!"),
        ] {
            assert!(!looks_like_key(bad), "{bad}");
        }
    }
}
