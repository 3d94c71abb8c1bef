//! The one place that writes to the terminal.
//!
//! Data (signatures, public keys: what a script would capture) goes to
//! standard output; messages, warnings and errors go to standard error.
//! `error:` and `warning:` are coloured only when standard error is a
//! terminal and `NO_COLOR` is not set.
#![allow(clippy::print_stderr)] // This module is the printer.

use std::io::{IsTerminal, Write};

use crate::error::CliError;

/// Writes data and messages; commands get one from `main`.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    color: bool,
}

impl Printer {
    /// A printer for this process's stdout and stderr.
    pub fn new() -> Self {
        Self {
            color: std::io::stderr().is_terminal() && !crate::env::no_color(),
        }
    }

    /// Writes `data` to standard output exactly as given.
    pub fn data(&self, data: &[u8]) -> Result<(), CliError> {
        let mut out = std::io::stdout().lock();
        out.write_all(data)
            .and_then(|()| out.flush())
            .map_err(CliError::Stdout)
    }

    /// Writes a message line to standard error.
    pub fn message(&self, message: impl std::fmt::Display) {
        eprintln!("{message}");
    }

    /// Writes `warning: message` to standard error.
    pub fn warning(&self, message: impl std::fmt::Display) {
        eprintln!("{} {message}", self.paint("warning:", "33"));
    }

    /// Writes an error with its chain of causes and its hint to standard error:
    /// `error: ...`, then one `  caused by: ...` line per source, then `hint: ...`.
    pub fn error(&self, error: &CliError) {
        eprintln!("{} {error}", self.paint("error:", "31"));
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            eprintln!("  caused by: {cause}");
            source = cause.source();
        }
        if let Some(hint) = error.hint() {
            eprintln!("{} {hint}", self.paint("hint:", "36"));
        }
    }

    /// Writes a command-line parsing error (already formatted by clap).
    pub fn usage_error(&self, error: &clap::Error) {
        // clap colours by its own rules (it honours NO_COLOR and terminals).
        let _ = error.print();
    }

    fn paint(&self, label: &str, ansi: &str) -> String {
        if self.color {
            format!("\x1b[1;{ansi}m{label}\x1b[0m")
        } else {
            label.to_owned()
        }
    }
}

impl Default for Printer {
    fn default() -> Self {
        Self::new()
    }
}
