//! Every environment variable `rsign` reads, in one place.
//!
//! | variable | used for |
//! | -------- | -------- |
//! | [`RSIGN_PASSWORD`] | password of an encrypted private key, used verbatim (even when empty) |
//! | [`COSIGN_PASSWORD`] | cosign's name for the same; `RSIGN_PASSWORD` wins when both are set |
//! | [`NO_COLOR`] | when set and not empty, no colour on stderr |
//! | [`RUST_LOG`] | log filter for `--verbose` logging (tracing `EnvFilter` syntax) |
//! | [`RSIGN_REPOSITORY`] | registry repository holding attachments instead of the image's own |
//! | [`COSIGN_REPOSITORY`] | cosign's name for the same; `RSIGN_REPOSITORY` wins when both are set |
//! | [`RSIGN_REGISTRY_USERNAME`] | registry user name, instead of `--registry-username` (read by clap) |
//! | [`RSIGN_REGISTRY_PASSWORD`] | registry password, instead of `--registry-password` (read by clap) |
//! | [`RSIGN_MAX_ATTACHMENT_SIZE`] | bytes `verify-blob-attestation` reads of the blob at most |
//! | [`COSIGN_MAX_ATTACHMENT_SIZE`] | cosign's name for the same; `RSIGN_MAX_ATTACHMENT_SIZE` wins |
//!
//! Empty values count as unset, except for the passwords, which are used
//! verbatim.

use std::ffi::OsString;

use rsign_core::keys::Password;

/// Password of an encrypted private key; used verbatim when set, even empty.
pub const RSIGN_PASSWORD: &str = "RSIGN_PASSWORD";

/// cosign's password variable, honoured for drop-in compatibility.
pub const COSIGN_PASSWORD: &str = "COSIGN_PASSWORD";

/// Turns colour off when set to a non-empty value (<https://no-color.org>).
pub const NO_COLOR: &str = "NO_COLOR";

/// Log filter for tracing output on stderr.
pub const RUST_LOG: &str = "RUST_LOG";

/// Puts attachments in this registry repository instead of the image's own.
pub const RSIGN_REPOSITORY: &str = "RSIGN_REPOSITORY";

/// cosign's name for [`RSIGN_REPOSITORY`]; `RSIGN_REPOSITORY` wins when both are set.
pub const COSIGN_REPOSITORY: &str = "COSIGN_REPOSITORY";

/// Registry user name (instead of `--registry-username`).
pub const RSIGN_REGISTRY_USERNAME: &str = "RSIGN_REGISTRY_USERNAME";

/// Registry password (instead of `--registry-password`).
pub const RSIGN_REGISTRY_PASSWORD: &str = "RSIGN_REGISTRY_PASSWORD";

/// Bounds the blob `verify-blob-attestation` reads (bytes); wins over cosign's name.
pub const RSIGN_MAX_ATTACHMENT_SIZE: &str = "RSIGN_MAX_ATTACHMENT_SIZE";

/// cosign's variable bounding the blob read (bytes).
pub const COSIGN_MAX_ATTACHMENT_SIZE: &str = "COSIGN_MAX_ATTACHMENT_SIZE";

/// The key password from the environment, with the name of the variable it
/// came from; `None` when neither variable is set.
pub fn password() -> Option<(Password, &'static str)> {
    [RSIGN_PASSWORD, COSIGN_PASSWORD]
        .into_iter()
        .find_map(|name| std::env::var_os(name).map(|v| (Password::new(os_bytes(v)), name)))
}

/// Whether colour is disabled by `NO_COLOR`.
pub fn no_color() -> bool {
    std::env::var_os(NO_COLOR).is_some_and(|v| !v.is_empty())
}

/// Whether `RUST_LOG` is set.
pub fn rust_log_set() -> bool {
    std::env::var_os(RUST_LOG).is_some()
}

/// The attachment repository as written in the environment, with the
/// variable it came from; `None` when neither is set (or both are empty).
pub fn attachment_repository() -> Option<(String, &'static str)> {
    first_set([RSIGN_REPOSITORY, COSIGN_REPOSITORY], |v| v)
}

/// The blob size limit as written in the environment (trimmed), with the
/// variable it came from; `None` when neither is set to a non-blank value.
pub fn max_attachment_size() -> Option<(String, &'static str)> {
    first_set(
        [RSIGN_MAX_ATTACHMENT_SIZE, COSIGN_MAX_ATTACHMENT_SIZE],
        str::trim,
    )
}

/// The first of `names` whose value, after `clean`, is not empty.
fn first_set(names: [&'static str; 2], clean: fn(&str) -> &str) -> Option<(String, &'static str)> {
    names.into_iter().find_map(|name| {
        let value = std::env::var_os(name)?;
        let value = value.to_string_lossy();
        let value = clean(&value);
        (!value.is_empty()).then(|| (value.to_owned(), name))
    })
}

#[cfg(unix)]
fn os_bytes(value: OsString) -> Vec<u8> {
    use std::os::unix::ffi::OsStringExt;
    value.into_vec()
}

#[cfg(not(unix))]
fn os_bytes(value: OsString) -> Vec<u8> {
    value.to_string_lossy().into_owned().into_bytes()
}
