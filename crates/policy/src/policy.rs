//! Compiled policies and loading them from files: [`PolicySet`].

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rsign_core::Digest;
use rsign_core::keys::PublicKey;
use serde::Deserialize;

use crate::document::{
    CIP_API_VERSIONS, CIP_KIND, CipAuthority, Header, KeyRef, KeySpec, Mode, NATIVE_API_VERSION,
    NATIVE_KIND, NativeAuthority, RawAttestation, RawDocument, RawPolicy, StaticAction, StaticRef,
};
use crate::glob::Glob;
use crate::keyset::{KeysetLoader, PolicyKey};
use crate::rego::RegoPolicy;

/// Largest policy file read.
pub const MAX_POLICY_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// Most documents in one file.
pub const MAX_DOCUMENTS_PER_FILE: usize = 1000;
/// Most policies in a set.
pub const MAX_POLICIES: usize = 10_000;
/// Most trusted keys one authority may list.
pub const MAX_KEYS_PER_AUTHORITY: usize = 1024;
/// Wall-clock budget of one Rego evaluation inside a policy decision.
pub const REGO_TIME_LIMIT: Duration = Duration::from_secs(1);

/// One problem found while loading policies, with its position when known.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The file (or the name given to [`PolicySet::parse`]).
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What is wrong, naming the field.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

/// Why policies could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// One or more documents are invalid (every problem is listed).
    #[error("invalid policy: {}", summary(.problems))]
    Invalid {
        /// Every problem found, in file order.
        problems: Vec<Problem>,
    },
}

fn summary(problems: &[Problem]) -> String {
    let mut out = problems
        .iter()
        .take(5)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if problems.len() > 5 {
        out.push_str(&format!("; and {} more", problems.len() - 5));
    }
    out
}

/// How a document was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub enum DocumentKind {
    /// sigstore policy-controller's `ClusterImagePolicy`.
    ClusterImagePolicy,
    /// rsign's `ImagePolicy`.
    ImagePolicy,
}

/// What an authority requires.
#[derive(Debug, Clone)]
pub(crate) enum Rule {
    /// `static: {action: pass|fail}`.
    Static { pass: bool, message: Option<String> },
    /// Signatures (or, with attestations, attestations) by these keys
    /// (each trusted according to its keyset entry at evaluation time).
    Keys {
        keys: Vec<PolicyKey>,
        threshold: usize,
    },
}

/// A compiled attestation requirement.
#[derive(Debug, Clone)]
pub(crate) struct AttestationRule {
    pub name: String,
    /// Full predicate type URI.
    pub predicate_type: String,
    pub policy: Option<Arc<RegoPolicy>>,
}

/// A compiled authority.
#[derive(Debug, Clone)]
pub(crate) struct Authority {
    pub name: String,
    pub rule: Rule,
    pub attestations: Vec<AttestationRule>,
}

/// One compiled policy document.
#[derive(Debug, Clone)]
pub struct Policy {
    pub(crate) name: String,
    pub(crate) kind: DocumentKind,
    pub(crate) file: PathBuf,
    pub(crate) globs: Vec<Glob>,
    pub(crate) authorities: Vec<Authority>,
    pub(crate) policy: Option<Arc<RegoPolicy>>,
    pub(crate) mode: Mode,
}

impl Policy {
    /// `metadata.name`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The document's kind.
    pub fn kind(&self) -> DocumentKind {
        self.kind
    }

    /// The file the policy came from.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// `spec.mode`.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// `spec.images[].glob`.
    pub fn globs(&self) -> &[Glob] {
        &self.globs
    }

    /// Whether any glob matches `image` (an invalid reference matches nothing).
    pub fn matches(&self, image: &str) -> bool {
        self.globs
            .iter()
            .any(|g| g.matches_image(image).unwrap_or(false))
    }

    pub(crate) fn needs_signatures(&self) -> bool {
        self.authorities
            .iter()
            .any(|a| matches!(a.rule, Rule::Keys { .. }) && a.attestations.is_empty())
    }

    pub(crate) fn needs_attestations(&self) -> bool {
        self.authorities
            .iter()
            .any(|a| matches!(a.rule, Rule::Keys { .. }) && !a.attestations.is_empty())
    }
}

/// The format of a policy text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// YAML, possibly several documents separated by `---`.
    Yaml,
    /// One JSON document.
    Json,
}

impl Format {
    /// The format implied by a file name (`.json` → JSON, otherwise YAML).
    pub fn from_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("json") => Self::Json,
            _ => Self::Yaml,
        }
    }
}

/// Options for loading policies.
#[derive(Clone, Default)]
pub struct LoadOptions {
    /// Resolves `keyset:` references of native policies. Without one, a
    /// policy that names a keyset is rejected.
    pub keyset_loader: Option<Arc<dyn KeysetLoader>>,
}

impl fmt::Debug for LoadOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadOptions")
            .field("keyset_loader", &self.keyset_loader.is_some())
            .finish()
    }
}

/// A validated set of policies, identified by a hash of its content.
#[derive(Debug, Clone)]
pub struct PolicySet {
    pub(crate) policies: Vec<Policy>,
    hash: Digest,
}

impl PolicySet {
    /// Loads every policy in `paths`: files, or directories whose `.yaml`,
    /// `.yml` and `.json` files are read (not recursively, in name order).
    pub fn load<P: AsRef<Path>>(paths: &[P]) -> Result<Self, LoadError> {
        Self::load_with(paths, &LoadOptions::default())
    }

    /// [`PolicySet::load`] with options.
    pub fn load_with<P: AsRef<Path>>(
        paths: &[P],
        options: &LoadOptions,
    ) -> Result<Self, LoadError> {
        let (policies, problems) = load_all(paths, options);
        if problems.is_empty() {
            Ok(Self::from_policies(policies))
        } else {
            Err(LoadError::Invalid { problems })
        }
    }

    /// Parses policies from `text`; `name` labels problems and `base_dir`
    /// anchors relative key paths (none: relative paths are rejected).
    pub fn parse(
        text: &str,
        format: Format,
        name: &Path,
        base_dir: Option<&Path>,
        options: &LoadOptions,
    ) -> Result<Self, LoadError> {
        let mut problems = Vec::new();
        let policies = parse_text(text, format, name, base_dir, options, &mut problems);
        if problems.is_empty() {
            Ok(Self::from_policies(policies))
        } else {
            Err(LoadError::Invalid { problems })
        }
    }

    /// Every problem in `paths`, for `rsign policy check` (empty: all valid).
    pub fn check<P: AsRef<Path>>(paths: &[P], options: &LoadOptions) -> Vec<Problem> {
        load_all(paths, options).1
    }

    /// A set from already compiled policies.
    fn from_policies(policies: Vec<Policy>) -> Self {
        let hash = fingerprint(&policies);
        Self { policies, hash }
    }

    /// The policies, in load order.
    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    /// A digest of everything that affects decisions (globs, keys, rules,
    /// Rego sources): two sets with equal hashes decide alike.
    pub fn hash(&self) -> &Digest {
        &self.hash
    }

    /// Indices of the policies whose globs match `image`.
    pub fn matching(&self, image: &str) -> Vec<usize> {
        self.policies
            .iter()
            .enumerate()
            .filter(|(_, p)| p.matches(image))
            .map(|(i, _)| i)
            .collect()
    }
}

fn fingerprint(policies: &[Policy]) -> Digest {
    let mut text = String::new();
    for p in policies {
        text.push_str(&format!("policy {:?} {:?} {:?}\n", p.name, p.kind, p.mode));
        for g in &p.globs {
            text.push_str(&format!("glob {:?}\n", g.as_str()));
        }
        if let Some(rego) = &p.policy {
            text.push_str(&format!("rego {:?}\n", rego_fingerprint(rego)));
        }
        for a in &p.authorities {
            match &a.rule {
                Rule::Static { pass, message } => {
                    text.push_str(&format!("static {:?} {pass} {message:?}\n", a.name));
                }
                Rule::Keys { keys, threshold } => {
                    let ids: BTreeMap<String, String> = keys
                        .iter()
                        .map(|k| (k.id().to_string(), k.fingerprint()))
                        .collect();
                    text.push_str(&format!("keys {:?} {threshold} {ids:?}\n", a.name));
                }
            }
            for att in &a.attestations {
                text.push_str(&format!(
                    "attestation {:?} {:?} {:?}\n",
                    att.name,
                    att.predicate_type,
                    att.policy.as_deref().map(rego_fingerprint)
                ));
            }
        }
    }
    Digest::sha256_of(text.as_bytes())
}

/// Rego policies are identified by the digest of their source (kept beside
/// the compiled policy in its name).
fn rego_fingerprint(policy: &RegoPolicy) -> &str {
    policy.name()
}

fn load_all<P: AsRef<Path>>(paths: &[P], options: &LoadOptions) -> (Vec<Policy>, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut policies = Vec::new();
    let mut files = Vec::new();
    for path in paths {
        let path = path.as_ref();
        if path.is_dir() {
            match std::fs::read_dir(path) {
                Ok(entries) => {
                    let mut found: Vec<PathBuf> = entries
                        .filter_map(Result::ok)
                        .map(|e| e.path())
                        .filter(|p| {
                            p.is_file()
                                && p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                                    matches!(
                                        e.to_ascii_lowercase().as_str(),
                                        "yaml" | "yml" | "json"
                                    )
                                })
                        })
                        .collect();
                    found.sort();
                    if found.is_empty() {
                        problems.push(problem(
                            path,
                            None,
                            "directory holds no .yaml, .yml or .json policy files",
                        ));
                    }
                    files.extend(found);
                }
                Err(e) => {
                    problems.push(problem(path, None, &format!("cannot read directory: {e}")))
                }
            }
        } else {
            files.push(path.to_path_buf());
        }
    }
    for file in files {
        let text = match read_policy_file(&file) {
            Ok(text) => text,
            Err(message) => {
                problems.push(problem(&file, None, &message));
                continue;
            }
        };
        let base_dir = file.parent().map(Path::to_path_buf);
        policies.extend(parse_text(
            &text,
            Format::from_path(&file),
            &file,
            base_dir.as_deref(),
            options,
            &mut problems,
        ));
    }
    if problems.is_empty() && policies.is_empty() {
        problems.push(Problem {
            file: PathBuf::new(),
            line: None,
            column: None,
            message: "no policy documents found".to_owned(),
        });
    }
    if policies.len() > MAX_POLICIES {
        problems.push(problem(
            Path::new(""),
            None,
            &format!(
                "{} policies loaded, more than the limit of {MAX_POLICIES}",
                policies.len()
            ),
        ));
    }
    let mut names = HashSet::new();
    for p in &policies {
        if !names.insert(p.name.clone()) {
            problems.push(problem(
                &p.file,
                None,
                &format!("policy name `{}` is used by more than one document; `metadata.name` must be unique", p.name),
            ));
        }
    }
    (policies, problems)
}

fn read_policy_file(path: &Path) -> Result<String, String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open policy file: {e}"))?;
    let mut text = String::new();
    file.take(MAX_POLICY_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read policy file: {e}"))?;
    if text.len() as u64 > MAX_POLICY_FILE_BYTES {
        return Err(format!(
            "policy file is larger than {MAX_POLICY_FILE_BYTES} bytes"
        ));
    }
    Ok(text)
}

fn problem(file: &Path, at: Option<(usize, usize)>, message: &str) -> Problem {
    Problem {
        file: file.to_path_buf(),
        line: at.map(|(l, _)| l),
        column: at.map(|(_, c)| c),
        message: message.to_owned(),
    }
}

/// Parses every document of `text`, compiling the valid ones and pushing a
/// problem for each invalid one.
fn parse_text(
    text: &str,
    format: Format,
    file: &Path,
    base_dir: Option<&Path>,
    options: &LoadOptions,
    problems: &mut Vec<Problem>,
) -> Vec<Policy> {
    let ctx = Ctx {
        file,
        base_dir,
        options,
    };
    let mut out = Vec::new();
    if text.len() as u64 > MAX_POLICY_FILE_BYTES {
        problems.push(problem(
            file,
            None,
            &format!("policy text is larger than {MAX_POLICY_FILE_BYTES} bytes"),
        ));
        return out;
    }
    match format {
        Format::Json => {
            let at = |e: &serde_json::Error| Some((e.line(), e.column()));
            let header = match serde_json::from_str::<Header>(text) {
                Ok(h) => h,
                Err(e) => {
                    problems.push(problem(file, at(&e), &e.to_string()));
                    return out;
                }
            };
            let doc_at = Some((1, 1));
            match which(&header) {
                Err(message) => problems.push(problem(file, doc_at, &message)),
                Ok(kind) => {
                    // As `serde_json::from_str`: the document, then nothing
                    // but whitespace.
                    let mut de = serde_json::Deserializer::from_str(text);
                    let decoded =
                        KindDocument::deserialize(kind, &mut de).and_then(|d| de.end().map(|()| d));
                    push_decoded(decoded, at, doc_at, &ctx, &mut out, problems);
                }
            }
        }
        Format::Yaml => {
            let starts = document_start_lines(text);
            let at = |e: &yaml_serde::Error| e.location().map(|l| (l.line(), l.column()));
            if let Err(message) = check_flow_nesting(text) {
                problems.push(problem(file, None, &message));
                return out;
            }
            // Each document is read twice (header, then the type it names);
            // a second stream in lockstep avoids re-parsing the text from
            // the start for every document.
            let headers = yaml_serde::Deserializer::from_str(text);
            let bodies = yaml_serde::Deserializer::from_str(text);
            for (index, (doc, body)) in headers.zip(bodies).enumerate() {
                if index >= MAX_DOCUMENTS_PER_FILE {
                    problems.push(problem(
                        file,
                        None,
                        &format!("more than {MAX_DOCUMENTS_PER_FILE} documents in one file"),
                    ));
                    break;
                }
                let doc_at = starts.get(index).map(|&l| (l, 1));
                let header = match Option::<Header>::deserialize(doc) {
                    Ok(Some(h)) => h,
                    // An empty document (e.g. a trailing `---`).
                    Ok(None) => continue,
                    Err(e) => {
                        // A syntax error ends the stream: the iterator would repeat it.
                        problems.push(problem(file, at(&e), &strip_position(&e.to_string())));
                        break;
                    }
                };
                // Re-read the same document into the type its header names.
                match which(&header) {
                    Err(message) => problems.push(problem(file, doc_at, &message)),
                    Ok(kind) => {
                        let decoded = KindDocument::deserialize(kind, body);
                        push_decoded(decoded, at, doc_at, &ctx, &mut out, problems);
                    }
                }
            }
        }
    }
    out
}

/// A document decoded as the type its header names.
enum KindDocument {
    Cip(RawDocument<CipAuthority>),
    Native(RawDocument<NativeAuthority>),
}

impl KindDocument {
    /// Decodes one document of `kind` (JSON or YAML alike).
    fn deserialize<'de, D: serde::Deserializer<'de>>(
        kind: DocumentKind,
        de: D,
    ) -> Result<Self, D::Error> {
        Ok(match kind {
            DocumentKind::ClusterImagePolicy => Self::Cip(RawDocument::deserialize(de)?),
            DocumentKind::ImagePolicy => Self::Native(RawDocument::deserialize(de)?),
        })
    }

    fn compile(self, ctx: &Ctx<'_>) -> Result<Policy, Vec<String>> {
        match self {
            Self::Cip(doc) => compile_cip(doc, ctx),
            Self::Native(doc) => compile_native(doc, ctx),
        }
    }
}

/// Compiles a decoded document into `out`, or records its decoding error at
/// the position `at` finds in it.
fn push_decoded<E: fmt::Display>(
    decoded: Result<KindDocument, E>,
    at: impl Fn(&E) -> Option<(usize, usize)>,
    doc_at: Option<(usize, usize)>,
    ctx: &Ctx<'_>,
    out: &mut Vec<Policy>,
    problems: &mut Vec<Problem>,
) {
    match decoded {
        Ok(doc) => push_compiled(doc.compile(ctx), doc_at, ctx, out, problems),
        Err(e) => problems.push(problem(ctx.file, at(&e), &strip_position(&e.to_string()))),
    }
}

/// Deepest `{`/`[` nesting accepted in YAML text, counted naively (brackets
/// in scalars and Rego sources count too). The YAML scanner's cost grows
/// with the square of the flow nesting depth, and serde stops at 128 levels
/// anyway.
pub const MAX_YAML_FLOW_NESTING: usize = 1024;

/// Rejects YAML text whose naive bracket depth exceeds
/// [`MAX_YAML_FLOW_NESTING`] before the scanner sees it.
fn check_flow_nesting(text: &str) -> Result<(), String> {
    let mut depth = 0usize;
    for b in text.bytes() {
        match b {
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_YAML_FLOW_NESTING {
                    return Err(format!(
                        "brackets are nested more than {MAX_YAML_FLOW_NESTING} levels deep"
                    ));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// serde_yaml and serde_json append " at line L column C"; the problem
/// carries the position separately.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message.get(..i).unwrap_or(message).to_owned(),
        None => message.to_owned(),
    }
}

/// The 1-based line on which each YAML document starts (for problems found
/// after parsing, which have no serde position).
fn document_start_lines(text: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut started = false;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if line == "---" || line.starts_with("--- ") {
            started = false;
        } else if !started && !trimmed.is_empty() && !trimmed.starts_with('#') {
            starts.push(i + 1);
            started = true;
        }
    }
    starts
}

fn which(header: &Header) -> Result<DocumentKind, String> {
    let api = header.api_version.as_deref().unwrap_or("");
    let kind = header.kind.as_deref().unwrap_or("");
    if CIP_API_VERSIONS.contains(&api) && kind == CIP_KIND {
        Ok(DocumentKind::ClusterImagePolicy)
    } else if api == NATIVE_API_VERSION && kind == NATIVE_KIND {
        Ok(DocumentKind::ImagePolicy)
    } else {
        Err(format!(
            "unsupported document `apiVersion: {}`, `kind: {}`; expected `{}` or `{}` with `kind: {CIP_KIND}`, or `{NATIVE_API_VERSION}` with `kind: {NATIVE_KIND}`",
            api.chars().take(80).collect::<String>(),
            kind.chars().take(80).collect::<String>(),
            CIP_API_VERSIONS.first().copied().unwrap_or_default(),
            CIP_API_VERSIONS.get(1).copied().unwrap_or_default(),
        ))
    }
}

struct Ctx<'a> {
    file: &'a Path,
    base_dir: Option<&'a Path>,
    options: &'a LoadOptions,
}

fn push_compiled(
    result: Result<Policy, Vec<String>>,
    doc_at: Option<(usize, usize)>,
    ctx: &Ctx<'_>,
    out: &mut Vec<Policy>,
    problems: &mut Vec<Problem>,
) {
    match result {
        Ok(p) => out.push(p),
        Err(messages) => {
            for m in messages {
                problems.push(problem(ctx.file, doc_at, &m));
            }
        }
    }
}

/// Authority fields common to both kinds, after kind-specific parts.
struct AuthorityParts {
    name: Option<String>,
    keys: Vec<PolicyKey>,
    has_key_source: bool,
    threshold: Option<usize>,
    r#static: Option<StaticRef>,
    attestations: Vec<RawAttestation>,
}

fn compile_cip(doc: RawDocument<CipAuthority>, ctx: &Ctx<'_>) -> Result<Policy, Vec<String>> {
    let mut errors = Vec::new();
    let parts = doc
        .spec
        .authorities
        .into_iter()
        .map(|a| AuthorityParts {
            name: a.name,
            has_key_source: a.key.is_some(),
            keys: key_ref(a.key, &mut errors)
                .into_iter()
                .map(PolicyKey::inline)
                .collect(),
            threshold: None,
            r#static: a.r#static,
            attestations: a.attestations,
        })
        .collect();
    finish(
        DocumentKind::ClusterImagePolicy,
        doc.metadata.name,
        doc.spec.images.into_iter().map(|i| i.glob).collect(),
        parts,
        doc.spec.policy,
        doc.spec.mode.unwrap_or_default(),
        ctx,
        errors,
    )
}

fn compile_native(doc: RawDocument<NativeAuthority>, ctx: &Ctx<'_>) -> Result<Policy, Vec<String>> {
    let mut errors = Vec::new();
    let mut parts = Vec::new();
    for (i, a) in doc.spec.authorities.into_iter().enumerate() {
        let where_ = format!("spec.authorities[{i}]");
        let has_key_source = a.key.is_some() || !a.keys.is_empty() || a.keyset.is_some();
        let mut keys: Vec<PolicyKey> = key_ref(a.key, &mut errors)
            .into_iter()
            .map(PolicyKey::inline)
            .collect();
        for (j, spec) in a.keys.into_iter().enumerate() {
            if let Some(k) = key_spec(spec, ctx, &format!("{where_}.keys[{j}]"), &mut errors) {
                keys.push(PolicyKey::inline(k));
            }
        }
        if let Some(keyset) = a.keyset {
            match resolve_path(&keyset, ctx) {
                Err(m) => errors.push(format!("{where_}.keyset: {m}")),
                Ok(path) => match &ctx.options.keyset_loader {
                    None => errors.push(format!(
                        "{where_}.keyset: `{keyset}` cannot be used here: no keyset loader is configured"
                    )),
                    Some(loader) => match loader.load(&path) {
                        Ok(keyset) => keys.extend(keyset.entries().iter().map(PolicyKey::from_entry)),
                        Err(e) => errors.push(format!("{where_}.keyset: cannot load `{}`: {e}", path.display())),
                    },
                },
            }
        }
        parts.push(AuthorityParts {
            name: a.name,
            keys,
            has_key_source,
            threshold: a.threshold,
            r#static: a.r#static,
            attestations: a.attestations,
        });
    }
    finish(
        DocumentKind::ImagePolicy,
        doc.metadata.name,
        doc.spec.images.into_iter().map(|i| i.glob).collect(),
        parts,
        doc.spec.policy,
        doc.spec.mode.unwrap_or_default(),
        ctx,
        errors,
    )
}

fn key_ref(key: Option<KeyRef>, errors: &mut Vec<String>) -> Vec<PublicKey> {
    match key {
        None => Vec::new(),
        Some(KeyRef { data: Some(k), .. }) => vec![k],
        Some(KeyRef { data: None, .. }) => {
            errors.push("`key` needs `data` with a PEM public key".to_owned());
            Vec::new()
        }
    }
}

fn key_spec(
    spec: KeySpec,
    ctx: &Ctx<'_>,
    where_: &str,
    errors: &mut Vec<String>,
) -> Option<PublicKey> {
    match (spec.data, spec.path) {
        (Some(k), None) => Some(k),
        (None, Some(path)) => {
            let path = match resolve_path(&path, ctx) {
                Ok(p) => p,
                Err(m) => {
                    errors.push(format!("{where_}.path: {m}"));
                    return None;
                }
            };
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) => {
                    errors.push(format!(
                        "{where_}.path: cannot read `{}`: {e}",
                        path.display()
                    ));
                    return None;
                }
            };
            match PublicKey::from_pem_or_der(&bytes) {
                Ok(k) => Some(k),
                Err(e) => {
                    errors.push(format!(
                        "{where_}.path: `{}` is not a public key: {e}",
                        path.display()
                    ));
                    None
                }
            }
        }
        _ => {
            errors.push(format!(
                "{where_}: give exactly one of `data` (PEM) or `path` (file)"
            ));
            None
        }
    }
}

fn resolve_path(path: &str, ctx: &Ctx<'_>) -> Result<PathBuf, String> {
    let p = Path::new(path);
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    match ctx.base_dir {
        Some(dir) => Ok(dir.join(p)),
        None => Err(format!(
            "relative path `{path}` needs a policy file to be relative to; give an absolute path"
        )),
    }
}

fn compile_rego(raw: RawPolicy, what: &str, ctx: &Ctx<'_>) -> Result<Arc<RegoPolicy>, String> {
    let Some(source) = raw.data else {
        return Err(format!("{what}: `data` with the Rego source is required"));
    };
    // The source digest names the policy: problems point at it and the
    // policy-set fingerprint covers it.
    let name = format!(
        "{}#{what}@{}",
        ctx.file.display(),
        Digest::sha256_of(source.as_bytes())
    );
    RegoPolicy::compile(&name, &source)
        .map(|p| Arc::new(p.with_time_limit(REGO_TIME_LIMIT)))
        .map_err(|e| format!("{what}: invalid Rego: {e}"))
}

#[allow(clippy::too_many_arguments, reason = "one call site per document kind")]
fn finish(
    kind: DocumentKind,
    name: String,
    globs: Vec<Glob>,
    parts: Vec<AuthorityParts>,
    policy: Option<RawPolicy>,
    mode: Mode,
    ctx: &Ctx<'_>,
    mut errors: Vec<String>,
) -> Result<Policy, Vec<String>> {
    if name.trim().is_empty() {
        errors.push("metadata.name must not be empty".to_owned());
    }
    if globs.is_empty() {
        errors.push("spec.images must list at least one glob".to_owned());
    }
    if parts.is_empty() {
        errors.push("spec.authorities must list at least one authority".to_owned());
    }
    let mut authorities = Vec::new();
    let mut names = HashSet::new();
    for (i, a) in parts.into_iter().enumerate() {
        let where_ = format!("spec.authorities[{i}]");
        let auth_name = a.name.clone().unwrap_or_else(|| format!("authority-{i}"));
        if !names.insert(auth_name.clone()) {
            errors.push(format!(
                "{where_}: authority name `{auth_name}` is used twice"
            ));
        }
        let rule = match (a.r#static, a.has_key_source) {
            (Some(_), true) => {
                errors.push(format!(
                    "{where_}: give only one of `key`/`keys`/`keyset` or `static`"
                ));
                continue;
            }
            (None, false) => {
                errors.push(format!(
                    "{where_}: one of `key`, `keys`, `keyset` or `static` is required"
                ));
                continue;
            }
            (Some(s), false) => {
                if !a.attestations.is_empty() {
                    errors.push(format!(
                        "{where_}: `static` cannot be combined with `attestations`"
                    ));
                }
                if a.threshold.is_some() {
                    errors.push(format!(
                        "{where_}: `static` cannot be combined with `threshold`"
                    ));
                }
                Rule::Static {
                    pass: s.action == StaticAction::Pass,
                    message: s.message,
                }
            }
            (None, true) => {
                // Pooled and deduplicated by key id; a keyset entry wins over
                // the same key given inline, so a key the keyset revokes (or
                // whose window ends) is never trusted through `key`/`keys`.
                let mut keys: Vec<PolicyKey> = Vec::new();
                for k in a.keys {
                    match keys.iter_mut().find(|have| have.id() == k.id()) {
                        Some(have) if k.entry.is_some() => *have = k,
                        Some(_) => {}
                        None => keys.push(k),
                    }
                }
                if keys.len() > MAX_KEYS_PER_AUTHORITY {
                    errors.push(format!("{where_}: more than {MAX_KEYS_PER_AUTHORITY} keys"));
                }
                // Keys that can never be trusted (revoked, retired without a
                // window) do not count towards what a threshold may ask.
                let usable = keys.iter().filter(|k| k.ever_trusted()).count();
                let threshold = a.threshold.unwrap_or(1);
                if threshold == 0 {
                    errors.push(format!("{where_}.threshold must be at least 1"));
                } else if threshold > usable && usable > 0 {
                    errors.push(format!(
                        "{where_}.threshold is {threshold} but only {usable} distinct key(s) that can be trusted are listed"
                    ));
                }
                Rule::Keys { keys, threshold }
            }
        };
        let mut attestations = Vec::new();
        let mut att_names = HashSet::new();
        for (j, att) in a.attestations.into_iter().enumerate() {
            let what = format!("{where_}.attestations[{j}]");
            if att.name.trim().is_empty() {
                errors.push(format!("{what}.name must not be empty"));
            }
            if !att_names.insert(att.name.clone()) {
                errors.push(format!(
                    "{what}: attestation name `{}` is used twice",
                    att.name
                ));
            }
            let policy = match att.policy {
                None => None,
                Some(raw) => match compile_rego(raw, &format!("{what}.policy"), ctx) {
                    Ok(p) => Some(p),
                    Err(m) => {
                        errors.push(m);
                        None
                    }
                },
            };
            attestations.push(AttestationRule {
                name: att.name,
                predicate_type: att.predicate_type,
                policy,
            });
        }
        authorities.push(Authority {
            name: auth_name,
            rule,
            attestations,
        });
    }
    let policy = match policy {
        None => None,
        Some(raw) => match compile_rego(raw, "spec.policy", ctx) {
            Ok(p) => Some(p),
            Err(m) => {
                errors.push(m);
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(errors
            .into_iter()
            .map(|e| format!("policy `{name}`: {e}"))
            .collect());
    }
    Ok(Policy {
        name,
        kind,
        file: ctx.file.to_path_buf(),
        globs,
        authorities,
        policy,
        mode,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_start_lines_follow_separators() {
        assert_eq!(document_start_lines("a: 1\n---\nb: 2\n"), vec![1, 3]);
        assert_eq!(document_start_lines("---\na: 1\n---\nb: 2\n"), vec![2, 4]);
        assert_eq!(document_start_lines("# c\n\na: 1\n"), vec![3]);
    }
}
