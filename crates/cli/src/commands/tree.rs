//! `rsign tree`: what is attached to an image — signatures, attestations and
//! SBOMs under cosign's `sha256-<hex>.sig/.att/.sbom` tags.
//!
//! Nothing is verified here: the listing says what is *stored*. In
//! particular an attestation's predicate type comes from the layer's
//! `predicateType` annotation, which anyone who can push may write; the
//! output marks it as an unverified claim (`rsign verify-attestation`
//! checks it).

use clap::{Args, ValueEnum};
use rsign_core::oci::ANNOTATION_PREDICATE_TYPE;
use rsign_registry::{AttachmentKind, Attachments};
use serde_json::{Value, json};

use super::attachments::{attachment_reference, open_and_resolve, read_kind};
use super::block_on;
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::output::Printer;
use crate::registry_args::RegistryArgs;
use crate::target::{ImageTarget, ResolvedImage};

/// `--output` of `tree`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum OutputFormat {
    /// A tree for people.
    #[default]
    Text,
    /// One JSON document.
    Json,
}

/// `rsign tree`.
#[derive(Debug, Args)]
#[command(after_help = "Example:
  rsign tree registry.example/app:1.0
  rsign tree --output json oci:./app-layout:1.0

Lists what is stored, verifying nothing: predicate types are the attestations' \
own (unverified) claims. Use `rsign verify` / `rsign verify-attestation` to check them.")]
pub struct TreeArgs {
    /// The image (`REGISTRY/REPO[:TAG][@DIGEST]`, or `oci:DIR[:TAG]`).
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Registry options.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// A validated `tree`.
#[derive(Debug)]
pub struct Request {
    /// The image.
    pub image: ImageTarget,
    /// Output format.
    pub output: OutputFormat,
    /// Registry options.
    pub registry: RegistryArgs,
}

impl TryFrom<TreeArgs> for Request {
    type Error = CliError;

    fn try_from(args: TreeArgs) -> Result<Self, CliError> {
        Ok(Self {
            image: ImageTarget::parse(&args.image)?,
            output: args.output,
            registry: args.registry,
        })
    }
}

/// Lists the attachments.
pub fn run(request: Request, printer: &Printer) -> Result<ExitStatus, CliError> {
    block_on(tree(request, printer))
}

async fn tree(request: Request, printer: &Printer) -> Result<ExitStatus, CliError> {
    let (stores, open, resolved) =
        open_and_resolve(&request.image, &request.registry, printer).await?;
    let mut sections = Vec::new();
    for kind in super::save::ALL_KINDS {
        let found = read_kind(&stores, &open, &resolved, kind).await?;
        let reference = attachment_reference(open.attach_store(), &resolved.digest, kind);
        sections.push(Section {
            kind,
            reference,
            found,
        });
    }
    let pinned = open.target.pinned(&resolved.digest);
    let out = match request.output {
        OutputFormat::Text => render_text(&pinned, &resolved, &sections),
        OutputFormat::Json => {
            let mut s = serde_json::to_string_pretty(&render_json(&pinned, &resolved, &sections))
                .unwrap_or_default();
            s.push('\n');
            s
        }
    };
    printer.data(out.as_bytes())?;
    Ok(ExitStatus::Success)
}

/// One kind of attachment of the image.
#[derive(Debug)]
pub struct Section {
    /// The kind.
    pub kind: AttachmentKind,
    /// Its attachment reference.
    pub reference: String,
    /// What is stored, if anything.
    pub found: Option<Attachments>,
}

fn kind_name(kind: AttachmentKind) -> &'static str {
    match kind {
        AttachmentKind::Signature => "signatures",
        AttachmentKind::Attestation => "attestations",
        _ => "sboms",
    }
}

/// The text tree.
pub fn render_text(pinned: &str, resolved: &ResolvedImage, sections: &[Section]) -> String {
    let mut out = format!("{pinned} ({})\n", resolved.media_type);
    let count = sections.len();
    for (i, section) in sections.iter().enumerate() {
        let last_section = i + 1 == count;
        let (branch, indent) = if last_section {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        let Some(found) = &section.found else {
            out.push_str(&format!(
                "{branch}{}: none ({})\n",
                section.kind, section.reference
            ));
            continue;
        };
        let n = found.layers.len();
        let claim = if section.kind == AttachmentKind::Attestation {
            "; predicate types are unverified claims"
        } else {
            ""
        };
        out.push_str(&format!(
            "{branch}{}: {} layer(s) in {} ({}){claim}\n",
            section.kind, n, section.reference, found.manifest_digest
        ));
        for (j, layer) in found.layers.iter().enumerate() {
            let leaf = if j + 1 == n {
                "└── "
            } else {
                "├── "
            };
            let d = &layer.descriptor;
            let mut line = format!(
                "{indent}{leaf}{} {} {} bytes",
                d.digest, d.media_type, d.size
            );
            if section.kind == AttachmentKind::Attestation {
                match d.annotation(ANNOTATION_PREDICATE_TYPE) {
                    Some(p) => line.push_str(&format!(" predicateType={p} (unverified)")),
                    None => line.push_str(" (no predicateType annotation)"),
                }
            }
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// The JSON document.
pub fn render_json(pinned: &str, resolved: &ResolvedImage, sections: &[Section]) -> Value {
    let mut doc = json!({
        "image": pinned,
        "digest": resolved.digest.to_string(),
        "mediaType": resolved.media_type,
        "verified": false,
    });
    for section in sections {
        let value = match &section.found {
            None => Value::Null,
            Some(found) => {
                let layers: Vec<Value> = found
                    .layers
                    .iter()
                    .map(|l| {
                        let d = &l.descriptor;
                        let mut v = json!({
                            "digest": d.digest.to_string(),
                            "mediaType": d.media_type,
                            "size": d.size,
                        });
                        if section.kind == AttachmentKind::Attestation {
                            v["predicateType"] = d
                                .annotation(ANNOTATION_PREDICATE_TYPE)
                                .map_or(Value::Null, |p| Value::String(p.to_owned()));
                            v["predicateTypeVerified"] = Value::Bool(false);
                        }
                        v
                    })
                    .collect();
                json!({
                    "reference": section.reference,
                    "manifestDigest": found.manifest_digest.to_string(),
                    "layers": layers,
                })
            }
        };
        doc[kind_name(section.kind)] = value;
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsign_core::Digest;
    use rsign_registry::{AttachedLayer, NewLayer};

    fn resolved() -> ResolvedImage {
        ResolvedImage {
            digest: Digest::sha256_of(b"image"),
            media_type: rsign_core::oci::OCI_MANIFEST.into(),
            size: 10,
            tag: Some("v1".into()),
        }
    }

    fn sections() -> Vec<Section> {
        let image = Digest::sha256_of(b"image");
        let att = NewLayer::attestation(b"{}".to_vec(), "https://slsa.dev/provenance/v1");
        vec![
            Section {
                kind: AttachmentKind::Signature,
                reference: format!("r/app:{}", AttachmentKind::Signature.tag_for(&image)),
                found: None,
            },
            Section {
                kind: AttachmentKind::Attestation,
                reference: "r/app:x.att".into(),
                found: Some(Attachments {
                    tag: "x.att".into(),
                    manifest_digest: Digest::sha256_of(b"m"),
                    layers: vec![AttachedLayer {
                        descriptor: att.descriptor(),
                        payload: b"{}".to_vec(),
                    }],
                }),
            },
        ]
    }

    #[test]
    fn text_marks_predicate_types_unverified() {
        let text = render_text("r/app@sha256:x", &resolved(), &sections());
        assert!(text.contains("signatures: none (r/app:sha256-"), "{text}");
        assert!(
            text.contains("predicateType=https://slsa.dev/provenance/v1 (unverified)"),
            "{text}"
        );
        assert!(text.contains("attestations: 1 layer(s)"), "{text}");
    }

    #[test]
    fn json_shape() {
        let v = render_json("r/app@sha256:x", &resolved(), &sections());
        assert_eq!(v["signatures"], Value::Null);
        assert_eq!(v["verified"], false);
        let layer = &v["attestations"]["layers"][0];
        assert_eq!(layer["predicateType"], "https://slsa.dev/provenance/v1");
        assert_eq!(layer["predicateTypeVerified"], false);
        assert_eq!(layer["mediaType"], rsign_core::oci::DSSE_ENVELOPE);
    }
}
