//! The `admission.k8s.io/v1` `AdmissionReview` wire format (only the fields
//! this webhook reads or writes) and where images sit in the objects it
//! admits.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The only `AdmissionReview` version served (`admissionReviewVersions: ["v1"]`).
pub const API_VERSION: &str = "admission.k8s.io/v1";
/// `kind` of requests and responses.
pub const KIND: &str = "AdmissionReview";

/// An `AdmissionReview` as the API server sends it.
#[derive(Debug, Deserialize)]
pub struct AdmissionReview {
    /// Must be [`API_VERSION`].
    #[serde(rename = "apiVersion", default)]
    pub api_version: String,
    /// Must be [`KIND`].
    #[serde(default)]
    pub kind: String,
    /// The request (absent only in malformed reviews).
    pub request: Option<AdmissionRequest>,
}

/// `request` of an `AdmissionReview`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRequest {
    /// Echoed in the response.
    pub uid: String,
    /// The kind of `object` (after `matchPolicy: Equivalent` conversion).
    pub kind: GroupVersionKind,
    /// E.g. `ephemeralcontainers` for `kubectl debug`.
    #[serde(default)]
    pub sub_resource: Option<String>,
    /// `CREATE`, `UPDATE`, `DELETE` or `CONNECT`.
    pub operation: String,
    /// Namespace of the object, for logs.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Name of the object, for logs (empty for `generateName` objects).
    #[serde(default)]
    pub name: Option<String>,
    /// The object being admitted (absent for `DELETE`).
    #[serde(default)]
    pub object: Option<Value>,
}

/// `request.kind`.
#[derive(Debug, Clone, Deserialize)]
pub struct GroupVersionKind {
    /// API group, empty for the core group.
    #[serde(default)]
    pub group: String,
    /// API version.
    #[serde(default)]
    pub version: String,
    /// Kind.
    pub kind: String,
}

impl std::fmt::Display for GroupVersionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.group.is_empty() {
            write!(f, "{}/{}", self.version, self.kind)
        } else {
            write!(f, "{}/{}/{}", self.group, self.version, self.kind)
        }
    }
}

/// The `AdmissionReview` sent back.
#[derive(Debug, Serialize)]
pub struct AdmissionReviewResponse {
    /// Echoes the request's (always [`API_VERSION`]).
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// Echoes the request's (always [`KIND`]).
    pub kind: String,
    /// The verdict.
    pub response: AdmissionResponse,
}

/// `response` of an `AdmissionReview`.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionResponse {
    /// `request.uid`.
    pub uid: String,
    /// Whether the object is admitted.
    pub allowed: bool,
    /// Why it was denied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// Shown to the client (`kubectl` prints them), admitted or not.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// `JSONPatch` when `patch` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<&'static str>,
    /// Base64 of a JSON Patch (RFC 6902) document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    /// Recorded in the audit log under `<webhook name>/<key>`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub audit_annotations: BTreeMap<String, String>,
}

/// The `metav1.Status` of a denial.
#[derive(Debug, Serialize)]
pub struct Status {
    /// HTTP-like code: 403 for a policy denial.
    pub code: u16,
    /// Shown to the user by `kubectl`.
    pub message: String,
}

/// Where the pod spec sits in each kind that carries one: (group, kind,
/// JSON pointer). Versions are not distinguished: every served version of
/// these kinds keeps the pod spec at the same place.
pub const POD_SPEC_AT: &[(&str, &str, &str)] = &[
    ("", "Pod", "/spec"),
    ("", "ReplicationController", "/spec/template/spec"),
    ("apps", "Deployment", "/spec/template/spec"),
    ("apps", "ReplicaSet", "/spec/template/spec"),
    ("apps", "StatefulSet", "/spec/template/spec"),
    ("apps", "DaemonSet", "/spec/template/spec"),
    ("batch", "Job", "/spec/template/spec"),
    ("batch", "CronJob", "/spec/jobTemplate/spec/template/spec"),
];

/// The JSON pointer of the pod spec in objects of `kind`, if known.
pub fn pod_spec_pointer(kind: &GroupVersionKind) -> Option<&'static str> {
    POD_SPEC_AT
        .iter()
        .find(|(group, k, _)| *group == kind.group && *k == kind.kind)
        .map(|(_, _, pointer)| *pointer)
}

/// The part of a pod spec holding images.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodSpec {
    #[serde(default)]
    containers: Option<Vec<Container>>,
    #[serde(default)]
    init_containers: Option<Vec<Container>>,
    #[serde(default)]
    ephemeral_containers: Option<Vec<Container>>,
}

#[derive(Debug, Deserialize)]
struct Container {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    image: Option<String>,
}

/// One container's image and where to patch it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSite {
    /// JSON pointer of the `image` field, e.g. `/spec/containers/0/image`.
    pub pointer: String,
    /// The container's name (for messages).
    pub container: String,
    /// The image reference as written.
    pub image: String,
}

/// Why the images of an object could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// Nothing at the pod spec's place.
    #[error("the {kind} object has no pod spec at `{pointer}`")]
    NoPodSpec {
        /// The object's kind.
        kind: String,
        /// Where the spec was looked for.
        pointer: &'static str,
    },
    /// The pod spec is not shaped like one.
    #[error("cannot read the pod spec of the {kind} object at `{pointer}`")]
    BadPodSpec {
        /// The object's kind.
        kind: String,
        /// Where the spec is.
        pointer: &'static str,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

/// Every container image of `object`, whose pod spec is at `pointer`:
/// containers, then init containers, then ephemeral containers, in order.
/// Containers without an image are skipped (the API server rejects them).
pub fn image_sites(
    object: &Value,
    kind: &GroupVersionKind,
    pointer: &'static str,
) -> Result<Vec<ImageSite>, ExtractError> {
    let spec = object
        .pointer(pointer)
        .filter(|v| !v.is_null())
        .ok_or_else(|| ExtractError::NoPodSpec {
            kind: kind.kind.clone(),
            pointer,
        })?;
    let spec = PodSpec::deserialize(spec).map_err(|source| ExtractError::BadPodSpec {
        kind: kind.kind.clone(),
        pointer,
        source,
    })?;
    let mut sites = Vec::new();
    for (field, list) in [
        ("containers", spec.containers),
        ("initContainers", spec.init_containers),
        ("ephemeralContainers", spec.ephemeral_containers),
    ] {
        for (i, c) in list.unwrap_or_default().into_iter().enumerate() {
            let Some(image) = c.image.filter(|i| !i.is_empty()) else {
                continue;
            };
            sites.push(ImageSite {
                pointer: format!("{pointer}/{field}/{i}/image"),
                container: c.name.unwrap_or_default(),
                image,
            });
        }
    }
    Ok(sites)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn gvk(group: &str, kind: &str) -> GroupVersionKind {
        GroupVersionKind {
            group: group.into(),
            version: "v1".into(),
            kind: kind.into(),
        }
    }

    #[test]
    fn pod_images_in_order_with_pointers() {
        let pod = json!({"spec": {
            "containers": [{"name": "a", "image": "nginx:1"}, {"name": "b", "image": "redis"}],
            "initContainers": [{"name": "i", "image": "busybox"}],
            "ephemeralContainers": [{"name": "dbg", "image": "alpine"}, {"name": "noimage"}],
        }});
        let kind = gvk("", "Pod");
        let pointer = pod_spec_pointer(&kind).unwrap();
        let sites = image_sites(&pod, &kind, pointer).unwrap();
        let got: Vec<(&str, &str, &str)> = sites
            .iter()
            .map(|s| (s.pointer.as_str(), s.container.as_str(), s.image.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("/spec/containers/0/image", "a", "nginx:1"),
                ("/spec/containers/1/image", "b", "redis"),
                ("/spec/initContainers/0/image", "i", "busybox"),
                ("/spec/ephemeralContainers/0/image", "dbg", "alpine"),
            ]
        );
        // Every pointer names the image it was read from.
        for s in &sites {
            assert_eq!(pod.pointer(&s.pointer), Some(&json!(s.image)));
        }
    }

    #[test]
    fn workload_kinds_find_their_templates() {
        let template = json!({"spec": {"containers": [{"name": "c", "image": "app:v1"}]}});
        for (group, kind, _) in POD_SPEC_AT {
            let object = if *kind == "Pod" {
                template.clone()
            } else if *kind == "CronJob" {
                json!({"spec": {"jobTemplate": {"spec": {"template": template}}}})
            } else {
                json!({"spec": {"template": template}})
            };
            let k = gvk(group, kind);
            let pointer = pod_spec_pointer(&k).unwrap();
            let sites = image_sites(&object, &k, pointer).unwrap();
            assert_eq!(sites.len(), 1, "{kind}");
            assert_eq!(object.pointer(&sites[0].pointer), Some(&json!("app:v1")));
        }
    }

    #[test]
    fn unknown_kinds_and_groups_are_not_guessed() {
        assert_eq!(pod_spec_pointer(&gvk("", "ConfigMap")), None);
        // Same kind name in another group is not the same thing.
        assert_eq!(pod_spec_pointer(&gvk("example.com", "Deployment")), None);
        assert_eq!(pod_spec_pointer(&gvk("apps", "Pod")), None);
    }

    #[test]
    fn malformed_specs_are_errors() {
        let kind = gvk("apps", "Deployment");
        let pointer = pod_spec_pointer(&kind).unwrap();
        let e = image_sites(&json!({"spec": {}}), &kind, pointer).unwrap_err();
        assert!(e.to_string().contains("no pod spec"), "{e}");
        let e = image_sites(
            &json!({"spec": {"template": {"spec": {"containers": "nginx"}}}}),
            &kind,
            pointer,
        )
        .unwrap_err();
        assert!(e.to_string().contains("cannot read the pod spec"), "{e}");
        let e = image_sites(
            &json!({"spec": {"template": {"spec": {"containers": [{"image": 7}]}}}}),
            &kind,
            pointer,
        )
        .unwrap_err();
        assert!(matches!(e, ExtractError::BadPodSpec { .. }));
    }
}
