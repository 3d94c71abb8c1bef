//! `rsign download signature|attestation`: print what is attached, one JSON
//! document per line, in the shape `cosign download` prints.
//!
//! * `signature`: per `.sig` layer, cosign's `SignedPayload`:
//!   `{"Base64Signature":"…","Payload":"<base64 of the layer>","Cert":null,
//!   "Chain":null,"Bundle":null,"RFC3161Timestamp":null}`. `Bundle` and
//!   `RFC3161Timestamp` carry the JSON of the layer's
//!   `dev.sigstore.cosign/bundle` / `dev.sigstore.cosign/rfc3161timestamp`
//!   annotations when present. `Cert` and `Chain` stay `null`: cosign prints
//!   Go's internal dump of a parsed X.509 certificate there, which rsign does
//!   not imitate (key-based signatures have no certificate).
//! * `attestation`: per `.att` layer, the DSSE envelope as
//!   `{"payloadType":"…","payload":"…","signatures":[{"keyid":"…","sig":"…"}]}`,
//!   optionally only those whose statement has `--predicate-type`.
//!
//! Strings are escaped as Go's `encoding/json` escapes them (`<`, `>`, `&`,
//! U+2028, U+2029 as `\uXXXX`), so the lines are byte-identical to cosign's.
//! Nothing is verified: this prints what is stored. No attachment: exit 3.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clap::{Args, Subcommand};
use rsign_core::oci::ANNOTATION_SIGNATURE;
use rsign_registry::AttachmentKind;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::attachments::{attachment_reference, open_and_resolve, read_kind};
use super::block_on;
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::output::Printer;
use crate::registry_args::RegistryArgs;
use crate::target::ImageTarget;

/// The annotation holding a Rekor bundle (keyless or tlog-uploaded signatures).
const ANNOTATION_BUNDLE: &str = "dev.sigstore.cosign/bundle";
/// The annotation holding an RFC 3161 timestamp.
const ANNOTATION_RFC3161: &str = "dev.sigstore.cosign/rfc3161timestamp";

/// `rsign download`.
#[derive(Debug, Args)]
#[command(after_help = "Example:
  rsign download signature registry.example/app:1.0
  rsign download attestation --predicate-type https://slsa.dev/provenance/v1 oci:./app-layout:1.0

Prints one JSON document per attached layer, as `cosign download` does; \
nothing is verified. Exits 3 when nothing is attached.")]
pub struct DownloadArgs {
    /// What to download.
    #[command(subcommand)]
    pub what: DownloadCommand,
}

/// The kinds `download` prints.
#[derive(Debug, Subcommand)]
pub enum DownloadCommand {
    /// Print the image's signatures (one cosign `SignedPayload` JSON per line).
    #[command(after_help = "Example:
  rsign download signature registry.example/app:1.0 | jq -r .Payload | base64 -d")]
    Signature(DownloadSignatureArgs),
    /// Print the image's attestations (one DSSE envelope JSON per line).
    #[command(after_help = "Example:
  rsign download attestation registry.example/app:1.0 | jq -r .payload | base64 -d")]
    Attestation(DownloadAttestationArgs),
}

/// `rsign download signature`.
#[derive(Debug, Args)]
pub struct DownloadSignatureArgs {
    /// The image (`REGISTRY/REPO[:TAG][@DIGEST]`, or `oci:DIR[:TAG]`).
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Registry options.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `rsign download attestation`.
#[derive(Debug, Args)]
pub struct DownloadAttestationArgs {
    /// The image (`REGISTRY/REPO[:TAG][@DIGEST]`, or `oci:DIR[:TAG]`).
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Print only attestations whose statement has this predicate type (a URI).
    #[arg(long, value_name = "URI")]
    pub predicate_type: Option<String>,
    /// Registry options.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// A validated `download`.
#[derive(Debug)]
pub struct Request {
    /// The image.
    pub image: ImageTarget,
    /// Signatures or attestations.
    pub kind: AttachmentKind,
    /// Attestations only: the predicate type to keep.
    pub predicate_type: Option<String>,
    /// Registry options.
    pub registry: RegistryArgs,
}

impl TryFrom<DownloadArgs> for Request {
    type Error = CliError;

    fn try_from(args: DownloadArgs) -> Result<Self, CliError> {
        Ok(match args.what {
            DownloadCommand::Signature(a) => Self {
                image: ImageTarget::parse(&a.image)?,
                kind: AttachmentKind::Signature,
                predicate_type: None,
                registry: a.registry,
            },
            DownloadCommand::Attestation(a) => Self {
                image: ImageTarget::parse(&a.image)?,
                kind: AttachmentKind::Attestation,
                predicate_type: a.predicate_type,
                registry: a.registry,
            },
        })
    }
}

/// cosign's `SignedPayload`, field for field.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct SignedPayload {
    base64_signature: String,
    payload: String,
    cert: Option<Value>,
    chain: Option<Value>,
    bundle: Option<Value>,
    #[serde(rename = "RFC3161Timestamp")]
    rfc3161_timestamp: Option<Value>,
}

/// cosign's `AttestationPayload` (a DSSE envelope as Go decodes it).
#[derive(Debug, Serialize, Deserialize)]
struct AttestationPayload {
    #[serde(rename = "payloadType", default)]
    payload_type: String,
    #[serde(default)]
    payload: String,
    #[serde(default)]
    signatures: Vec<EnvelopeSignature>,
}

#[derive(Debug, Serialize, Deserialize)]
struct EnvelopeSignature {
    #[serde(default)]
    keyid: String,
    #[serde(default)]
    sig: String,
}

/// Prints the attachments.
pub fn run(request: Request, printer: &Printer) -> Result<ExitStatus, CliError> {
    block_on(download(request, printer))
}

async fn download(request: Request, printer: &Printer) -> Result<ExitStatus, CliError> {
    let (stores, open, resolved) =
        open_and_resolve(&request.image, &request.registry, printer).await?;
    let pinned = open.target.pinned(&resolved.digest);
    let kind = request.kind;
    let none = || CliError::NoAttachments {
        image: pinned.clone(),
        what: kind.to_string(),
        reference: attachment_reference(open.attach_store(), &resolved.digest, kind),
    };
    let found = read_kind(&stores, &open, &resolved, kind)
        .await?
        .filter(|a| !a.layers.is_empty())
        .ok_or_else(none)?;
    let mut out = String::new();
    let mut printed = 0usize;
    for layer in &found.layers {
        let line = match kind {
            AttachmentKind::Signature => signature_line(&layer.descriptor, &layer.payload),
            _ => match attestation_line(&layer.payload, request.predicate_type.as_deref()) {
                Ok(Some(line)) => line,
                Ok(None) => continue,
                Err(reason) => {
                    return Err(CliError::Malformed {
                        image: pinned.clone(),
                        what: format!("attestation layer {}", layer.descriptor.digest),
                        reason,
                    });
                }
            },
        };
        out.push_str(&line);
        out.push('\n');
        printed += 1;
    }
    if printed == 0 {
        return Err(CliError::NoAttachments {
            image: pinned.clone(),
            what: format!(
                "attestations with predicate type `{}`",
                request.predicate_type.as_deref().unwrap_or_default()
            ),
            reference: attachment_reference(open.attach_store(), &resolved.digest, kind),
        });
    }
    printer.data(out.as_bytes())?;
    Ok(ExitStatus::Success)
}

/// One `SignedPayload` line for a `.sig` layer.
fn signature_line(descriptor: &rsign_core::oci::Descriptor, payload: &[u8]) -> String {
    let annotation_json = |key: &str| {
        descriptor
            .annotation(key)
            .and_then(|text| serde_json::from_str::<Value>(text).ok())
    };
    let signed = SignedPayload {
        base64_signature: descriptor
            .annotation(ANNOTATION_SIGNATURE)
            .unwrap_or_default()
            .to_owned(),
        payload: STANDARD.encode(payload),
        cert: None,
        chain: None,
        bundle: annotation_json(ANNOTATION_BUNDLE),
        rfc3161_timestamp: annotation_json(ANNOTATION_RFC3161),
    };
    go_json(&signed)
}

/// One `AttestationPayload` line for an `.att` layer, or `None` when
/// `predicate_type` is given and the statement has another one.
fn attestation_line(
    envelope: &[u8],
    predicate_type: Option<&str>,
) -> Result<Option<String>, String> {
    let parsed: AttestationPayload =
        serde_json::from_slice(envelope).map_err(|e| format!("not a DSSE envelope: {e}"))?;
    if let Some(wanted) = predicate_type {
        let statement = STANDARD
            .decode(&parsed.payload)
            .map_err(|e| format!("the envelope payload is not base64: {e}"))?;
        let statement: Value = serde_json::from_slice(&statement)
            .map_err(|e| format!("the envelope payload is not JSON: {e}"))?;
        if statement.get("predicateType").and_then(Value::as_str) != Some(wanted) {
            return Ok(None);
        }
    }
    Ok(Some(go_json(&parsed)))
}

/// Compact JSON escaped as Go's `encoding/json` escapes it.
fn go_json(value: &impl Serialize) -> String {
    // Serializing these plain structs cannot fail (string keys, no maps of
    // non-string keys); an empty object is the fallback that never happens.
    let text = serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned());
    go_escape(&text)
}

/// Replaces `<`, `>`, `&`, U+2028 and U+2029 by `\uXXXX`. In serialized
/// JSON these characters can only occur inside strings, so this is exact.
fn go_escape(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsign_core::oci::Descriptor;

    #[test]
    fn signed_payload_shape() {
        let d = Descriptor::cosign_signature_layer(b"{\"a\":1}", "c2ln");
        let line = signature_line(&d, b"{\"a\":1}");
        assert_eq!(
            line,
            format!(
                r#"{{"Base64Signature":"c2ln","Payload":"{}","Cert":null,"Chain":null,"Bundle":null,"RFC3161Timestamp":null}}"#,
                STANDARD.encode(b"{\"a\":1}")
            )
        );
    }

    #[test]
    fn go_escaping() {
        assert_eq!(go_escape(r#"{"a":"<&>"}"#), r#"{"a":"\u003c\u0026\u003e"}"#);
        assert_eq!(go_escape("\u{2028}"), "\\u2028");
        // serde_json's control-character escapes are Go's (1.22+): short
        // forms for \b \f \n \r \t, lowercase `\u00xx` for the rest.
        assert_eq!(
            go_json(&"\u{8}\u{c}\n\u{1}\u{1f}"),
            r#""\b\f\n\u0001\u001f""#
        );
    }

    #[test]
    fn attestation_filter() {
        let statement = br#"{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://x/y","subject":[],"predicate":{}}"#;
        let env = format!(
            r#"{{"payloadType":"application/vnd.in-toto+json","payload":"{}","signatures":[{{"keyid":"","sig":"AAAA"}}]}}"#,
            STANDARD.encode(statement)
        );
        let line = attestation_line(env.as_bytes(), None).unwrap().unwrap();
        assert_eq!(line, env);
        assert!(
            attestation_line(env.as_bytes(), Some("https://x/y"))
                .unwrap()
                .is_some()
        );
        assert!(
            attestation_line(env.as_bytes(), Some("https://other"))
                .unwrap()
                .is_none()
        );
        assert!(attestation_line(b"nope", None).is_err());
    }
}
