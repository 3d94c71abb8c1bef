//! The outcome of an evaluation: [`Decision`], with stable diagnostic [`Code`]s.

use rsign_core::Digest;
use serde::Serialize;

/// Stable kebab-case codes for every reason an authority, policy or image
/// passed or failed. They are part of rsign's JSON output: never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Code {
    /// Enough trusted keys signed the image.
    SignatureVerified,
    /// Every required attestation was signed by trusted keys and passed its policy.
    AttestationsVerified,
    /// A `static: {action: pass}` authority.
    StaticPass,
    /// A `static: {action: fail}` authority.
    StaticFail,
    /// The image has no signatures at all.
    SignatureMissing,
    /// The image has signatures, but none by a trusted key for this digest.
    SignerNotTrusted,
    /// Some trusted keys signed, but fewer than the threshold.
    ThresholdUnmet,
    /// No attestation of the required predicate type was signed by a trusted key.
    AttestationMissing,
    /// Signed attestations of the type exist but none passed the policy.
    AttestationPolicyFailed,
    /// No authority of the policy passed.
    NoAuthorityPassed,
    /// The policy-level Rego policy denied.
    PolicyFailed,
    /// A Rego policy could not be evaluated.
    PolicyError,
    /// Every matching policy passed.
    AllPoliciesPassed,
    /// A failing policy in `mode: warn` admitted the image.
    WarnMode,
    /// No policy's glob matches the image.
    NoMatchingPolicy,
    /// Attachments or the digest could not be fetched.
    FetchFailed,
    /// The evaluation ran out of time.
    DeadlineExceeded,
    /// The image reference is not valid.
    InvalidReference,
}

impl Code {
    /// Every code, in declaration order.
    pub const ALL: &'static [Code] = &[
        Code::SignatureVerified,
        Code::AttestationsVerified,
        Code::StaticPass,
        Code::StaticFail,
        Code::SignatureMissing,
        Code::SignerNotTrusted,
        Code::ThresholdUnmet,
        Code::AttestationMissing,
        Code::AttestationPolicyFailed,
        Code::NoAuthorityPassed,
        Code::PolicyFailed,
        Code::PolicyError,
        Code::AllPoliciesPassed,
        Code::WarnMode,
        Code::NoMatchingPolicy,
        Code::FetchFailed,
        Code::DeadlineExceeded,
        Code::InvalidReference,
    ];

    /// The kebab-case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::SignatureVerified => "signature-verified",
            Code::AttestationsVerified => "attestations-verified",
            Code::StaticPass => "static-pass",
            Code::StaticFail => "static-fail",
            Code::SignatureMissing => "signature-missing",
            Code::SignerNotTrusted => "signer-not-trusted",
            Code::ThresholdUnmet => "threshold-unmet",
            Code::AttestationMissing => "attestation-missing",
            Code::AttestationPolicyFailed => "attestation-policy-failed",
            Code::NoAuthorityPassed => "no-authority-passed",
            Code::PolicyFailed => "policy-failed",
            Code::PolicyError => "policy-error",
            Code::AllPoliciesPassed => "all-policies-passed",
            Code::WarnMode => "warn-mode",
            Code::NoMatchingPolicy => "no-matching-policy",
            Code::FetchFailed => "fetch-failed",
            Code::DeadlineExceeded => "deadline-exceeded",
            Code::InvalidReference => "invalid-reference",
        }
    }

    /// One line saying what the code means.
    pub fn description(self) -> &'static str {
        match self {
            Code::SignatureVerified => "enough trusted keys signed the image digest",
            Code::AttestationsVerified => {
                "every required attestation is signed by trusted keys and passes its policy"
            }
            Code::StaticPass => "a static authority admits every matching image",
            Code::StaticFail => "a static authority rejects every matching image",
            Code::SignatureMissing => "the image has no signatures",
            Code::SignerNotTrusted => "no signature of the image verifies with a trusted key",
            Code::ThresholdUnmet => {
                "fewer distinct trusted keys signed than the threshold requires"
            }
            Code::AttestationMissing => {
                "no attestation of the required type is signed by a trusted key"
            }
            Code::AttestationPolicyFailed => {
                "signed attestations of the required type exist but none passes the policy"
            }
            Code::NoAuthorityPassed => "no authority of the policy passed",
            Code::PolicyFailed => "the policy-level Rego policy denied",
            Code::PolicyError => "a Rego policy could not be evaluated",
            Code::AllPoliciesPassed => "every policy matching the image passed",
            Code::WarnMode => "a failing policy in warn mode admitted the image with a warning",
            Code::NoMatchingPolicy => "no policy's images glob matches the image",
            Code::FetchFailed => "the digest or attachments could not be fetched (fail closed)",
            Code::DeadlineExceeded => {
                "the evaluation did not finish before its deadline (fail closed)"
            }
            Code::InvalidReference => "the image reference is not valid",
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The overall verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Admit.
    Allow,
    /// Reject.
    Deny,
    /// Admit, with warnings.
    Warn,
}

impl Verdict {
    /// Whether the image is admitted (`allow` or `warn`).
    pub fn admits(self) -> bool {
        !matches!(self, Verdict::Deny)
    }
}

/// The result of one authority or policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It passed.
    Pass,
    /// It failed.
    Fail,
    /// It failed in `mode: warn`: the image is admitted with a warning.
    Warn,
}

/// What one authority concluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthorityReport {
    /// The authority's name (`authority-<index>` when unnamed).
    pub name: String,
    /// Pass or fail.
    pub result: Outcome,
    /// A human-readable reason.
    pub reason: String,
    /// The stable code of the reason.
    pub code: Code,
}

/// What one matching policy concluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyReport {
    /// `metadata.name`.
    pub name: String,
    /// Pass, fail, or warn (failed in warn mode).
    pub result: Outcome,
    /// Why the policy as a whole failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<Code>,
    /// A human-readable reason for the policy-level result, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// One report per authority, in document order.
    pub authorities: Vec<AuthorityReport>,
}

/// The decision about one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The image as asked about.
    pub image: String,
    /// The digest it resolved to, when resolution was needed and succeeded.
    pub digest: Option<Digest>,
    /// Allow, deny or warn.
    #[serde(rename = "decision")]
    pub verdict: Verdict,
    /// The code summarising the decision.
    pub code: Code,
    /// A human-readable summary.
    pub reason: String,
    /// One report per matching policy, in load order.
    pub policies: Vec<PolicyReport>,
    /// Warnings (warn-mode failures, Rego warnings, no-match in warn mode).
    pub warnings: Vec<String>,
}

impl Decision {
    /// The decision as JSON (`{"image", "digest", "decision", "code",
    /// "reason", "policies", "warnings"}`).
    pub fn to_json(&self) -> serde_json::Value {
        // Serializing these plain types cannot fail (string keys, no maps with
        // non-string keys, no floats).
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    pub(crate) fn without_policies(
        image: &str,
        digest: Option<Digest>,
        verdict: Verdict,
        code: Code,
        reason: String,
    ) -> Self {
        Self {
            image: image.to_owned(),
            digest,
            verdict,
            code,
            reason,
            policies: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_kebab_case() {
        let names: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        let unique: HashSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len(), "duplicate code in {names:?}");
        let descriptions: HashSet<&str> = Code::ALL.iter().map(|c| c.description()).collect();
        assert_eq!(descriptions.len(), names.len(), "duplicate description");
        for code in Code::ALL {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, serde_json::Value::String(code.as_str().to_owned()));
            assert!(
                code.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'-')
            );
        }
        // The published list: changing it breaks users' scripts.
        assert_eq!(
            names,
            [
                "signature-verified",
                "attestations-verified",
                "static-pass",
                "static-fail",
                "signature-missing",
                "signer-not-trusted",
                "threshold-unmet",
                "attestation-missing",
                "attestation-policy-failed",
                "no-authority-passed",
                "policy-failed",
                "policy-error",
                "all-policies-passed",
                "warn-mode",
                "no-matching-policy",
                "fetch-failed",
                "deadline-exceeded",
                "invalid-reference",
            ]
        );
    }
}
