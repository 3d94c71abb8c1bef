//! Rego policies over in-toto attestations, evaluated with the embedded
//! [`regorus`] engine (no OPA binary, no network).
//!
//! # The input document
//!
//! `input` is the **verified in-toto statement** of one attestation, exactly as
//! decoded from the DSSE envelope's `payload` (the same document cosign's
//! `verify-attestation --policy` and sigstore policy-controller's attestation
//! policies evaluate). rsign does not add, remove or rename fields; the
//! statement's own JSON is the input:
//!
//! ```json
//! {
//!   "_type": "https://in-toto.io/Statement/v0.1",
//!   "predicateType": "https://cosign.sigstore.dev/attestation/vuln/v1",
//!   "subject": [
//!     { "name": "registry.example/app", "digest": { "sha256": "<64 hex>" } }
//!   ],
//!   "predicate": { "...": "predicate-specific, see below" }
//! }
//! ```
//!
//! | field | type | notes |
//! | --- | --- | --- |
//! | `input._type` | string | `https://in-toto.io/Statement/v0.1` (what cosign writes) or `https://in-toto.io/Statement/v1` |
//! | `input.predicateType` | string | full URI, never cosign's short `--type` name: `slsaprovenance` → `https://slsa.dev/provenance/v0.2`, `slsaprovenance1` → `https://slsa.dev/provenance/v1`, `spdxjson`/`spdx` → `https://spdx.dev/Document`, `cyclonedx` → `https://cyclonedx.org/bom`, `vuln` → `https://cosign.sigstore.dev/attestation/vuln/v1`, `custom` → `https://cosign.sigstore.dev/attestation/v1` |
//! | `input.subject` | array | `{name, digest: {alg: hex}}` objects; already matched against the image digest before the policy runs |
//! | `input.predicate` | any JSON | the predicate as attested, e.g. an SPDX document (`packages[]`), a CycloneDX BOM (`components[]`), SLSA v0.2 (`builder.id`) or v1 (`runDetails.builder.id`) provenance, or cosign's vuln predicate (`scanner.uri`, `scanner.version`, `scanner.result` = the scanner's raw report, e.g. a Trivy JSON report with `Results[].Vulnerabilities[].Severity`) |
//!
//! The policy is evaluated once per attestation whose predicate type matches
//! the one requested (`--type`); every such attestation must be allowed.
//! `data` holds only the policy's own rules: a policy is one self-contained
//! file (no imports of other policy modules, no external data documents).
//!
//! # The query
//!
//! Two conventions are in use and both are supported; the policy's package
//! decides which one rsign evaluates:
//!
//! * `package sigstore` → `data.sigstore.isCompliant` (cosign 2.x
//!   `verify-attestation --policy x.rego` and policy-controller). The rule is
//!   either a boolean, or an object `{"result": bool, "warning": string,
//!   "error": string}`, or a set/array of such objects (policy-controller's
//!   `isCompliant[response] { … }` form; allowed when any element's `result`
//!   is true). `warning` and `error` are optional strings.
//! * `package signature` → `data.signature.allow` (cosign's older
//!   `ValidateJSON` convention): a boolean.
//!
//! A rule that is undefined for an input (no `default`, body false) denies,
//! with an explanatory message in [`RegoOutcome::errors`]. A policy defining
//! neither rule is rejected at compile time ([`RegoError::MissingRule`]).
//!
//! # Syntax versions
//!
//! Rego v1 (`if`/`contains` keywords, `import rego.v1`) is tried first; when
//! that parse fails the source is parsed as Rego v0 (`allow { … }` bodies
//! without `if`, which is what cosign itself accepts). [`RegoPolicy::syntax`]
//! reports which one was used. A source that parses as neither reports the
//! error of the syntax it most resembles, with line and column.
//!
//! # Trust and bounds
//!
//! Policies are *operator-trusted* input (they come from the command line or
//! the admission controller's configuration); attestations are *untrusted*.
//! Bounds: policy source ≤ [`MAX_POLICY_BYTES`] (and regorus' own 20,000
//! lines / 1,024 columns), input document ≤ [`DEFAULT_MAX_INPUT_BYTES`] of
//! JSON (configurable), evaluation wall-clock time ≤ [`DEFAULT_TIME_LIMIT`]
//! (configurable; regorus checks its cooperative timer inside evaluation
//! loops, so even a pathological policy over hostile input stops).
//!
//! # Example
//!
//! ```
//! use rsign_policy::rego::RegoPolicy;
//!
//! let policy = RegoPolicy::compile(
//!     "require-passed.rego",
//!     r#"
//!     package sigstore
//!     default isCompliant := false
//!     isCompliant if input.predicate.passed == true
//!     "#,
//! )?;
//! let statement = serde_json::json!({
//!     "_type": "https://in-toto.io/Statement/v0.1",
//!     "predicateType": "https://cosign.sigstore.dev/attestation/v1",
//!     "subject": [],
//!     "predicate": {"passed": true}
//! });
//! assert!(policy.evaluate(&statement)?.allowed);
//! # Ok::<(), rsign_policy::rego::RegoError>(())
//! ```

use std::fmt;
use std::io::Read as _;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use regorus::utils::limits::{ExecutionTimerConfig, LimitError};

/// Largest accepted policy source, in bytes (1 MiB, also regorus' own limit).
pub const MAX_POLICY_BYTES: usize = 1024 * 1024;

/// Default largest input document (the statement serialized as JSON), in bytes.
pub const DEFAULT_MAX_INPUT_BYTES: usize = 32 * 1024 * 1024;

/// Default wall-clock budget for one evaluation.
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(5);

/// Work units between two clock reads of regorus' execution timer.
const TIMER_CHECK_INTERVAL: NonZeroU32 = NonZeroU32::MIN.saturating_add(31);

/// The Rego syntax version a policy was parsed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RegoSyntax {
    /// Rego v1: `if` and `contains` are keywords and required.
    V1,
    /// Rego v0: rule bodies without `if` (OPA before 1.0; what cosign parses).
    V0,
}

impl fmt::Display for RegoSyntax {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V1 => "rego v1",
            Self::V0 => "rego v0",
        })
    }
}

/// Which rule rsign evaluates; chosen from the policy's package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RegoQuery {
    /// `data.signature.allow`: a boolean (cosign's `ValidateJSON` convention).
    SignatureAllow,
    /// `data.sigstore.isCompliant`: a boolean, a `{result, warning, error}`
    /// object, or a set of such objects (cosign 2.x and policy-controller).
    SigstoreIsCompliant,
}

impl RegoQuery {
    /// The full rule path, e.g. `data.sigstore.isCompliant`.
    #[must_use]
    pub const fn path(self) -> &'static str {
        match self {
            Self::SignatureAllow => "data.signature.allow",
            Self::SigstoreIsCompliant => "data.sigstore.isCompliant",
        }
    }
}

impl fmt::Display for RegoQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.path())
    }
}

/// The result of evaluating a policy against one statement.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RegoOutcome {
    /// Whether the policy allows the statement.
    pub allowed: bool,
    /// Non-empty `warning` strings the policy returned (also when allowed).
    pub warnings: Vec<String>,
    /// Why the statement was denied: the policy's non-empty `error` strings,
    /// or rsign's note that the rule was undefined. May be empty on a denial
    /// when the policy gives no reason (e.g. `allow := false`).
    pub errors: Vec<String>,
}

/// Errors from compiling, loading or evaluating a Rego policy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegoError {
    /// The policy source is larger than [`MAX_POLICY_BYTES`].
    #[error("policy {name} is {size} bytes, over the limit of {max} bytes")]
    PolicyTooLarge {
        /// The policy's name (file path).
        name: String,
        /// Its size in bytes (at least `max + 1` when read from a stream).
        size: u64,
        /// The limit.
        max: usize,
    },
    /// The policy does not parse (as Rego v1, nor as Rego v0).
    #[error("{}", parse_message(name, *syntax, *line, *column, message))]
    Parse {
        /// The policy's name (file path).
        name: String,
        /// The syntax whose error is reported (the one the source most resembles).
        syntax: RegoSyntax,
        /// 1-based line of the error, when regorus reported one.
        line: Option<u32>,
        /// 1-based column of the error, when regorus reported one.
        column: Option<u32>,
        /// regorus' message, including the offending source line.
        message: String,
    },
    /// The policy defines neither `data.signature.allow` nor `data.sigstore.isCompliant`.
    #[error(
        "policy {name} (package {package}) defines neither data.signature.allow nor \
         data.sigstore.isCompliant; use `package sigstore` with an `isCompliant` rule \
         (or `package signature` with an `allow` rule)"
    )]
    MissingRule {
        /// The policy's name (file path).
        name: String,
        /// The package the policy declares, e.g. `data.example`.
        package: String,
    },
    /// The policy file is CUE, which rsign does not evaluate.
    #[error("{}: CUE is not supported; use Rego (a .rego file)", path.display())]
    CueUnsupported {
        /// The rejected file.
        path: PathBuf,
    },
    /// The policy file's extension is neither `.rego` nor `.cue`.
    #[error("{}: unknown policy format; policy files must end in .rego", path.display())]
    UnsupportedFormat {
        /// The rejected file.
        path: PathBuf,
    },
    /// The policy file could not be read.
    #[error("cannot read policy file {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error (invalid UTF-8 shows up as `InvalidData`).
        #[source]
        source: std::io::Error,
    },
    /// The input document is larger than the configured limit.
    #[error("input document is {size} bytes of JSON, over the limit of {max} bytes")]
    InputTooLarge {
        /// Its size as serialized JSON.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The input document could not be handed to the engine (e.g. it nests
    /// deeper than the JSON parser's recursion limit of 128).
    #[error("cannot convert the input document for policy evaluation")]
    Input {
        /// The JSON error from serializing the document or parsing it back
        /// into the engine's value type.
        #[source]
        source: serde_json::Error,
    },
    /// Evaluation ran past the time limit.
    #[error(
        "policy {name} ran past its time limit of {limit:?}; simplify the policy \
         or raise the limit"
    )]
    TimeLimitExceeded {
        /// The policy's name (file path).
        name: String,
        /// The configured limit.
        limit: Duration,
    },
    /// Evaluation failed (e.g. a builtin error, a conflict between rule values).
    #[error("evaluating policy {name} failed: {message}")]
    Evaluation {
        /// The policy's name (file path).
        name: String,
        /// regorus' message.
        message: String,
    },
    /// The rule produced a value of the wrong shape.
    #[error("policy {name}: {query} must be {expected}, but it is {found}")]
    UnexpectedResult {
        /// The policy's name (file path).
        name: String,
        /// The evaluated rule.
        query: RegoQuery,
        /// What the convention requires.
        expected: &'static str,
        /// The value found (JSON, truncated).
        found: String,
    },
}

fn parse_message(
    name: &str,
    syntax: RegoSyntax,
    line: Option<u32>,
    column: Option<u32>,
    message: &str,
) -> String {
    let position = match (line, column) {
        (Some(l), Some(c)) => format!(" at line {l}, column {c}"),
        (Some(l), None) => format!(" at line {l}"),
        _ => String::new(),
    };
    format!(
        "policy {name} does not parse as {syntax}{position}: {}",
        message.trim()
    )
}

/// A compiled Rego policy, ready to evaluate many statements.
///
/// Compile once; [`evaluate`](Self::evaluate) takes `&self` (it clones the
/// prepared engine per evaluation), so one policy can serve many threads.
#[derive(Clone)]
pub struct RegoPolicy {
    name: String,
    syntax: RegoSyntax,
    query: RegoQuery,
    engine: regorus::Engine,
    time_limit: Duration,
    max_input_bytes: usize,
}

impl fmt::Debug for RegoPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegoPolicy")
            .field("name", &self.name)
            .field("syntax", &self.syntax)
            .field("query", &self.query)
            .field("time_limit", &self.time_limit)
            .field("max_input_bytes", &self.max_input_bytes)
            .finish_non_exhaustive()
    }
}

impl RegoPolicy {
    /// Parses `source` (Rego v1 first, then Rego v0) and picks the query from
    /// its package: `package sigstore` → `isCompliant`, `package signature` →
    /// `allow`. `name` labels errors (use the file path).
    ///
    /// # Errors
    /// [`RegoError::PolicyTooLarge`], [`RegoError::Parse`] (with line and
    /// column), [`RegoError::MissingRule`].
    pub fn compile(name: &str, source: &str) -> Result<Self, RegoError> {
        if source.len() > MAX_POLICY_BYTES {
            return Err(RegoError::PolicyTooLarge {
                name: name.to_owned(),
                size: u64::try_from(source.len()).unwrap_or(u64::MAX),
                max: MAX_POLICY_BYTES,
            });
        }
        let (mut engine, syntax) = parse_either(name, source)?;
        let query = find_query(&engine, name)?;
        // Prepare the engine once (rule analysis, scheduling: regorus does
        // this on the first evaluation) so that each evaluation's clone starts
        // prepared. The warm-up evaluation gets a near-zero time budget (the
        // preparation itself is not timed) and its result is irrelevant: any
        // error reappears, with the real input, in `evaluate`.
        engine.set_execution_timer_config(timer(Duration::from_micros(1)));
        engine.set_input(regorus::Value::new_object());
        let _warm_up = engine.eval_rule(query.path().to_owned());
        engine.set_execution_timer_config(timer(DEFAULT_TIME_LIMIT));
        Ok(Self {
            name: name.to_owned(),
            syntax,
            query,
            engine,
            time_limit: DEFAULT_TIME_LIMIT,
            max_input_bytes: DEFAULT_MAX_INPUT_BYTES,
        })
    }

    /// Replaces the evaluation time limit (default [`DEFAULT_TIME_LIMIT`]).
    #[must_use]
    pub fn with_time_limit(mut self, limit: Duration) -> Self {
        self.time_limit = limit;
        self.engine.set_execution_timer_config(timer(limit));
        self
    }

    /// Replaces the input size limit (default [`DEFAULT_MAX_INPUT_BYTES`]).
    #[must_use]
    pub fn with_max_input_bytes(mut self, max: usize) -> Self {
        self.max_input_bytes = max;
        self
    }

    /// The name given at compile time (usually the file path).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The syntax the policy parsed as.
    #[must_use]
    pub fn syntax(&self) -> RegoSyntax {
        self.syntax
    }

    /// The rule this policy is evaluated by.
    #[must_use]
    pub fn query(&self) -> RegoQuery {
        self.query
    }

    /// The evaluation time limit.
    #[must_use]
    pub fn time_limit(&self) -> Duration {
        self.time_limit
    }

    /// Evaluates the policy with `input` (an in-toto statement, see the
    /// [module documentation](self)) as the Rego `input` document.
    ///
    /// A denial is `Ok` with `allowed == false`; `Err` means the policy could
    /// not be evaluated (callers must treat that as a denial too).
    ///
    /// # Errors
    /// [`RegoError::InputTooLarge`], [`RegoError::Input`],
    /// [`RegoError::TimeLimitExceeded`], [`RegoError::Evaluation`],
    /// [`RegoError::UnexpectedResult`].
    pub fn evaluate(&self, input: &serde_json::Value) -> Result<RegoOutcome, RegoError> {
        self.evaluate_within(input, self.time_limit)
    }

    /// [`RegoPolicy::evaluate`] with the time limit lowered to `limit` when
    /// that is shorter (the rest of a caller's deadline).
    pub(crate) fn evaluate_within(
        &self,
        input: &serde_json::Value,
        limit: Duration,
    ) -> Result<RegoOutcome, RegoError> {
        let limit = limit.min(self.time_limit);
        let json = serde_json::to_string(input).map_err(|source| RegoError::Input { source })?;
        if json.len() > self.max_input_bytes {
            return Err(RegoError::InputTooLarge {
                size: json.len(),
                max: self.max_input_bytes,
            });
        }
        // regorus reports an `anyhow::Error` wrapping its parser's
        // `serde_json::Error` (with the features rsign enables it reports
        // nothing else; anything else would be kept as its text).
        let value = regorus::Value::from_json_str(&json).map_err(|e| {
            let source = e.downcast::<serde_json::Error>().unwrap_or_else(|other| {
                <serde_json::Error as serde::de::Error>::custom(format!("{other:#}"))
            });
            RegoError::Input { source }
        })?;
        let mut engine = self.engine.clone();
        if limit < self.time_limit {
            engine.set_execution_timer_config(timer(limit));
        }
        engine.set_input(value);
        let result = engine
            .eval_rule(self.query.path().to_owned())
            .map_err(|e| {
                // regorus reports errors as `anyhow::Error`; the timer's
                // `LimitError` travels inside it.
                let time_limited = e.chain().any(|cause| {
                    matches!(
                        cause.downcast_ref::<LimitError>(),
                        Some(LimitError::TimeLimitExceeded { .. })
                    )
                });
                self.evaluation_error(time_limited, limit, format!("{e:#}").trim().to_owned())
            })?;
        self.interpret(&result)
    }

    fn evaluation_error(&self, time_limited: bool, limit: Duration, message: String) -> RegoError {
        if time_limited {
            RegoError::TimeLimitExceeded {
                name: self.name.clone(),
                limit,
            }
        } else {
            RegoError::Evaluation {
                name: self.name.clone(),
                message,
            }
        }
    }

    fn interpret(&self, result: &regorus::Value) -> Result<RegoOutcome, RegoError> {
        if *result == regorus::Value::Undefined {
            return Ok(RegoOutcome {
                allowed: false,
                warnings: Vec::new(),
                errors: vec![format!(
                    "{} is undefined for this input (give it a default to make denials explicit)",
                    self.query
                )],
            });
        }
        let json = result
            .to_json_str()
            .ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok());
        let Some(json) = json else {
            return Err(self.unexpected(
                "a boolean or a {result, warning, error} object",
                "a value that is not JSON".to_owned(),
            ));
        };
        match (self.query, &json) {
            (_, serde_json::Value::Bool(allowed)) => Ok(RegoOutcome {
                allowed: *allowed,
                ..RegoOutcome::default()
            }),
            (RegoQuery::SignatureAllow, other) => {
                Err(self.unexpected("a boolean", truncated_json(other)))
            }
            (RegoQuery::SigstoreIsCompliant, serde_json::Value::Object(_)) => {
                let mut outcome = RegoOutcome::default();
                self.merge_result_object(&json, &mut outcome)?;
                Ok(outcome)
            }
            (RegoQuery::SigstoreIsCompliant, serde_json::Value::Array(items)) => {
                let mut outcome = RegoOutcome::default();
                for item in items {
                    self.merge_result_object(item, &mut outcome)?;
                }
                if items.is_empty() {
                    outcome
                        .errors
                        .push(format!("{} is an empty set", self.query));
                }
                Ok(outcome)
            }
            (RegoQuery::SigstoreIsCompliant, other) => Err(self.unexpected(
                "a boolean, a {result, warning, error} object or a set of them",
                truncated_json(other),
            )),
        }
    }

    /// Folds one `{result, warning, error}` object into `outcome`: allowed if
    /// any object's `result` is true; warnings from all; errors from the
    /// objects that deny.
    fn merge_result_object(
        &self,
        item: &serde_json::Value,
        outcome: &mut RegoOutcome,
    ) -> Result<(), RegoError> {
        const EXPECTED: &str = "an object {result: bool, warning?: string, error?: string}";
        let Some(fields) = item.as_object() else {
            return Err(self.unexpected(EXPECTED, truncated_json(item)));
        };
        let Some(result) = fields.get("result").and_then(serde_json::Value::as_bool) else {
            return Err(self.unexpected(EXPECTED, truncated_json(item)));
        };
        let text = |key: &str| -> Result<Option<String>, RegoError> {
            match fields.get(key) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) if s.is_empty() => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(self.unexpected(EXPECTED, truncated_json(item))),
            }
        };
        let warning = text("warning")?;
        let error = text("error")?;
        outcome.allowed |= result;
        outcome.warnings.extend(warning);
        if !result {
            outcome.errors.extend(error);
        }
        Ok(())
    }

    fn unexpected(&self, expected: &'static str, found: String) -> RegoError {
        RegoError::UnexpectedResult {
            name: self.name.clone(),
            query: self.query,
            expected,
            found,
        }
    }
}

fn truncated_json(value: &serde_json::Value) -> String {
    const MAX: usize = 200;
    let mut s = value.to_string();
    if s.len() > MAX {
        let mut cut = MAX;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

fn timer(limit: Duration) -> ExecutionTimerConfig {
    ExecutionTimerConfig {
        limit,
        check_interval: TIMER_CHECK_INTERVAL,
    }
}

fn new_engine(syntax: RegoSyntax) -> regorus::Engine {
    let mut engine = regorus::Engine::new();
    engine.set_rego_v0(syntax == RegoSyntax::V0);
    // Builtin errors (e.g. a type error in `count(input.x)`) make the rule
    // undefined instead of aborting, as in OPA's default (non-strict) mode.
    engine.set_strict_builtin_errors(false);
    engine
}

/// Parses as v1, then as v0; on double failure reports the error of the
/// syntax the source resembles.
fn parse_either(name: &str, source: &str) -> Result<(regorus::Engine, RegoSyntax), RegoError> {
    let mut v1 = new_engine(RegoSyntax::V1);
    let v1_error = match v1.add_policy(name.to_owned(), source.to_owned()) {
        Ok(_) => return Ok((v1, RegoSyntax::V1)),
        Err(e) => e,
    };
    let mut v0 = new_engine(RegoSyntax::V0);
    let v0_error = match v0.add_policy(name.to_owned(), source.to_owned()) {
        Ok(_) => return Ok((v0, RegoSyntax::V0)),
        Err(e) => e,
    };
    let (syntax, error) = if looks_like_v1(source) {
        (RegoSyntax::V1, v1_error)
    } else {
        (RegoSyntax::V0, v0_error)
    };
    let message = format!("{error:#}");
    let (line, column) = error_position(&message, name);
    Err(RegoError::Parse {
        name: name.to_owned(),
        syntax,
        line,
        column,
        message,
    })
}

/// True when the source uses v1-only spellings: `import rego.v1` or the
/// `if`/`contains` keywords (outside comments).
fn looks_like_v1(source: &str) -> bool {
    source.lines().any(|line| {
        let code = line.split('#').next().unwrap_or("");
        code.contains("rego.v1")
            || code
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .any(|word| word == "if" || word == "contains")
    })
}

/// Extracts `line:col` from regorus' `--> NAME:LINE:COL` error header.
fn error_position(message: &str, name: &str) -> (Option<u32>, Option<u32>) {
    let header = format!("--> {name}:");
    let Some(start) = message.find(&header) else {
        return (None, None);
    };
    let rest = message.get(start + header.len()..).unwrap_or("");
    let position = rest.lines().next().unwrap_or("");
    let mut parts = position.splitn(2, ':');
    let line = parts.next().and_then(|l| l.trim().parse().ok());
    let column = parts.next().and_then(|c| c.trim().parse().ok());
    (line, column)
}

fn find_query(engine: &regorus::Engine, name: &str) -> Result<RegoQuery, RegoError> {
    let package = engine
        .get_packages()
        .ok()
        .and_then(|p| p.into_iter().next())
        .unwrap_or_default();
    let (query, rule) = match package.as_str() {
        "data.sigstore" => (RegoQuery::SigstoreIsCompliant, "isCompliant"),
        "data.signature" => (RegoQuery::SignatureAllow, "allow"),
        _ => {
            return Err(RegoError::MissingRule {
                name: name.to_owned(),
                package,
            });
        }
    };
    match engine.has_declared_rule_rooted_at(name, rule) {
        Ok(true) => Ok(query),
        _ => Err(RegoError::MissingRule {
            name: name.to_owned(),
            package,
        }),
    }
}

/// Loads and compiles a policy file: `.rego` is compiled with
/// [`RegoPolicy::compile`] (named by its path); `.cue` is rejected with
/// [`RegoError::CueUnsupported`]; any other extension with
/// [`RegoError::UnsupportedFormat`].
///
/// # Errors
/// Those of [`RegoPolicy::compile`], plus [`RegoError::Read`] and the format
/// errors above; files over [`MAX_POLICY_BYTES`] are refused without being
/// read whole.
pub fn load_policy_file(path: &Path) -> Result<RegoPolicy, RegoError> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("rego") => {}
        Some("cue") => {
            return Err(RegoError::CueUnsupported {
                path: path.to_owned(),
            });
        }
        _ => {
            return Err(RegoError::UnsupportedFormat {
                path: path.to_owned(),
            });
        }
    }
    let read_error = |source| RegoError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let limit = u64::try_from(MAX_POLICY_BYTES).unwrap_or(u64::MAX);
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    let name = path.display().to_string();
    if bytes.len() > MAX_POLICY_BYTES {
        return Err(RegoError::PolicyTooLarge {
            name,
            size: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
            max: MAX_POLICY_BYTES,
        });
    }
    let source = String::from_utf8(bytes).map_err(|e| {
        read_error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("policy is not UTF-8: {e}"),
        ))
    })?;
    RegoPolicy::compile(&name, &source)
}
