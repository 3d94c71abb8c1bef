//! Content digests (`sha256:<hex>`), as OCI uses them to address manifests and blobs.

use std::fmt;
use std::str::FromStr;

use sha2::Digest as _;

/// A hash algorithm that a [`Digest`] may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DigestAlgorithm {
    /// SHA-256, 64 lowercase hex digits. Every digest rsign writes uses it.
    Sha256,
    /// SHA-512, 128 lowercase hex digits. Accepted when read.
    Sha512,
}

impl DigestAlgorithm {
    /// The algorithm's name as written before the colon.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    /// The number of hex digits in an encoded digest of this algorithm.
    pub fn hex_len(self) -> usize {
        match self {
            Self::Sha256 => 64,
            Self::Sha512 => 128,
        }
    }
}

/// A validated content digest such as `sha256:2c26b46b…`.
///
/// Construction checks the algorithm and that the hex part has the right
/// length and is lowercase hex, so two equal digests compare equal as values.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: DigestAlgorithm,
    hex: String,
}

/// Why a string is not a valid [`Digest`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// No `algorithm:` prefix.
    #[error("digest `{0}` has no `algorithm:` prefix (expected `sha256:<64 hex digits>`)")]
    MissingAlgorithm(String),
    /// An algorithm other than sha256 or sha512.
    #[error("unsupported digest algorithm `{0}` (supported: sha256, sha512)")]
    UnsupportedAlgorithm(String),
    /// The hex part has the wrong length or is not lowercase hex.
    #[error(
        "digest `{value}` is malformed: expected {expected} lowercase hex digits after `{algorithm}:`"
    )]
    BadHex {
        /// The input, truncated for display.
        value: String,
        /// The algorithm named in the input.
        algorithm: &'static str,
        /// How many hex digits that algorithm needs.
        expected: usize,
    },
}

impl Digest {
    /// The SHA-256 digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Self {
        Self {
            algorithm: DigestAlgorithm::Sha256,
            hex: hex::encode(sha2::Sha256::digest(bytes)),
        }
    }

    /// A SHA-256 digest from its 32 raw bytes.
    pub fn from_sha256_bytes(bytes: [u8; 32]) -> Self {
        Self {
            algorithm: DigestAlgorithm::Sha256,
            hex: hex::encode(bytes),
        }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> DigestAlgorithm {
        self.algorithm
    }

    /// The lowercase hex part, without the algorithm prefix.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// Whether `bytes` hash to this digest (with this digest's algorithm).
    pub fn matches(&self, bytes: &[u8]) -> bool {
        let actual = match self.algorithm {
            DigestAlgorithm::Sha256 => hex::encode(sha2::Sha256::digest(bytes)),
            DigestAlgorithm::Sha512 => hex::encode(sha2::Sha512::digest(bytes)),
        };
        actual == self.hex
    }

    /// The hash of `bytes` computed with this digest's algorithm.
    pub fn of_same_algorithm(&self, bytes: &[u8]) -> Self {
        match self.algorithm {
            DigestAlgorithm::Sha256 => Self::sha256_of(bytes),
            DigestAlgorithm::Sha512 => Self {
                algorithm: DigestAlgorithm::Sha512,
                hex: hex::encode(sha2::Sha512::digest(bytes)),
            },
        }
    }

    /// cosign's attachment tag stem: `sha256-<hex>` (`:` is not allowed in tags).
    pub fn tag_stem(&self) -> String {
        format!("{}-{}", self.algorithm.as_str(), self.hex)
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let shown = || s.chars().take(140).collect::<String>();
        let (alg, hex) = s
            .split_once(':')
            .ok_or_else(|| DigestError::MissingAlgorithm(shown()))?;
        let algorithm = match alg {
            "sha256" => DigestAlgorithm::Sha256,
            "sha512" => DigestAlgorithm::Sha512,
            other => {
                return Err(DigestError::UnsupportedAlgorithm(
                    other.chars().take(40).collect(),
                ));
            }
        };
        let ok = hex.len() == algorithm.hex_len()
            && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !ok {
            return Err(DigestError::BadHex {
                value: shown(),
                algorithm: algorithm.as_str(),
                expected: algorithm.hex_len(),
            });
        }
        Ok(Self {
            algorithm,
            hex: hex.to_owned(),
        })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.as_str(), self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_validates() {
        let d = Digest::sha256_of(b"foo");
        assert_eq!(
            d.to_string(),
            "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
        );
        assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
        assert!(d.matches(b"foo"));
        assert!(!d.matches(b"bar"));
        assert_eq!(d.tag_stem(), format!("sha256-{}", d.hex()));
    }

    #[test]
    fn rejects_malformed() {
        assert!(matches!(
            "abc".parse::<Digest>(),
            Err(DigestError::MissingAlgorithm(_))
        ));
        assert!(matches!(
            "md5:abc".parse::<Digest>(),
            Err(DigestError::UnsupportedAlgorithm(_))
        ));
        assert!(matches!(
            "sha256:ABC".parse::<Digest>(),
            Err(DigestError::BadHex { .. })
        ));
        let upper = format!("sha256:{}", "A".repeat(64));
        assert!(upper.parse::<Digest>().is_err());
        let short = format!("sha256:{}", "a".repeat(63));
        assert!(short.parse::<Digest>().is_err());
        let ok = format!("sha512:{}", "a".repeat(128));
        assert!(ok.parse::<Digest>().is_ok());
    }
}
