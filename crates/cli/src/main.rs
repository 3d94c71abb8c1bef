//! The `rsign` command line: sign and verify container images and blobs,
//! compatible with cosign's formats and command lines.
//!
//! Layout: [`cli`] holds the raw clap arguments, [`commands`] one module per
//! command (each validating its arguments into a request first), [`exit`]
//! the exit codes, [`error`] the errors, [`output`] the only printer,
//! [`env`](mod@env) every environment variable, [`password`] the key password,
//! [`files`] bounded reads and atomic writes.
#![warn(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

mod cli;
mod commands;
mod env;
mod error;
mod exit;
mod files;
mod output;
mod password;
mod registry_args;
mod target;

use std::process::ExitCode;

use clap::Parser as _;

use crate::exit::ExitStatus;
use crate::output::Printer;

fn main() -> ExitCode {
    let printer = Printer::new();
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap: 0 for --help/--version, 2 for usage errors.
            printer.usage_error(&e);
            return match e.exit_code() {
                0 => ExitStatus::Success.into(),
                _ => ExitStatus::Error.into(),
            };
        }
    };
    init_logging(cli.global.verbose);
    match commands::run(cli.command, &printer) {
        Ok(status) => status.into(),
        Err(e) if e.is_broken_pipe() => ExitStatus::Success.into(),
        Err(e) => {
            printer.error(&e);
            e.exit_status().into()
        }
    }
}

/// Logs to stderr: warnings by default, `-v` debug, `-vv` trace; `RUST_LOG`
/// replaces the level when set.
fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let filter = if env::rust_log_set() {
        EnvFilter::from_default_env()
    } else {
        EnvFilter::new(match verbose {
            0 => "warn",
            1 => "debug",
            _ => "trace",
        })
    };
    // Fails only if a subscriber is already set, which nothing else does.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
