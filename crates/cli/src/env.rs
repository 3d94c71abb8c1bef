//! Every environment variable `rsign` reads, in one place.
//!
//! | variable | used for |
//! | -------- | -------- |
//! | [`RSIGN_PASSWORD`] | password of an encrypted private key, used verbatim (even when empty) |
//! | [`COSIGN_PASSWORD`] | cosign's name for the same; `RSIGN_PASSWORD` wins when both are set |
//! | [`NO_COLOR`] | when set and not empty, no colour on stderr |
//! | [`RUST_LOG`] | log filter for `--verbose` logging (tracing `EnvFilter` syntax) |

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

#[cfg(unix)]
fn os_bytes(value: OsString) -> Vec<u8> {
    use std::os::unix::ffi::OsStringExt;
    value.into_vec()
}

#[cfg(not(unix))]
fn os_bytes(value: OsString) -> Vec<u8> {
    value.to_string_lossy().into_owned().into_bytes()
}
