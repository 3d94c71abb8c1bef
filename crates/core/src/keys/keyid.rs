//! Key identifiers: the SHA-256 of a public key's SPKI DER.

use std::fmt;
use std::str::FromStr;

use sha2::Digest as _;

/// The SHA-256 digest of a public key's DER-encoded SubjectPublicKeyInfo.
///
/// `Display` writes 64 lowercase hex digits; [`KeyId::short`] the first 16.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; 32]);

/// Why a string is not a [`KeyId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyIdError {
    /// Not 64 hex digits.
    #[error(
        "key id must be 64 hex digits (SHA-256 of the public key's SPKI DER), got {len} characters"
    )]
    BadLength {
        /// Length of the input in characters.
        len: usize,
    },
    /// Contains a non-hex character.
    #[error("key id contains a character that is not a hex digit")]
    NotHex,
}

impl KeyId {
    /// The key id of a DER-encoded SubjectPublicKeyInfo.
    pub fn of_spki_der(spki_der: &[u8]) -> Self {
        Self(sha2::Sha256::digest(spki_der).into())
    }

    /// The 32 digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The first 16 hex digits, for display next to a key.
    pub fn short(&self) -> String {
        let mut s = self.to_string();
        s.truncate(16);
        s
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl FromStr for KeyId {
    type Err = KeyIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 64 {
            return Err(KeyIdError::BadLength {
                len: s.chars().count(),
            });
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| KeyIdError::NotHex)?;
        Ok(Self(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_parse_round_trip() {
        let id = KeyId::of_spki_der(b"abc");
        let s = id.to_string();
        assert_eq!(
            s,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(id.short(), "ba7816bf8f01cfea");
        assert_eq!(s.parse::<KeyId>().unwrap(), id);
        assert_eq!(s.to_uppercase().parse::<KeyId>().unwrap(), id);
        assert_eq!("ab".parse::<KeyId>(), Err(KeyIdError::BadLength { len: 2 }));
        let bad = format!("{}g", &s[..63]);
        assert_eq!(bad.parse::<KeyId>(), Err(KeyIdError::NotHex));
    }
}
