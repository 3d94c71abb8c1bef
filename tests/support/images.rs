//! OCI image layouts built by hand (no Docker engine needed), and pushing
//! them to a [`TestRegistry`] with skopeo.
//!
//! Every image is a deterministic function of its seed: the same seed gives
//! the same digests, different seeds give different digests. Layers are
//! uncompressed tars (`application/vnd.oci.image.layer.v1.tar`).

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::registry::TestRegistry;
use super::skopeo::{Skopeo, dest_flags};

/// OCI media type of an image manifest.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI media type of an image index.
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
/// OCI media type of an image config.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// OCI media type of an uncompressed layer.
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";
/// Annotation naming a tag in a layout's `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// `sha256:<hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// A content descriptor: media type, digest, size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    /// Media type.
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
}

impl Descriptor {
    fn to_json(&self) -> Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.size})
    }
}

/// One platform image of an index built by [`build_index_layout`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformImage {
    /// `linux`.
    pub os: String,
    /// `amd64` or `arm64`.
    pub architecture: String,
    /// Digest of the platform's image manifest.
    pub digest: String,
}

/// What [`build_index_layout`] built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexImage {
    /// Digest of the image index.
    pub digest: String,
    /// The platform images, in index order (linux/amd64, linux/arm64).
    pub platforms: Vec<PlatformImage>,
}

/// Path of a blob in an OCI layout.
pub fn blob_path(layout_dir: &Path, digest: &str) -> PathBuf {
    let (alg, hex) = digest
        .split_once(':')
        .unwrap_or_else(|| panic!("not a digest: {digest}"));
    layout_dir.join("blobs").join(alg).join(hex)
}

/// Reads a blob from an OCI layout.
pub fn read_blob(layout_dir: &Path, digest: &str) -> Vec<u8> {
    fs::read(blob_path(layout_dir, digest)).unwrap_or_else(|e| panic!("reading blob {digest}: {e}"))
}

fn write_blob(layout_dir: &Path, media_type: &str, data: &[u8]) -> Descriptor {
    let digest = sha256_digest(data);
    let path = blob_path(layout_dir, &digest);
    fs::create_dir_all(path.parent().expect("blob path has a parent")).expect("creating blobs dir");
    fs::write(&path, data).expect("writing blob");
    Descriptor {
        media_type: media_type.to_owned(),
        digest,
        size: data.len() as u64,
    }
}

/// A one-file ustar archive with fixed metadata (mtime 0, root-owned).
fn tar_one_file(name: &str, content: &[u8]) -> Vec<u8> {
    assert!(name.len() < 100, "tar name too long");
    let mut h = [0u8; 512];
    let mut put = |off: usize, bytes: &[u8]| h[off..off + bytes.len()].copy_from_slice(bytes);
    put(0, name.as_bytes());
    put(100, b"0000644\0");
    put(108, b"0000000\0");
    put(116, b"0000000\0");
    put(124, format!("{:011o}\0", content.len()).as_bytes());
    put(136, b"00000000000\0");
    put(148, b"        ");
    put(156, b"0");
    put(257, b"ustar\0");
    put(263, b"00");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(content);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// Writes one platform image's blobs (layer, config, manifest); returns the
/// manifest's descriptor.
fn write_image(layout_dir: &Path, seed: u64, os: &str, arch: &str) -> Descriptor {
    let content = format!("rsign test image, seed {seed}, {os}/{arch}\n");
    let tar = tar_one_file("rsign-test.txt", content.as_bytes());
    let layer = write_blob(layout_dir, LAYER_MEDIA_TYPE, &tar);
    let config = json!({
        "architecture": arch,
        "os": os,
        "config": {"Labels": {"dev.rsign.test.seed": seed.to_string()}},
        "rootfs": {"type": "layers", "diff_ids": [layer.digest]},
    });
    let config = write_blob(layout_dir, CONFIG_MEDIA_TYPE, &to_bytes(&config));
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": config.to_json(),
        "layers": [layer.to_json()],
    });
    write_blob(layout_dir, MANIFEST_MEDIA_TYPE, &to_bytes(&manifest))
}

fn to_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("serializing JSON")
}

/// Adds (or replaces) `tag` → `desc` in the layout's `index.json`, and
/// writes `oci-layout`. Several tags can share one layout directory.
fn tag_in_layout(layout_dir: &Path, tag: &str, desc: &Descriptor) {
    fs::write(
        layout_dir.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("writing oci-layout");
    let index_path = layout_dir.join("index.json");
    let mut manifests: Vec<Value> = match fs::read(&index_path) {
        Ok(bytes) => {
            let index: Value = serde_json::from_slice(&bytes).expect("parsing index.json");
            index["manifests"].as_array().cloned().unwrap_or_default()
        }
        Err(_) => Vec::new(),
    };
    manifests.retain(|m| m["annotations"][REF_NAME] != tag);
    let mut entry = desc.to_json();
    entry["annotations"] = json!({ REF_NAME: tag });
    manifests.push(entry);
    let index = json!({"schemaVersion": 2, "manifests": manifests});
    fs::write(&index_path, to_bytes(&index)).expect("writing index.json");
}

/// Builds a single-platform (linux/amd64) image in the OCI layout `dir`
/// under `tag`; returns the manifest digest.
pub fn build_image_layout(dir: &Path, tag: &str, seed: u64) -> String {
    let desc = write_image(dir, seed, "linux", "amd64");
    tag_in_layout(dir, tag, &desc);
    desc.digest
}

/// Builds an image index with linux/amd64 and linux/arm64 images in the OCI
/// layout `dir` under `tag`.
pub fn build_index_layout(dir: &Path, tag: &str, seed: u64) -> IndexImage {
    let platforms: Vec<(Descriptor, PlatformImage)> = [("linux", "amd64"), ("linux", "arm64")]
        .into_iter()
        .map(|(os, arch)| {
            let desc = write_image(dir, seed, os, arch);
            let p = PlatformImage {
                os: os.to_owned(),
                architecture: arch.to_owned(),
                digest: desc.digest.clone(),
            };
            (desc, p)
        })
        .collect();
    let manifests: Vec<Value> = platforms
        .iter()
        .map(|(d, p)| {
            let mut m = d.to_json();
            m["platform"] = json!({"os": p.os, "architecture": p.architecture});
            m
        })
        .collect();
    let index = json!({
        "schemaVersion": 2,
        "mediaType": INDEX_MEDIA_TYPE,
        "manifests": manifests,
    });
    let desc = write_blob(dir, INDEX_MEDIA_TYPE, &to_bytes(&index));
    tag_in_layout(dir, tag, &desc);
    IndexImage {
        digest: desc.digest,
        platforms: platforms.into_iter().map(|(_, p)| p).collect(),
    }
}

/// The digest `tag` points at in the layout's `index.json`.
pub fn layout_digest(layout_dir: &Path, tag: &str) -> String {
    let bytes = fs::read(layout_dir.join("index.json")).expect("reading index.json");
    let index: Value = serde_json::from_slice(&bytes).expect("parsing index.json");
    index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["annotations"][REF_NAME] == tag)
        .and_then(|m| m["digest"].as_str())
        .unwrap_or_else(|| panic!("tag {tag} not in {}", layout_dir.display()))
        .to_owned()
}

/// Pushes `tag` of the layout to `dest` (`127.0.0.1:PORT/repo:tag`, no
/// transport prefix) with `skopeo copy --all --preserve-digests`, using
/// `registry`'s TLS and credentials; returns the pushed manifest digest
/// (checked to equal the layout's).
pub fn push_layout(
    skopeo: &Skopeo,
    layout_dir: &Path,
    tag: &str,
    dest: &str,
    registry: &TestRegistry,
) -> String {
    let digest_file = tempfile::NamedTempFile::new().expect("temp digest file");
    let src = format!("oci:{}:{tag}", layout_dir.display());
    let dst = format!("docker://{dest}");
    let digest_path = digest_file.path().display().to_string();
    let mut args = vec![
        "copy",
        "--all",
        "--preserve-digests",
        "--digestfile",
        &digest_path,
    ];
    let flags = dest_flags(registry);
    args.extend(flags.iter().map(String::as_str));
    args.extend([src.as_str(), dst.as_str()]);
    skopeo.run(&args).assert_success();
    let pushed = fs::read_to_string(digest_file.path()).expect("reading skopeo digest file");
    let pushed = pushed.trim().to_owned();
    assert_eq!(
        pushed,
        layout_digest(layout_dir, tag),
        "skopeo changed the digest"
    );
    pushed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_header_checksum_and_padding() {
        let t = tar_one_file("a.txt", b"hi");
        assert_eq!(t.len(), 512 + 512 + 1024);
        let stored = std::str::from_utf8(&t[148..154]).unwrap();
        let mut h = t[..512].to_vec();
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        assert_eq!(u32::from_str_radix(stored, 8).unwrap(), sum);
        assert_eq!(&t[512..514], b"hi");
    }

    #[test]
    fn layouts_are_deterministic_per_seed() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let d1 = build_image_layout(a.path(), "v1", 7);
        let d2 = build_image_layout(b.path(), "v1", 7);
        let d3 = build_image_layout(a.path(), "v2", 8);
        assert_eq!(d1, d2);
        assert_ne!(d1, d3);
        assert_eq!(layout_digest(a.path(), "v1"), d1);
        assert_eq!(layout_digest(a.path(), "v2"), d3);
        assert_eq!(sha256_digest(&read_blob(a.path(), &d1)), d1);

        let i1 = build_index_layout(a.path(), "multi", 7);
        let i2 = build_index_layout(b.path(), "multi", 7);
        assert_eq!(i1, i2);
        assert_eq!(i1.platforms.len(), 2);
        assert_ne!(i1.platforms[0].digest, i1.platforms[1].digest);
        // The amd64 image of the index is the single-platform image of the same seed.
        assert_eq!(i1.platforms[0].digest, d1);
        let index: Value = serde_json::from_slice(&read_blob(a.path(), &i1.digest)).unwrap();
        assert_eq!(index["manifests"][1]["platform"]["architecture"], "arm64");
    }
}
