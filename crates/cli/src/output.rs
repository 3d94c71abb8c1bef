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

/// `e` and its causes on one line, joined by `: ` (for per-item reports,
/// where [`Printer::error`]'s multi-line form does not fit).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// At most 200 characters of untrusted `text` for a message, `…` marking a cut.
pub fn shorten(text: &str) -> String {
    shorten_to(text, 200, "…")
}

/// At most `max_chars` characters of untrusted `text` for a message, with
/// `marker` appended when something was cut.
pub fn shorten_to(text: &str, max_chars: usize, marker: &str) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}{marker}", text.get(..end).unwrap_or_default()),
        None => text.to_owned(),
    }
}

impl Default for Printer {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_shortened_on_a_char_boundary() {
        assert_eq!(shorten_to("abc", 80, "..."), "abc");
        let long = "é".repeat(100);
        let short = shorten_to(&long, 80, "...");
        assert_eq!(short.chars().count(), 83);
        assert!(short.ends_with("..."));
        assert_eq!(shorten(&long), long);
        let longer = "x".repeat(201);
        assert_eq!(shorten(&longer), format!("{}…", "x".repeat(200)));
    }

    #[test]
    fn error_chain_joins_sources() {
        let inner = std::io::Error::other("inner");
        let outer = CliError::Stdout(inner);
        assert_eq!(
            error_chain(&outer),
            "failed to write to standard output: inner"
        );
    }
}
