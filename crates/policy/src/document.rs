//! The policy document formats as written on disk (strict serde types).
//!
//! Two kinds are read:
//! - sigstore policy-controller's `ClusterImagePolicy`
//!   (`policy.sigstore.dev/v1beta1` and `v1alpha1`), restricted to what rsign
//!   can evaluate offline: key authorities with inline PEM data, static
//!   authorities, attestations with Rego policies, a spec-level Rego policy
//!   and `mode`;
//! - rsign's own `ImagePolicy` (`rsign.dev/v1alpha1`): the same spec plus, per
//!   authority, `keys` (inline PEM or files), `threshold` and `keyset`.
//!
//! Every field policy-controller defines but rsign cannot honour (keyless,
//! KMS, secrets, transparency logs, remote policies, CUE, …) is rejected with
//! a message naming the field, at the field's line and column. Fields neither
//! format defines are rejected as unknown. Nothing is silently ignored except
//! `metadata.labels` and `metadata.annotations`, which carry no policy.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny};

use crate::glob::Glob;
use rsign_core::keys::PublicKey;

/// `apiVersion`s of sigstore policy-controller's `ClusterImagePolicy`.
pub const CIP_API_VERSIONS: &[&str] = &[
    "policy.sigstore.dev/v1beta1",
    "policy.sigstore.dev/v1alpha1",
];
/// `kind` of sigstore policy-controller's policy.
pub const CIP_KIND: &str = "ClusterImagePolicy";
/// `apiVersion` of rsign's native policy.
pub const NATIVE_API_VERSION: &str = "rsign.dev/v1alpha1";
/// `kind` of rsign's native policy.
pub const NATIVE_KIND: &str = "ImagePolicy";

/// The first two fields of any document, read leniently to pick the type.
#[derive(Debug, Deserialize)]
pub(crate) struct Header {
    #[serde(rename = "apiVersion")]
    pub api_version: Option<String>,
    pub kind: Option<String>,
}

/// A whole document; `A` is the authority type of its kind.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    bound(deserialize = "A: Deserialize<'de>")
)]
pub(crate) struct RawDocument<A> {
    #[allow(
        dead_code,
        reason = "checked through Header before this type is chosen"
    )]
    pub api_version: String,
    #[allow(
        dead_code,
        reason = "checked through Header before this type is chosen"
    )]
    pub kind: String,
    pub metadata: Metadata,
    pub spec: RawSpec<A>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Metadata {
    pub name: String,
    #[serde(default)]
    #[allow(
        dead_code,
        reason = "accepted so that cluster manifests load; no policy meaning"
    )]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    #[allow(
        dead_code,
        reason = "accepted so that cluster manifests load; no policy meaning"
    )]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, bound(deserialize = "A: Deserialize<'de>"))]
pub(crate) struct RawSpec<A> {
    pub images: Vec<ImagePattern>,
    #[serde(default)]
    pub authorities: Vec<A>,
    #[serde(default)]
    pub policy: Option<RawPolicy>,
    #[serde(default)]
    pub mode: Option<Mode>,
    #[serde(default, rename = "match", deserialize_with = "reject_match")]
    pub _match: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImagePattern {
    #[serde(deserialize_with = "glob")]
    pub glob: Glob,
}

/// `spec.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A failing policy denies (the default).
    #[default]
    Enforce,
    /// A failing policy admits the image with a warning.
    Warn,
}

/// Declares an authority type: its own fields, then the policy-controller
/// fields rsign rejects, written once for both kinds. A macro rather than a
/// `#[serde(flatten)]`ed struct: serde does not support `deny_unknown_fields`
/// together with `flatten`, and flattening buffers the map, which loses the
/// line and column of errors inside it.
macro_rules! authority_type {
    (
        $(#[$meta:meta])*
        struct $name:ident {
            $( $(#[$field_meta:meta])* pub $field:ident : $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
        pub(crate) struct $name {
            $( $(#[$field_meta])* pub $field: $ty, )*
            #[serde(default, rename = "keyless", deserialize_with = "reject_keyless")]
            pub _keyless: Option<IgnoredAny>,
            #[serde(default, rename = "source", deserialize_with = "reject_source")]
            pub _source: Option<IgnoredAny>,
            #[serde(default, rename = "ctlog", deserialize_with = "ctlog")]
            pub _ctlog: Option<()>,
            #[serde(
                default,
                rename = "rfc3161timestamp",
                deserialize_with = "reject_rfc3161"
            )]
            pub _rfc3161timestamp: Option<IgnoredAny>,
            #[serde(
                default,
                rename = "signatureFormat",
                deserialize_with = "signature_format"
            )]
            pub _signature_format: Option<()>,
        }
    };
}

authority_type! {
    /// An authority of a `ClusterImagePolicy`.
    struct CipAuthority {
        #[serde(default)]
        pub name: Option<String>,
        #[serde(default)]
        pub key: Option<KeyRef>,
        #[serde(default)]
        pub r#static: Option<StaticRef>,
        #[serde(default)]
        pub attestations: Vec<RawAttestation>,
    }
}

authority_type! {
    /// An authority of an rsign `ImagePolicy`: the CIP fields plus `keys`,
    /// `threshold` and `keyset`.
    struct NativeAuthority {
        #[serde(default)]
        pub name: Option<String>,
        #[serde(default)]
        pub key: Option<KeyRef>,
        #[serde(default)]
        pub keys: Vec<KeySpec>,
        #[serde(default)]
        pub threshold: Option<usize>,
        #[serde(default)]
        pub keyset: Option<String>,
        #[serde(default)]
        pub r#static: Option<StaticRef>,
        #[serde(default)]
        pub attestations: Vec<RawAttestation>,
    }
}

/// `authorities[].key`: inline PEM only.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct KeyRef {
    #[serde(default, deserialize_with = "pem_key")]
    pub data: Option<PublicKey>,
    #[serde(default, rename = "hashAlgorithm", deserialize_with = "hash_algorithm")]
    pub _hash_algorithm: Option<()>,
    #[serde(default, rename = "kms", deserialize_with = "reject_kms")]
    pub _kms: Option<IgnoredAny>,
    #[serde(default, rename = "secretRef", deserialize_with = "reject_secret_ref")]
    pub _secret_ref: Option<IgnoredAny>,
}

/// `authorities[].keys[]` of a native policy: `{data: PEM}` or `{path: FILE}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeySpec {
    #[serde(default, deserialize_with = "pem_key")]
    pub data: Option<PublicKey>,
    #[serde(default)]
    pub path: Option<String>,
}

/// `authorities[].static`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StaticRef {
    pub action: StaticAction,
    #[serde(default)]
    pub message: Option<String>,
}

/// `static.action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum StaticAction {
    Pass,
    Fail,
}

/// `authorities[].attestations[]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawAttestation {
    pub name: String,
    #[serde(deserialize_with = "predicate_type")]
    pub predicate_type: String,
    #[serde(default)]
    pub policy: Option<RawPolicy>,
}

/// `spec.policy` and `attestations[].policy`: inline Rego only.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawPolicy {
    #[serde(rename = "type", deserialize_with = "policy_type")]
    pub _type: (),
    #[serde(default)]
    pub data: Option<String>,
    #[serde(default, rename = "remote", deserialize_with = "reject_remote")]
    pub _remote: Option<IgnoredAny>,
    #[serde(default, rename = "url", deserialize_with = "reject_url")]
    pub _url: Option<IgnoredAny>,
    #[serde(
        default,
        rename = "configMapRef",
        deserialize_with = "reject_config_map_ref"
    )]
    pub _config_map_ref: Option<IgnoredAny>,
    #[serde(
        default,
        rename = "fetchConfigFile",
        deserialize_with = "reject_fetch_config_file"
    )]
    pub _fetch_config_file: Option<()>,
    #[serde(
        default,
        rename = "includeSpec",
        deserialize_with = "reject_include_spec"
    )]
    pub _include_spec: Option<()>,
    #[serde(
        default,
        rename = "includeObjectMeta",
        deserialize_with = "reject_include_object_meta"
    )]
    pub _include_object_meta: Option<()>,
    #[serde(
        default,
        rename = "includeTypeMeta",
        deserialize_with = "reject_include_type_meta"
    )]
    pub _include_type_meta: Option<()>,
}

/// Defines a `deserialize_with` function that fails, at the field's
/// position, with "`FIELD` is not supported by rsign: WHY".
macro_rules! reject_field {
    ($fn_name:ident, $field:literal, $why:literal) => {
        fn $fn_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<IgnoredAny>, D::Error> {
            let _ = IgnoredAny::deserialize(d)?;
            Err(de::Error::custom(concat!(
                "`",
                $field,
                "` is not supported by rsign: ",
                $why
            )))
        }
    };
}

reject_field!(
    reject_keyless,
    "keyless",
    "rsign verifies with public keys only (no Fulcio certificates); use `key`"
);
reject_field!(
    reject_source,
    "source",
    "signatures are read from the image's own repository (no `oci` override, no signaturePullSecrets, no tagPrefix)"
);
reject_field!(
    reject_rfc3161,
    "rfc3161timestamp",
    "rsign does not verify RFC 3161 timestamps"
);
reject_field!(
    reject_kms,
    "kms",
    "KMS keys cannot be fetched offline; put the public key PEM in `data`"
);
reject_field!(
    reject_secret_ref,
    "secretRef",
    "Kubernetes secrets cannot be read; put the public key PEM in `data`"
);
reject_field!(
    reject_remote,
    "remote",
    "policies are never fetched over the network; inline the Rego in `data`"
);
reject_field!(
    reject_url,
    "url",
    "policies are never fetched over the network; inline the Rego in `data`"
);
reject_field!(
    reject_config_map_ref,
    "configMapRef",
    "Kubernetes config maps cannot be read; inline the Rego in `data`"
);
reject_field!(
    reject_match,
    "match",
    "rsign evaluates images, not Kubernetes resources; remove the resource selector"
);

/// Defines a `deserialize_with` function for a boolean flag that rsign
/// accepts only as `false`.
macro_rules! reject_true {
    ($fn_name:ident, $field:literal, $why:literal) => {
        fn $fn_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<()>, D::Error> {
            if bool::deserialize(d)? {
                Err(de::Error::custom(concat!(
                    "`",
                    $field,
                    ": true` is not supported by rsign: ",
                    $why
                )))
            } else {
                Ok(Some(()))
            }
        }
    };
}

reject_true!(
    reject_fetch_config_file,
    "fetchConfigFile",
    "image config files are not fetched for policy evaluation"
);
reject_true!(
    reject_include_spec,
    "includeSpec",
    "there is no Kubernetes resource spec to include"
);
reject_true!(
    reject_include_object_meta,
    "includeObjectMeta",
    "there is no Kubernetes object metadata to include"
);
reject_true!(
    reject_include_type_meta,
    "includeTypeMeta",
    "there is no Kubernetes type metadata to include"
);

/// `ctlog`: only the empty `ctlog: {}` (transparency log verification
/// disabled, which is what rsign does) is accepted.
fn ctlog<'de, D: Deserializer<'de>>(d: D) -> Result<Option<()>, D::Error> {
    let map = BTreeMap::<String, IgnoredAny>::deserialize(d)?;
    if map.is_empty() {
        Ok(Some(()))
    } else {
        Err(de::Error::custom(
            "`ctlog` with `url` or `trustRootRef` is not supported by rsign: there is no transparency log verification; use `ctlog: {}` or omit it",
        ))
    }
}

/// `signatureFormat`: only `legacy` (cosign's tag-based `.sig` layers).
fn signature_format<'de, D: Deserializer<'de>>(d: D) -> Result<Option<()>, D::Error> {
    let value = String::deserialize(d)?;
    if value == "legacy" {
        Ok(Some(()))
    } else {
        Err(de::Error::custom(format!(
            "`signatureFormat: {}` is not supported by rsign: only `legacy` signatures are read",
            value.chars().take(40).collect::<String>()
        )))
    }
}

/// `hashAlgorithm`: only `sha256`, the hash cosign signs image payloads with.
fn hash_algorithm<'de, D: Deserializer<'de>>(d: D) -> Result<Option<()>, D::Error> {
    let value = String::deserialize(d)?;
    if value == "sha256" {
        Ok(Some(()))
    } else {
        Err(de::Error::custom(format!(
            "`hashAlgorithm: {}` is not supported by rsign: only `sha256` is",
            value.chars().take(40).collect::<String>()
        )))
    }
}

/// `policy.type`: `rego`; `cue` is rejected with a hint.
fn policy_type<'de, D: Deserializer<'de>>(d: D) -> Result<(), D::Error> {
    let value = String::deserialize(d)?;
    match value.as_str() {
        "rego" => Ok(()),
        "cue" => Err(de::Error::custom(
            "`type: cue` is not supported by rsign: write the policy in Rego (`type: rego`)",
        )),
        other => Err(de::Error::custom(format!(
            "unknown policy type `{}`, expected `rego`",
            other.chars().take(40).collect::<String>()
        ))),
    }
}

fn glob<'de, D: Deserializer<'de>>(d: D) -> Result<Glob, D::Error> {
    let value = String::deserialize(d)?;
    Glob::compile(&value).map_err(de::Error::custom)
}

fn pem_key<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PublicKey>, D::Error> {
    let value = String::deserialize(d)?;
    PublicKey::from_pem(value.as_bytes())
        .map(Some)
        .map_err(|e| de::Error::custom(format!("invalid public key in `data`: {e}")))
}

fn predicate_type<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let value = String::deserialize(d)?;
    rsign_core::intoto::predicate_type_uri(&value)
        .map(|uri| uri.into_owned())
        .map_err(de::Error::custom)
}
