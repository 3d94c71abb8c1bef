//! cosign encrypted private key format.
