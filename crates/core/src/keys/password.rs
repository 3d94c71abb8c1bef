//! The password that protects a cosign encrypted private key.

use std::fmt;

use zeroize::Zeroizing;

/// A password for a cosign encrypted key, zeroized on drop.
///
/// Any byte string is a valid password, including the empty one (cosign
/// writes keys with an empty password when `COSIGN_PASSWORD` is set to "").
/// `Debug` never shows the bytes.
#[derive(Clone)]
pub struct Password(Zeroizing<Vec<u8>>);

impl Password {
    /// Wraps the password bytes (taken by value so no copy is left behind).
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The empty password.
    pub fn empty() -> Self {
        Self::new(Vec::new())
    }

    /// The password bytes, as fed to scrypt.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether this is the empty password.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Zeroizing<String>> for Password {
    fn from(s: Zeroizing<String>) -> Self {
        Self::new(s.as_bytes().to_vec())
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let p = Password::new(b"hunter2".to_vec());
        let s = format!("{p:?}");
        assert!(!s.contains("hunter2"));
        assert!(s.contains("<redacted>"));
        assert_eq!(p.as_bytes(), b"hunter2");
        assert!(Password::empty().is_empty());
    }
}
