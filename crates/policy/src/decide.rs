//! The pure part: matching policies + verified facts → [`Decision`].

use std::collections::BTreeSet;

use rsign_core::keys::KeyId;
use rsign_core::keyset::Timestamp;
use serde_json::{Value, json};

use crate::decision::{AuthorityReport, Code, Decision, Outcome, PolicyReport, Verdict};
use crate::document::Mode;
use crate::facts::{AttestationFact, Facts};
use crate::keyset::PolicyKey;
use crate::policy::{AttestationRule, Authority, Policy, PolicySet, Rule};
use crate::rego::{RegoError, RegoPolicy};

/// What to do with an image no policy matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum NoMatch {
    /// Reject it (the default: an unlisted image is not trusted).
    #[default]
    Deny,
    /// Admit it.
    Allow,
    /// Admit it with a warning.
    Warn,
}

impl PolicySet {
    /// Decides about `image` from verified `facts`, without any I/O.
    ///
    /// `facts` may be `None` when no matching policy needs attachments
    /// (static authorities only); a policy that needs them then fails with
    /// [`Code::FetchFailed`]. Keyset keys are trusted as of the system
    /// clock now; see [`PolicySet::decide_at`].
    pub fn decide(&self, image: &str, facts: Option<&Facts>, no_match: NoMatch) -> Decision {
        self.decide_at(image, facts, no_match, Timestamp::now())
    }

    /// [`PolicySet::decide`] with keyset keys trusted as of `now`: active
    /// keys, and retired keys whose `acceptUntil` is at or after `now`.
    pub fn decide_at(
        &self,
        image: &str,
        facts: Option<&Facts>,
        no_match: NoMatch,
        now: Timestamp,
    ) -> Decision {
        let matched = self.matching(image);
        decide_matched(self, &matched, image, facts, no_match, now, None)
    }
}

/// The decision for policies `matched` (indices into `set`).
pub(crate) fn decide_matched(
    set: &PolicySet,
    matched: &[usize],
    image: &str,
    facts: Option<&Facts>,
    no_match: NoMatch,
    now: Timestamp,
    deadline: Option<std::time::Instant>,
) -> Decision {
    let digest = facts.map(|f| f.digest().clone());
    if matched.is_empty() {
        return no_match_decision(image, digest, no_match);
    }
    let mut policies = Vec::new();
    let mut run = Run {
        warnings: Vec::new(),
        deadline,
    };
    for policy in matched.iter().filter_map(|&i| set.policies.get(i)) {
        policies.push(evaluate_policy(policy, facts, now, &mut run));
    }
    let warnings = run.warnings;
    let denied: Vec<&str> = policies
        .iter()
        .filter(|p| p.result == Outcome::Fail)
        .map(|p| p.name.as_str())
        .collect();
    let (verdict, code, reason) = if !denied.is_empty() {
        let code = if let [only] = policies.as_slice() {
            only.code.unwrap_or(Code::NoAuthorityPassed)
        } else {
            Code::NoAuthorityPassed
        };
        (
            Verdict::Deny,
            code,
            format!("denied by policy {}", quote_list(&denied)),
        )
    } else if policies.iter().any(|p| p.result == Outcome::Warn) {
        (
            Verdict::Warn,
            Code::WarnMode,
            "admitted with warnings: a policy in warn mode failed".to_owned(),
        )
    } else {
        (
            Verdict::Allow,
            Code::AllPoliciesPassed,
            format!("all {} matching policies passed", policies.len()),
        )
    };
    Decision {
        image: image.to_owned(),
        digest,
        verdict,
        code,
        reason,
        policies,
        warnings,
    }
}

pub(crate) fn no_match_decision(
    image: &str,
    digest: Option<rsign_core::Digest>,
    no_match: NoMatch,
) -> Decision {
    let reason = "no policy matches the image".to_owned();
    let mut d = Decision::without_policies(
        image,
        digest,
        match no_match {
            NoMatch::Deny => Verdict::Deny,
            NoMatch::Allow => Verdict::Allow,
            NoMatch::Warn => Verdict::Warn,
        },
        Code::NoMatchingPolicy,
        reason.clone(),
    );
    if no_match == NoMatch::Warn {
        d.warnings.push(format!("{reason}: `{image}`"));
    }
    d
}

fn quote_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// State of one decision: the warnings gathered so far and the deadline
/// Rego evaluations must finish by (none: only each policy's own limit).
struct Run {
    warnings: Vec<String>,
    deadline: Option<std::time::Instant>,
}

impl Run {
    fn deadline_passed(&self) -> bool {
        self.deadline
            .is_some_and(|d| std::time::Instant::now() >= d)
    }
}

/// One authority's verdict plus, when it passed, its entry in the
/// policy-controller style `authorityMatches` document.
struct AuthorityResult {
    report: AuthorityReport,
    matched: Option<Value>,
}

fn evaluate_policy(
    policy: &Policy,
    facts: Option<&Facts>,
    now: Timestamp,
    run: &mut Run,
) -> PolicyReport {
    let results: Vec<AuthorityResult> = policy
        .authorities
        .iter()
        .map(|a| evaluate_authority(a, facts, now, run))
        .collect();
    let mut matches = serde_json::Map::new();
    for (a, r) in policy.authorities.iter().zip(&results) {
        if let Some(m) = &r.matched {
            matches.insert(a.name.clone(), m.clone());
        }
    }
    let authorities: Vec<AuthorityReport> = results.into_iter().map(|r| r.report).collect();
    let (passed, code, reason) = if matches.is_empty() {
        let reasons: Vec<String> = authorities
            .iter()
            .map(|a| format!("{}: {}", a.name, a.reason))
            .collect();
        let code = match authorities.as_slice() {
            [only] => only.code,
            _ => Code::NoAuthorityPassed,
        };
        (
            false,
            Some(code),
            Some(format!("no authority passed ({})", reasons.join("; "))),
        )
    } else if let Some(rego) = &policy.policy {
        let input = json!({ "authorityMatches": Value::Object(matches) });
        match run_rego(rego, &input, run, &policy.name) {
            Ok(()) => (true, None, None),
            Err((code, reason)) => (false, Some(code), Some(reason)),
        }
    } else {
        (true, None, None)
    };
    let result = match (passed, policy.mode) {
        (true, _) => Outcome::Pass,
        (false, Mode::Enforce) => Outcome::Fail,
        (false, Mode::Warn) => {
            run.warnings.push(format!(
                "policy `{}` failed (mode: warn): {}",
                policy.name,
                reason.as_deref().unwrap_or("no reason given")
            ));
            Outcome::Warn
        }
    };
    PolicyReport {
        name: policy.name.clone(),
        result,
        code,
        reason,
        authorities,
    }
}

/// Runs a Rego policy; `Err((code, reason))` when it denies or errs.
fn run_rego(
    rego: &RegoPolicy,
    input: &Value,
    run: &mut Run,
    context: &str,
) -> Result<(), (Code, String)> {
    let limit = match run.deadline {
        None => rego.time_limit(),
        Some(deadline) => {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err((
                    Code::DeadlineExceeded,
                    "the evaluation deadline passed before the Rego policy could run".to_owned(),
                ));
            }
            left
        }
    };
    match rego.evaluate_within(input, limit) {
        Ok(outcome) => {
            run.warnings
                .extend(outcome.warnings.iter().map(|w| format!("{context}: {w}")));
            if outcome.allowed {
                Ok(())
            } else if outcome.errors.is_empty() {
                Err((Code::PolicyFailed, "the Rego policy denied".to_owned()))
            } else {
                Err((
                    Code::PolicyFailed,
                    format!("the Rego policy denied: {}", outcome.errors.join("; ")),
                ))
            }
        }
        Err(e @ RegoError::TimeLimitExceeded { .. }) if run.deadline_passed() => Err((
            Code::DeadlineExceeded,
            format!("the evaluation deadline passed while the Rego policy ran: {e}"),
        )),
        Err(e) => Err((
            Code::PolicyError,
            format!("the Rego policy could not be evaluated: {}", chain(&e)),
        )),
    }
}

/// `error: cause: cause…` (e.g. [`RegoError::Input`] keeps its JSON error
/// as its source).
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut next = error.source();
    while let Some(e) = next {
        out.push_str(": ");
        out.push_str(&e.to_string());
        next = e.source();
    }
    out
}

fn pass(name: &str, code: Code, reason: String, matched: Value) -> AuthorityResult {
    AuthorityResult {
        report: AuthorityReport {
            name: name.to_owned(),
            result: Outcome::Pass,
            reason,
            code,
        },
        matched: Some(matched),
    }
}

fn fail(name: &str, code: Code, reason: String) -> AuthorityResult {
    AuthorityResult {
        report: AuthorityReport {
            name: name.to_owned(),
            result: Outcome::Fail,
            reason,
            code,
        },
        matched: None,
    }
}

fn evaluate_authority(
    authority: &Authority,
    facts: Option<&Facts>,
    now: Timestamp,
    run: &mut Run,
) -> AuthorityResult {
    let name = authority.name.as_str();
    let (keys, threshold) = match &authority.rule {
        Rule::Static { pass: true, .. } => {
            return pass(
                name,
                Code::StaticPass,
                "static authority: pass".to_owned(),
                json!({"static": true}),
            );
        }
        Rule::Static {
            pass: false,
            message,
        } => {
            let reason = match message {
                Some(m) => format!("disallowed by static policy: {m}"),
                None => "disallowed by static policy".to_owned(),
            };
            return fail(name, Code::StaticFail, reason);
        }
        Rule::Keys { keys, threshold } => (keys, *threshold),
    };
    let Some(facts) = facts else {
        return fail(
            name,
            Code::FetchFailed,
            "attachments were not fetched".to_owned(),
        );
    };
    let (trusted, distrusted): (Vec<&PolicyKey>, Vec<&PolicyKey>) =
        keys.iter().partition(|k| k.trust_at(now).is_trusted());
    let trust = Trust {
        trusted: trusted.iter().map(|k| k.id()).collect(),
        distrusted,
        now,
    };
    if authority.attestations.is_empty() {
        signature_authority(name, &trust, threshold, facts)
    } else {
        attestation_authority(authority, &trust, threshold, facts, run)
    }
}

/// An authority's keys split by trust at the decision's instant.
struct Trust<'a> {
    /// Keys trusted now.
    trusted: Vec<KeyId>,
    /// Keyset keys not trusted now (revoked, retired outside their window):
    /// signatures by them never count, they only explain refusals.
    distrusted: Vec<&'a PolicyKey>,
    now: Timestamp,
}

impl Trust<'_> {
    /// `<id16> (<name>): <why>` for each distrusted key among `signers`.
    fn explain(&self, signers: &BTreeSet<KeyId>) -> Vec<String> {
        self.distrusted
            .iter()
            .filter(|k| signers.contains(&k.id()))
            .map(|k| k.distrust_reason(self.now))
            .collect()
    }
}

fn signature_authority(
    name: &str,
    trust: &Trust<'_>,
    threshold: usize,
    facts: &Facts,
) -> AuthorityResult {
    let key_ids = trust.trusted.as_slice();
    let signers = facts.signers_among(key_ids);
    if signers.len() >= threshold {
        let signatures: Vec<Value> = facts
            .signatures()
            .iter()
            .filter(|s| key_ids.contains(&s.verified.key_id()))
            .map(|s| json!({"id": s.id.hex(), "keyId": s.verified.key_id().to_string()}))
            .collect();
        return pass(
            name,
            Code::SignatureVerified,
            format!(
                "signed by {} of {} trusted key(s) (threshold {threshold})",
                signers.len(),
                key_ids.len()
            ),
            json!({ "signatures": signatures }),
        );
    }
    if facts.signature_layers() == 0 {
        fail(
            name,
            Code::SignatureMissing,
            format!("no signatures found for {}", facts.digest()),
        )
    } else if signers.is_empty() {
        let all: BTreeSet<KeyId> = facts
            .signatures()
            .iter()
            .map(|s| s.verified.key_id())
            .collect();
        let untrusted = trust.explain(&all);
        if !untrusted.is_empty() {
            return fail(
                name,
                Code::SignerNotTrusted,
                format!(
                    "signed only by key(s) not trusted now: {}",
                    untrusted.join("; ")
                ),
            );
        }
        fail(
            name,
            Code::SignerNotTrusted,
            format!(
                "none of the {} signature(s) of {} verifies with the authority's {} key(s)",
                facts.signature_layers(),
                facts.digest(),
                key_ids.len()
            ),
        )
    } else {
        let all: BTreeSet<KeyId> = facts
            .signatures()
            .iter()
            .map(|s| s.verified.key_id())
            .collect();
        fail(
            name,
            Code::ThresholdUnmet,
            format!(
                "signed by {} distinct trusted key(s), threshold is {threshold}{}",
                signers.len(),
                not_counted(&trust.explain(&all))
            ),
        )
    }
}

/// ` (also signed by, not counted: …)` or nothing.
fn not_counted(untrusted: &[String]) -> String {
    if untrusted.is_empty() {
        String::new()
    } else {
        format!(" (also signed by, not counted: {})", untrusted.join("; "))
    }
}

fn statement_json(fact: &AttestationFact) -> Value {
    let s = fact.verified.value();
    json!({
        "_type": s.statement_type().as_str(),
        "predicateType": s.predicate_type(),
        "subject": serde_json::to_value(s.subject()).unwrap_or(Value::Null),
        "predicate": s.predicate(),
    })
}

fn attestation_authority(
    authority: &Authority,
    trust: &Trust<'_>,
    threshold: usize,
    facts: &Facts,
    run: &mut Run,
) -> AuthorityResult {
    let name = authority.name.as_str();
    let mut matched = serde_json::Map::new();
    for rule in &authority.attestations {
        match check_attestation(rule, trust, threshold, facts, run, name) {
            Ok(entries) => {
                matched.insert(rule.name.clone(), Value::Array(entries));
            }
            Err((code, reason)) => return fail(name, code, reason),
        }
    }
    pass(
        name,
        Code::AttestationsVerified,
        format!(
            "{} required attestation(s) verified",
            authority.attestations.len()
        ),
        json!({ "attestations": matched }),
    )
}

fn check_attestation(
    rule: &AttestationRule,
    trust: &Trust<'_>,
    threshold: usize,
    facts: &Facts,
    run: &mut Run,
    authority: &str,
) -> Result<Vec<Value>, (Code, String)> {
    let key_ids = trust.trusted.as_slice();
    let signers_of_type: BTreeSet<KeyId> = facts
        .attestations()
        .iter()
        .filter(|a| a.verified.value().predicate_type() == rule.predicate_type)
        .map(|a| a.verified.key_id())
        .collect();
    let untrusted = trust.explain(&signers_of_type);
    let trusted: Vec<&AttestationFact> = facts
        .attestations()
        .iter()
        .filter(|a| key_ids.contains(&a.verified.key_id()))
        .collect();
    let candidates: Vec<&AttestationFact> = trusted
        .iter()
        .copied()
        .filter(|a| a.verified.value().predicate_type() == rule.predicate_type)
        .collect();
    if candidates.is_empty() && !untrusted.is_empty() {
        return Err((
            Code::SignerNotTrusted,
            format!(
                "attestation `{}`: of type `{}` signed only by key(s) not trusted now: {}",
                rule.name,
                rule.predicate_type,
                untrusted.join("; ")
            ),
        ));
    }
    if candidates.is_empty() {
        let seen: BTreeSet<&str> = trusted
            .iter()
            .map(|a| a.verified.value().predicate_type())
            .collect();
        return Err((
            Code::AttestationMissing,
            format!(
                "attestation `{}`: none of type `{}` signed by a trusted key ({} envelope(s) found; trusted types: {:?})",
                rule.name,
                rule.predicate_type,
                facts.attestation_envelopes(),
                seen
            ),
        ));
    }
    let mut passing_keys = BTreeSet::new();
    let mut entries = Vec::new();
    let mut first_failure: Option<(Code, String)> = None;
    for fact in candidates {
        if let Some(rego) = &rule.policy {
            let context = format!("{authority}/{}", rule.name);
            if let Err(failure) = run_rego(rego, &statement_json(fact), run, &context) {
                first_failure.get_or_insert(failure);
                continue;
            }
        }
        passing_keys.insert(fact.verified.key_id());
        entries.push(json!({
            "id": fact.id.hex(),
            "keyId": fact.verified.key_id().to_string(),
            "predicateType": fact.verified.value().predicate_type(),
        }));
    }
    if passing_keys.len() >= threshold {
        return Ok(entries);
    }
    match first_failure {
        Some((code, reason)) if passing_keys.is_empty() => {
            let code = if code == Code::PolicyFailed {
                Code::AttestationPolicyFailed
            } else {
                code
            };
            Err((code, format!("attestation `{}`: {reason}", rule.name)))
        }
        _ => Err((
            Code::ThresholdUnmet,
            format!(
                "attestation `{}`: passed for {} distinct trusted key(s), threshold is {threshold}{}",
                rule.name,
                passing_keys.len(),
                not_counted(&untrusted)
            ),
        )),
    }
}
