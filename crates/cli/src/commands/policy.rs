//! `rsign policy`: admission policies (sigstore policy-controller's
//! `ClusterImagePolicy` subset and rsign's `ImagePolicy`) from the command line.
//!
//! * `rsign policy eval --policy FILE|DIR… IMAGE…` decides, for each image,
//!   what an admission controller running the same policies would decide:
//!   one [`rsign_policy::Evaluator`] over a [`RegistrySource`] (one shared
//!   registry client), every image evaluated concurrently (`--jobs` at a
//!   time), so the same image listed twice is fetched once (single flight).
//!   Output: text, or `--output json` with one [`Decision::to_json`]
//!   document per line, in argument order.
//! * `rsign policy check FILE|DIR…` validates policy files and lists every
//!   problem as `FILE:LINE:COLUMN: message`.
//!
//! Exit codes: `eval` 0 when every image is admitted (`allow` or `warn`),
//! 1 when any is denied by policy, 2 on errors — invalid policies, bad
//! arguments, and denials that only say the evaluation could not be done
//! (`fetch-failed`: registry unreachable or image missing,
//! `deadline-exceeded`). `check` 0 when valid, 2 when not.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use futures::StreamExt as _;
use rsign_core::duration::parse_duration;
use rsign_policy::{
    Code, Decision, Evaluator, EvaluatorOptions, LoadError, NoMatch, Outcome, PolicySet, Problem,
    Verdict,
};
use rsign_registry::policy_source::{KeysetFileLoader, RegistrySource};
use rsign_registry::{Reference, RegistryClient};

use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::output::Printer;
use crate::registry_args::RegistryArgs;
use crate::target::{OCI_PREFIX, TargetError, attachment_repository_from_env};

/// Default number of images evaluated at once.
pub const DEFAULT_EVAL_JOBS: usize = 32;
/// The most images evaluated at once.
pub const MAX_EVAL_JOBS: usize = 256;
/// The default deadline of one image's evaluation (below Kubernetes' 10 s
/// webhook timeout).
pub const DEFAULT_TIMEOUT: &str = "8s";

/// `rsign policy`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  rsign policy check policies/
  rsign policy eval --policy policies/ --output json registry.example.com/team/app:1.4

Exit codes: 0 every image allowed (warn counts as allowed), 1 any denied, \
2 an error (invalid policy, image that could not be checked).")]
pub struct PolicyArgs {
    /// What to do with policies.
    #[command(subcommand)]
    pub command: PolicyCommand,
}

/// The subcommands of `rsign policy`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Decide whether images may run under admission policies.
    Eval(EvalArgs),
    /// Validate policy files and list every problem with its location.
    Check(CheckArgs),
}

/// What to do with an image no policy matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NoMatchArg {
    /// Reject it.
    Deny,
    /// Admit it.
    Allow,
    /// Admit it with a warning.
    Warn,
}

impl From<NoMatchArg> for NoMatch {
    fn from(arg: NoMatchArg) -> Self {
        match arg {
            NoMatchArg::Deny => NoMatch::Deny,
            NoMatchArg::Allow => NoMatch::Allow,
            NoMatchArg::Warn => NoMatch::Warn,
        }
    }
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Lines for people.
    Text,
    /// One JSON document per line.
    Json,
}

/// `rsign policy eval`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  rsign policy eval --policy policies/ registry.example/app:v1 registry.example/db:2
  rsign policy eval --policy prod.yaml --no-match allow --output json registry.example/app@sha256:…

Policies: sigstore policy-controller `ClusterImagePolicy` documents (key and \
static authorities, attestations with Rego, `mode: warn`) and rsign's \
`ImagePolicy` (adds `keys`, `threshold`, `keyset`). Signatures and \
attestations are read from `sha256-<hex>.sig`/`.att` in the image's \
repository (or `RSIGN_REPOSITORY`). Exit codes: 0 every image admitted \
(allow or warn), 1 some image denied, 2 error (invalid policy, registry \
unreachable, image missing, deadline exceeded).")]
pub struct EvalArgs {
    /// A policy file, or a directory whose `.yaml`, `.yml` and `.json` files
    /// are all read (repeatable).
    #[arg(long = "policy", value_name = "FILE|DIR", required = true)]
    pub policies: Vec<PathBuf>,
    /// What to do with images no policy matches.
    #[arg(long, value_enum, default_value_t = NoMatchArg::Deny)]
    pub no_match: NoMatchArg,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Admit (with a warning) images whose signatures cannot be fetched in
    /// time instead of denying them. Anyone who can slow the registry then
    /// bypasses every policy.
    #[arg(long)]
    pub dangerous_fail_open: bool,
    /// Deadline of each image's evaluation, e.g. `8s`, `30s`, `1m`.
    #[arg(long, value_name = "DURATION", default_value = DEFAULT_TIMEOUT)]
    pub timeout: String,
    /// How many images are evaluated at once.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_EVAL_JOBS)]
    pub jobs: usize,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// The images: `REGISTRY/REPO[:TAG][@DIGEST]`.
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

/// `rsign policy check`.
#[derive(Debug, Args)]
#[command(after_help = "Example:
  rsign policy check policies/ extra.yaml

Prints every problem as FILE:LINE:COLUMN: message (the position when known). \
Exit codes: 0 valid, 2 invalid.")]
pub struct CheckArgs {
    /// Output format (`json`: one problem object per line).
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Policy files or directories.
    #[arg(value_name = "FILE|DIR", required = true)]
    pub files: Vec<PathBuf>,
}

/// A validated `rsign policy …`.
#[derive(Debug)]
pub enum Request {
    /// `eval`.
    Eval(EvalRequest),
    /// `check`.
    Check(CheckRequest),
}

/// A validated `rsign policy eval`.
#[derive(Debug)]
pub struct EvalRequest {
    /// Policy files and directories.
    pub policies: Vec<PathBuf>,
    /// No-match behaviour.
    pub no_match: NoMatch,
    /// Output format.
    pub output: OutputFormat,
    /// `--dangerous-fail-open`.
    pub fail_open: bool,
    /// Per-image deadline.
    pub timeout: Duration,
    /// Concurrency.
    pub jobs: usize,
    /// Registry access.
    pub registry: RegistryArgs,
    /// The images, as given (each a valid registry reference).
    pub images: Vec<String>,
}

/// A validated `rsign policy check`.
#[derive(Debug)]
pub struct CheckRequest {
    /// Output format.
    pub output: OutputFormat,
    /// Policy files and directories.
    pub files: Vec<PathBuf>,
}

impl TryFrom<PolicyArgs> for Request {
    type Error = CliError;

    fn try_from(args: PolicyArgs) -> Result<Self, CliError> {
        match args.command {
            PolicyCommand::Eval(a) => EvalRequest::try_from(a).map(Request::Eval),
            PolicyCommand::Check(a) => Ok(Request::Check(CheckRequest {
                output: a.output,
                files: a.files,
            })),
        }
    }
}

impl TryFrom<EvalArgs> for EvalRequest {
    type Error = CliError;

    fn try_from(args: EvalArgs) -> Result<Self, CliError> {
        let timeout = parse_duration(&args.timeout).map_err(|e| CliError::InvalidArgument {
            flag: "--timeout",
            value: args.timeout.clone(),
            reason: e.to_string(),
        })?;
        if timeout.is_zero() {
            return Err(CliError::InvalidArgument {
                flag: "--timeout",
                value: args.timeout,
                reason: "the deadline must be longer than zero".into(),
            });
        }
        if args.jobs == 0 || args.jobs > MAX_EVAL_JOBS {
            return Err(CliError::InvalidArgument {
                flag: "--jobs",
                value: args.jobs.to_string(),
                reason: format!("expected 1 to {MAX_EVAL_JOBS}"),
            });
        }
        for image in &args.images {
            if image.starts_with(OCI_PREFIX) {
                return Err(CliError::InvalidArgument {
                    flag: "IMAGE",
                    value: image.clone(),
                    reason: "policies match registry references; `oci:` layouts cannot be \
                             evaluated (push the image to a registry first)"
                        .into(),
                });
            }
            image
                .parse::<Reference>()
                .map_err(|source| TargetError::Reference {
                    input: image.clone(),
                    source,
                })?;
        }
        Ok(Self {
            policies: args.policies,
            no_match: args.no_match.into(),
            output: args.output,
            fail_open: args.dangerous_fail_open,
            timeout,
            jobs: args.jobs,
            registry: args.registry,
            images: args.images,
        })
    }
}

/// Runs `rsign policy …`.
pub fn run(request: Request, printer: &Printer) -> Result<ExitStatus, CliError> {
    match request {
        Request::Eval(r) => eval(r, printer),
        Request::Check(r) => check(r, printer),
    }
}

/// Loads the policy set; on failure lists every problem on stderr.
fn load_policies(paths: &[PathBuf], printer: &Printer) -> Result<PolicySet, CliError> {
    match PolicySet::load_with(paths, &KeysetFileLoader::load_options()) {
        Ok(set) => Ok(set),
        Err(LoadError::Invalid { problems }) => {
            for p in &problems {
                printer.message(format_args!("{p}"));
            }
            Err(CliError::InvalidPolicies {
                count: problems.len(),
            })
        }
        Err(other) => {
            printer.message(format_args!("{other}"));
            Err(CliError::InvalidPolicies { count: 1 })
        }
    }
}

fn eval(request: EvalRequest, printer: &Printer) -> Result<ExitStatus, CliError> {
    let policies = load_policies(&request.policies, printer)?;
    let client = RegistryClient::new(request.registry.to_options(printer)?)
        .map_err(|e| TargetError::Client(Box::new(e)))?;
    let mut source = RegistrySource::new(client);
    if let Some((repo, _)) = attachment_repository_from_env(printer)? {
        source = source.with_attachment_repository(repo);
    }
    let mut options = EvaluatorOptions::default();
    options.deadline = request.timeout;
    options.no_match = request.no_match;
    if request.fail_open {
        printer.warning(
            "`--dangerous-fail-open`: images whose signatures cannot be fetched in time are \
             admitted without verification",
        );
        options = options.dangerous_fail_open();
    }
    let evaluator = Evaluator::new(policies, Arc::new(source), options);
    let runtime = super::runtime()?;
    let decisions: Vec<Decision> = runtime.block_on(async {
        futures::stream::iter(request.images.iter())
            .map(|image| evaluator.evaluate(image))
            .buffered(request.jobs)
            .collect()
            .await
    });
    let mut out = String::new();
    for decision in &decisions {
        match request.output {
            OutputFormat::Json => {
                out.push_str(&decision.to_json().to_string());
                out.push('\n');
            }
            OutputFormat::Text => render_text(decision, &mut out),
        }
    }
    printer.data(out.as_bytes())?;
    Ok(exit_status(&decisions))
}

/// 2 when an evaluation could not be done, else 1 when an image was denied,
/// else 0.
fn exit_status(decisions: &[Decision]) -> ExitStatus {
    let could_not_evaluate = |d: &Decision| {
        d.verdict == Verdict::Deny && matches!(d.code, Code::FetchFailed | Code::DeadlineExceeded)
    };
    if decisions.iter().any(could_not_evaluate) {
        ExitStatus::Error
    } else if decisions.iter().any(|d| !d.verdict.admits()) {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    }
}

fn verdict_label(v: Verdict) -> &'static str {
    match v {
        Verdict::Allow => "ALLOW",
        Verdict::Deny => "DENY",
        Verdict::Warn => "WARN",
    }
}

fn outcome_label(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "pass",
        Outcome::Fail => "fail",
        Outcome::Warn => "warn",
    }
}

/// `VERDICT image@digest (code): reason`, then one line per policy and
/// authority, then the warnings.
fn render_text(d: &Decision, out: &mut String) {
    use std::fmt::Write as _;
    let image = match &d.digest {
        Some(digest) if !d.image.contains('@') => format!("{}@{digest}", d.image),
        _ => d.image.clone(),
    };
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "{} {image} ({}): {}",
        verdict_label(d.verdict),
        d.code,
        d.reason
    );
    for p in &d.policies {
        let _ = write!(out, "  policy `{}`: {}", p.name, outcome_label(p.result));
        if let Some(code) = p.code {
            let _ = write!(out, " ({code})");
        }
        if let Some(reason) = &p.reason {
            let _ = write!(out, ": {reason}");
        }
        out.push('\n');
        for a in &p.authorities {
            let _ = writeln!(
                out,
                "    authority `{}`: {} ({}): {}",
                a.name,
                outcome_label(a.result),
                a.code,
                a.reason
            );
        }
    }
    for w in &d.warnings {
        let _ = writeln!(out, "  warning: {w}");
    }
}

fn check(request: CheckRequest, printer: &Printer) -> Result<ExitStatus, CliError> {
    let problems: Vec<Problem> =
        PolicySet::check(&request.files, &KeysetFileLoader::load_options());
    if problems.is_empty() {
        // Loading again to count policies would repeat the work; the check
        // found every file valid.
        printer.message(format_args!(
            "{} valid",
            request
                .files
                .iter()
                .map(|f| format!("`{}`", f.display()))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        return Ok(ExitStatus::Success);
    }
    let mut out = String::new();
    for p in &problems {
        match request.output {
            OutputFormat::Text => out.push_str(&p.to_string()),
            OutputFormat::Json => {
                out.push_str(&serde_json::to_string(p).unwrap_or_else(|_| p.to_string()));
            }
        }
        out.push('\n');
    }
    printer.data(out.as_bytes())?;
    printer.message(format_args!(
        "{} problem(s) found; nothing was evaluated",
        problems.len()
    ));
    Ok(ExitStatus::Error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        policy: PolicyArgs,
    }

    fn parse(args: &[&str]) -> Result<Request, CliError> {
        let mut all = vec!["rsign"];
        all.extend_from_slice(args);
        Wrapper::try_parse_from(all).unwrap().policy.try_into()
    }

    #[test]
    fn eval_arguments_are_validated() {
        let Request::Eval(r) = parse(&[
            "eval",
            "--policy",
            "a.yaml",
            "--policy",
            "dir",
            "--no-match",
            "warn",
            "--timeout",
            "2s",
            "--output",
            "json",
            "example.com/app:1",
        ])
        .unwrap() else {
            panic!("not eval")
        };
        assert_eq!(
            r.policies,
            vec![PathBuf::from("a.yaml"), PathBuf::from("dir")]
        );
        assert_eq!(r.no_match, NoMatch::Warn);
        assert_eq!(r.timeout, Duration::from_secs(2));
        assert_eq!(r.output, OutputFormat::Json);
        assert!(!r.fail_open);
        for bad in [
            vec!["eval", "--policy", "p", "--timeout", "0s", "x.io/a"],
            vec!["eval", "--policy", "p", "--timeout", "soon", "x.io/a"],
            vec!["eval", "--policy", "p", "--jobs", "0", "x.io/a"],
            vec!["eval", "--policy", "p", "oci:/tmp/lay:v1"],
            vec!["eval", "--policy", "p", "UPPER/Case"],
        ] {
            assert!(parse(&bad).is_err(), "{bad:?}");
        }
    }

    fn decision(verdict: Verdict, code: Code) -> Decision {
        Decision {
            image: "example.com/app:1".into(),
            digest: None,
            verdict,
            code,
            reason: "r".into(),
            policies: Vec::new(),
            warnings: vec!["w".into()],
        }
    }

    #[test]
    fn exit_codes_follow_the_worst_decision() {
        let allow = decision(Verdict::Allow, Code::AllPoliciesPassed);
        let warn = decision(Verdict::Warn, Code::WarnMode);
        let deny = decision(Verdict::Deny, Code::SignerNotTrusted);
        let unreachable = decision(Verdict::Deny, Code::FetchFailed);
        assert_eq!(
            exit_status(&[allow.clone(), warn.clone()]),
            ExitStatus::Success
        );
        assert_eq!(
            exit_status(&[allow.clone(), deny.clone()]),
            ExitStatus::Failure
        );
        assert_eq!(exit_status(&[deny, unreachable]), ExitStatus::Error);
        let mut text = String::new();
        render_text(&warn, &mut text);
        assert_eq!(
            text,
            "WARN example.com/app:1 (warn-mode): r\n  warning: w\n"
        );
    }
}
