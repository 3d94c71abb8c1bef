//! Importing unencrypted PEM private keys.
