//! Getting the password of an encrypted private key.
//!
//! In order: the environment ([`crate::env::RSIGN_PASSWORD`], then
//! [`crate::env::COSIGN_PASSWORD`], used verbatim even when empty); else a
//! prompt on the terminal when standard input is one (asked twice when a key
//! is being created); else the first line of standard input, without its line
//! ending.
//!
//! Difference from cosign 2.5: cosign uses *all* of a piped standard input,
//! trailing newline included, so `echo pw | cosign ...` uses `"pw\n"`; rsign
//! uses `"pw"`. `printf pw | ...` means the same password to both.
//!
//! The password lives in [`Password`] (zeroized on drop, redacted in
//! `Debug`) and is never printed or logged.

use std::io::{BufRead, IsTerminal};

use rsign_core::keys::Password;
use zeroize::Zeroizing;

/// The longest password line read from standard input, in bytes.
pub const MAX_STDIN_PASSWORD_BYTES: usize = 4096;

/// Why a password is needed, which decides whether it is confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Unlocking an existing key: asked once.
    Unlock,
    /// Protecting a new key: asked twice on a terminal.
    Create,
}

/// Why no password could be obtained.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// Reading from the terminal failed.
    #[error("failed to read the password from the terminal")]
    Prompt(#[source] std::io::Error),
    /// The two entries typed on the terminal differ.
    #[error("the two passwords typed do not match")]
    Mismatch,
    /// Reading standard input failed.
    #[error("failed to read the password from standard input")]
    Stdin(#[source] std::io::Error),
    /// The first line of standard input is too long to be a password.
    #[error("the password line on standard input is longer than {limit} bytes")]
    StdinTooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// Standard input is the data being signed, so it cannot hold the password.
    #[error("a password is needed, but standard input is the data to sign")]
    StdinIsInput,
}

impl PasswordError {
    /// A suggestion for the user, when there is one.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Self::StdinIsInput | Self::Prompt(_) => {
                Some("set the password in `RSIGN_PASSWORD` (or `COSIGN_PASSWORD`)")
            }
            _ => None,
        }
    }
}

/// Where a command's standard input goes, which decides whether the
/// password may be read from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stdin {
    /// Standard input is free for the password.
    Free,
    /// Standard input is the command's data (`FILE` is `-`).
    Data,
}

/// Gets the password for `purpose`; `key` names the key in the prompt.
pub fn get(purpose: Purpose, stdin: Stdin) -> Result<Password, PasswordError> {
    if let Some((password, var)) = crate::env::password() {
        tracing::debug!(
            variable = var,
            "using the key password from the environment"
        );
        return Ok(password);
    }
    if std::io::stdin().is_terminal() {
        tracing::debug!("asking for the key password on the terminal");
        return prompt(purpose);
    }
    if stdin == Stdin::Data {
        return Err(PasswordError::StdinIsInput);
    }
    tracing::debug!("reading the key password from standard input");
    read_line(std::io::stdin().lock())
}

fn prompt(purpose: Purpose) -> Result<Password, PasswordError> {
    let first = Zeroizing::new(
        rpassword::prompt_password("Enter password for private key: ")
            .map_err(PasswordError::Prompt)?,
    );
    if purpose == Purpose::Create {
        let second = Zeroizing::new(
            rpassword::prompt_password("Enter password for private key again: ")
                .map_err(PasswordError::Prompt)?,
        );
        if *first != *second {
            return Err(PasswordError::Mismatch);
        }
    }
    Ok(Password::from(first))
}

/// Reads the first line of `input` (at most [`MAX_STDIN_PASSWORD_BYTES`]),
/// without its `\n` or `\r\n`.
fn read_line(input: impl BufRead) -> Result<Password, PasswordError> {
    let mut line = Zeroizing::new(Vec::new());
    // One byte more than the limit tells a too-long line from one that fits.
    let mut bounded = input.take(MAX_STDIN_PASSWORD_BYTES as u64 + 2);
    bounded
        .read_until(b'\n', &mut line)
        .map_err(PasswordError::Stdin)?;
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
    if line.len() > MAX_STDIN_PASSWORD_BYTES {
        return Err(PasswordError::StdinTooLong {
            limit: MAX_STDIN_PASSWORD_BYTES,
        });
    }
    Ok(Password::new(std::mem::take(&mut *line)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_without_line_ending() {
        assert_eq!(read_line(&b"pw\nrest"[..]).unwrap().as_bytes(), b"pw");
        assert_eq!(read_line(&b"pw\r\n"[..]).unwrap().as_bytes(), b"pw");
        assert_eq!(read_line(&b"pw"[..]).unwrap().as_bytes(), b"pw");
        assert_eq!(read_line(&b" p w \n"[..]).unwrap().as_bytes(), b" p w ");
        assert!(read_line(&b""[..]).unwrap().is_empty());
        assert!(read_line(&b"\n"[..]).unwrap().is_empty());
    }

    #[test]
    fn long_line_rejected() {
        let ok = vec![b'a'; MAX_STDIN_PASSWORD_BYTES];
        assert_eq!(read_line(&ok[..]).unwrap().as_bytes().len(), ok.len());
        let long = vec![b'a'; MAX_STDIN_PASSWORD_BYTES + 1];
        assert!(matches!(
            read_line(&long[..]),
            Err(PasswordError::StdinTooLong { .. })
        ));
    }
}
