//! Image references such as `app`, `ghcr.io/team/app:v1` or `127.0.0.1:5000/app@sha256:…`.
//!
//! Parsing follows the distribution reference grammar and Docker's
//! normalization as go-containerregistry (and therefore cosign) applies it:
//!
//! - a name without a registry lives on Docker Hub: `app` →
//!   `index.docker.io/library/app:latest`, `x/y` → `index.docker.io/x/y:latest`;
//! - `docker.io` is spelled `index.docker.io` (cosign signs that spelling);
//! - the first path component is a registry when it contains `.` or `:`,
//!   is `localhost`, or has uppercase letters; otherwise it is part of the path;
//! - repository path components are lowercase `[a-z0-9]+` joined by `.`, `_`,
//!   `__` or runs of `-`; tags match `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`;
//! - a reference may carry a tag and a digest; the digest then decides which
//!   manifest is meant and the tag is informative only.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use rsign_core::{Digest, DigestError};

use crate::store::TagOrDigest;

/// Docker Hub's registry host as cosign spells it in signatures.
pub const DOCKER_HUB_REGISTRY: &str = "index.docker.io";
/// The tag used when a reference names neither a tag nor a digest.
pub const DEFAULT_TAG: &str = "latest";
/// The longest accepted repository name (registry + `/` + path), as in distribution.
pub const MAX_NAME_LEN: usize = 255;
/// The longest accepted tag.
pub const MAX_TAG_LEN: usize = 128;
/// The longest accepted reference string as a whole.
const MAX_REFERENCE_LEN: usize = 4096;

/// Why a string is not a valid image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReferenceError {
    /// The reference is empty.
    #[error("image reference is empty")]
    Empty,
    /// The reference is longer than any valid reference.
    #[error("image reference is {0} bytes long, longer than any valid reference")]
    TooLong(usize),
    /// The repository name (registry and path) is too long.
    #[error(
        "repository name `{name}` is {len} characters long; at most {MAX_NAME_LEN} are allowed"
    )]
    NameTooLong {
        /// The name, as parsed.
        name: String,
        /// Its length.
        len: usize,
    },
    /// The registry host or port is malformed.
    #[error(
        "invalid registry `{0}`: expected a host name, IPv4 address or [IPv6] address, optionally with :port"
    )]
    InvalidRegistry(String),
    /// A path component of the repository is malformed.
    #[error(
        "invalid repository path component `{component}` in `{reference}`: components are lowercase letters and digits, separated by `.`, `_`, `__` or dashes (hint: repository names must be lowercase)"
    )]
    InvalidPathComponent {
        /// The offending component.
        component: String,
        /// The whole reference.
        reference: String,
    },
    /// The tag is malformed.
    #[error(
        "invalid tag `{0}`: tags are 1 to 128 characters of letters, digits, `_`, `.` and `-`, not starting with `.` or `-`"
    )]
    InvalidTag(String),
    /// The digest after `@` is malformed.
    #[error("invalid digest in image reference")]
    InvalidDigest(#[source] DigestError),
}

/// A parsed and normalized image reference.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Builds a reference from already separated parts, validating each.
    pub fn new(
        registry: &str,
        path: &str,
        tag: Option<&str>,
        digest: Option<Digest>,
    ) -> Result<Self, ReferenceError> {
        let registry = normalize_registry(registry);
        validate_registry(&registry)?;
        validate_path(path, path)?;
        if let Some(tag) = tag {
            validate_tag(tag)?;
        }
        let reference = Self {
            registry,
            path: path.to_owned(),
            tag: tag.map(str::to_owned),
            digest,
        };
        reference.check_name_len()?;
        Ok(reference)
    }

    /// The registry host (and port), e.g. `index.docker.io` or `127.0.0.1:5000`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path inside the registry, e.g. `library/app`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The repository identity cosign signs: `registry/path`, without tag or digest.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.registry, self.path)
    }

    /// The tag, if the reference names one. A reference parsed without tag
    /// or digest gets [`DEFAULT_TAG`].
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if the reference pins one.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// What to look up in the repository: the digest when there is one, else
    /// the tag (or [`DEFAULT_TAG`]).
    pub fn target(&self) -> TagOrDigest {
        match (&self.digest, &self.tag) {
            (Some(d), _) => TagOrDigest::Digest(d.clone()),
            (None, Some(t)) => TagOrDigest::Tag(t.clone()),
            (None, None) => TagOrDigest::Tag(DEFAULT_TAG.to_owned()),
        }
    }

    /// The same repository pinned to `digest` (any tag is dropped).
    pub fn with_digest(&self, digest: Digest) -> Self {
        Self {
            registry: self.registry.clone(),
            path: self.path.clone(),
            tag: None,
            digest: Some(digest),
        }
    }

    /// The same repository at `tag` (any digest is dropped).
    pub fn with_tag(&self, tag: &str) -> Result<Self, ReferenceError> {
        validate_tag(tag)?;
        Ok(Self {
            registry: self.registry.clone(),
            path: self.path.clone(),
            tag: Some(tag.to_owned()),
            digest: None,
        })
    }

    /// Whether the registry is on this machine (`localhost`, `127.0.0.0/8`, `::1`):
    /// plain HTTP is allowed there without an `insecure` option.
    pub fn is_loopback_registry(&self) -> bool {
        is_loopback_host(&self.registry)
    }

    fn check_name_len(&self) -> Result<(), ReferenceError> {
        let len = self.registry.len() + 1 + self.path.len();
        if len > MAX_NAME_LEN {
            return Err(ReferenceError::NameTooLong {
                name: self.repository().chars().take(300).collect(),
                len,
            });
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if s.len() > MAX_REFERENCE_LEN {
            return Err(ReferenceError::TooLong(s.len()));
        }
        let shown = || s.chars().take(300).collect::<String>();
        let (rest, digest) = match s.split_once('@') {
            Some((rest, d)) => (
                rest,
                Some(Digest::from_str(d).map_err(ReferenceError::InvalidDigest)?),
            ),
            None => (s, None),
        };
        // The tag is after the last `:` that follows the last `/` (a `:` before
        // it belongs to the registry's port).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest.get(last_slash..).and_then(|t| t.rfind(':')) {
            Some(i) => {
                let colon = last_slash + i;
                (
                    rest.get(..colon).unwrap_or_default(),
                    Some(rest.get(colon + 1..).unwrap_or_default()),
                )
            }
            None => (rest, None),
        };
        if name.is_empty() {
            return Err(ReferenceError::InvalidPathComponent {
                component: String::new(),
                reference: shown(),
            });
        }
        let (registry, path) = split_registry(name);
        let registry = normalize_registry(registry);
        validate_registry(&registry)?;
        let path = if registry == DOCKER_HUB_REGISTRY && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_owned()
        };
        validate_path(&path, &shown())?;
        if let Some(tag) = tag {
            validate_tag(tag)?;
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_owned()),
            (None, Some(_)) => None,
            (None, None) => Some(DEFAULT_TAG.to_owned()),
        };
        let reference = Self {
            registry,
            path,
            tag,
            digest,
        };
        reference.check_name_len()?;
        Ok(reference)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.path)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reference({self})")
    }
}

impl serde::Serialize for Reference {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Reference {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Splits `name` into (registry, path) the way Docker does.
fn split_registry(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (first, rest)
        }
        _ => ("docker.io", name),
    }
}

fn normalize_registry(registry: &str) -> String {
    if registry == "docker.io" {
        DOCKER_HUB_REGISTRY.to_owned()
    } else {
        registry.to_owned()
    }
}

/// Splits `host[:port]` / `[v6]:port` into the host and the optional port text.
fn split_host_port(registry: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = registry.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        return match after {
            "" => Some((v6, None)),
            _ => Some((v6, Some(after.strip_prefix(':')?))),
        };
    }
    match registry.split_once(':') {
        Some((h, p)) => Some((h, Some(p))),
        None => Some((registry, None)),
    }
}

fn validate_registry(registry: &str) -> Result<(), ReferenceError> {
    let bad = || ReferenceError::InvalidRegistry(registry.chars().take(300).collect());
    let (host, port) = split_host_port(registry).ok_or_else(bad)?;
    if let Some(port) = port {
        let ok = !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
        if !ok || port.parse::<u16>().is_err() {
            return Err(bad());
        }
    }
    if registry.starts_with('[') {
        return host
            .parse::<std::net::Ipv6Addr>()
            .map(|_| ())
            .map_err(|_| bad());
    }
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.len() <= 63
            && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !c.starts_with('-')
            && !c.ends_with('-')
    };
    if host.is_empty() || !host.split('.').all(component_ok) {
        return Err(bad());
    }
    Ok(())
}

fn validate_path(path: &str, reference: &str) -> Result<(), ReferenceError> {
    for component in path.split('/') {
        if !path_component_ok(component) {
            return Err(ReferenceError::InvalidPathComponent {
                component: component.chars().take(300).collect(),
                reference: reference.chars().take(300).collect(),
            });
        }
    }
    Ok(())
}

/// `[a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*`
fn path_component_ok(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    let mut expect_alnum = true;
    while i < bytes.len() {
        let b = bytes[i];
        if alnum(b) {
            expect_alnum = false;
            i += 1;
            continue;
        }
        if expect_alnum {
            return false;
        }
        // A separator: `.`, `_`, `__` or one or more `-`.
        let start = i;
        match b {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if bytes.get(i) == Some(&b'_') {
                    i += 1;
                }
            }
            b'-' => {
                while bytes.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
        debug_assert!(i > start);
        expect_alnum = true;
    }
    !bytes.is_empty() && !expect_alnum
}

fn validate_tag(tag: &str) -> Result<(), ReferenceError> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let ok = match tag.as_bytes().split_first() {
        Some((&first, rest)) => {
            tag.len() <= MAX_TAG_LEN
                && word(first)
                && rest.iter().all(|&b| word(b) || b == b'.' || b == b'-')
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ReferenceError::InvalidTag(tag.chars().take(300).collect()))
    }
}

/// Whether `registry` (host with optional port) is this machine.
pub(crate) fn is_loopback_host(registry: &str) -> bool {
    let Some((host, _)) = split_host_port(registry) else {
        return false;
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback(),
        Ok(IpAddr::V6(v6)) => {
            v6.is_loopback()
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4: Ipv4Addr| v4.is_loopback())
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    const D: &str = "sha256:d34db33fd34db33fd34db33fd34db33fd34db33fd34db33fd34db33fd34db33f";

    fn parse(s: &str) -> Reference {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn docker_hub_normalization() {
        let cases = [
            ("app", "index.docker.io", "library/app", Some("latest")),
            ("app:1.0", "index.docker.io", "library/app", Some("1.0")),
            ("x/y", "index.docker.io", "x/y", Some("latest")),
            ("docker.io/x/y", "index.docker.io", "x/y", Some("latest")),
            (
                "docker.io/app",
                "index.docker.io",
                "library/app",
                Some("latest"),
            ),
            (
                "index.docker.io/app",
                "index.docker.io",
                "library/app",
                Some("latest"),
            ),
            (
                "index.docker.io/library/app:v",
                "index.docker.io",
                "library/app",
                Some("v"),
            ),
            ("a/b/c:t", "index.docker.io", "a/b/c", Some("t")),
        ];
        for (input, registry, path, tag) in cases {
            let r = parse(input);
            assert_eq!(r.registry(), registry, "{input}");
            assert_eq!(r.path(), path, "{input}");
            assert_eq!(r.tag(), tag, "{input}");
            assert_eq!(r.digest(), None, "{input}");
        }
        assert_eq!(
            parse("app").to_string(),
            "index.docker.io/library/app:latest"
        );
        assert_eq!(parse("docker.io/x/y").repository(), "index.docker.io/x/y");
    }

    #[test]
    fn registries_are_recognized() {
        let cases = [
            ("localhost/app", "localhost", "app"),
            ("localhost:5000/app", "localhost:5000", "app"),
            ("127.0.0.1:5000/app", "127.0.0.1:5000", "app"),
            ("ghcr.io/team/app", "ghcr.io", "team/app"),
            ("example.com/a/b/c", "example.com", "a/b/c"),
            ("Registry/app", "Registry", "app"),
            ("[::1]:5000/app", "[::1]:5000", "app"),
            ("[2001:db8::1]/app", "[2001:db8::1]", "app"),
            ("my-registry:443/a", "my-registry:443", "a"),
        ];
        for (input, registry, path) in cases {
            let r = parse(input);
            assert_eq!((r.registry(), r.path()), (registry, path), "{input}");
            assert_eq!(r.repository(), format!("{registry}/{path}"));
        }
        // A first component without `.`/`:` that is not localhost is a path.
        assert_eq!(parse("foo/bar").registry(), "index.docker.io");
    }

    #[test]
    fn tags_digests_and_ports() {
        let r = parse(&format!("127.0.0.1:5000/app@{D}"));
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest().unwrap().to_string(), D);
        assert_eq!(r.target(), TagOrDigest::Digest(D.parse().unwrap()));
        assert_eq!(r.to_string(), format!("127.0.0.1:5000/app@{D}"));

        let r = parse(&format!("127.0.0.1:5000/app:v1@{D}"));
        assert_eq!(r.tag(), Some("v1"));
        assert_eq!(
            r.target(),
            TagOrDigest::Digest(D.parse().unwrap()),
            "digest wins"
        );
        assert_eq!(r.to_string(), format!("127.0.0.1:5000/app:v1@{D}"));

        let r = parse("127.0.0.1:5000/app");
        assert_eq!(r.tag(), Some("latest"));
        assert_eq!(r.target(), TagOrDigest::Tag("latest".into()));

        let r = parse("localhost:5000/a/b:sha256-abc.sig");
        assert_eq!(r.tag(), Some("sha256-abc.sig"));
        assert_eq!(r.path(), "a/b");
    }

    #[test]
    fn with_digest_and_with_tag() {
        let r = parse("ghcr.io/a/b:v1");
        let d: Digest = D.parse().unwrap();
        let pinned = r.with_digest(d.clone());
        assert_eq!(pinned.to_string(), format!("ghcr.io/a/b@{D}"));
        assert_eq!(pinned.digest(), Some(&d));
        let retagged = pinned.with_tag("v2").unwrap();
        assert_eq!(retagged.to_string(), "ghcr.io/a/b:v2");
        assert!(retagged.with_tag("-bad").is_err());
    }

    #[test]
    fn simple_signing_identity_matches_cosign() {
        // From cosign's golden payloads (keys-testdata/cosign/simple-signing-payload):
        // the docker-reference is the repository without tag or digest.
        let cases = [
            (
                format!("example.com/test/image@{D}"),
                "example.com/test/image",
            ),
            (
                format!("example.com/atomic/test/image@{D}"),
                "example.com/atomic/test/image",
            ),
            (
                format!("docker.io/namespace/image@{D}"),
                "index.docker.io/namespace/image",
            ),
            ("127.0.0.1:5000/app:v1".to_owned(), "127.0.0.1:5000/app"),
        ];
        for (input, identity) in cases {
            assert_eq!(parse(&input).repository(), identity, "{input}");
        }
    }

    #[test]
    fn rejects_invalid_references() {
        let long_tag = "t".repeat(129);
        let long_path = format!("example.com/{}", "a".repeat(250));
        type Check = fn(&ReferenceError) -> bool;
        let cases: Vec<(&str, Check)> = vec![
            ("", |e| matches!(e, ReferenceError::Empty)),
            ("App", |e| {
                matches!(e, ReferenceError::InvalidPathComponent { .. })
            }),
            ("example.com/Team/app", |e| {
                matches!(e, ReferenceError::InvalidPathComponent { .. })
            }),
            ("example.com/a//b", |e| {
                matches!(e, ReferenceError::InvalidPathComponent { .. })
            }),
            ("example.com/a/", |e| {
                matches!(e, ReferenceError::InvalidPathComponent { .. })
            }),
            ("example.com/-a", |e| {
                matches!(e, ReferenceError::InvalidPathComponent { .. })
            }),
            ("example.com/a-", |e| {
                matches!(e, ReferenceError::InvalidPathComponent { .. })
            }),
            ("example.com/a___b", |e| {
                matches!(e, ReferenceError::InvalidPathComponent { .. })
            }),
            ("example.com/a..b", |e| {
                matches!(e, ReferenceError::InvalidPathComponent { .. })
            }),
            ("example.com/a b", |e| {
                matches!(e, ReferenceError::InvalidPathComponent { .. })
            }),
            ("app:", |e| matches!(e, ReferenceError::InvalidTag(_))),
            ("app:.x", |e| matches!(e, ReferenceError::InvalidTag(_))),
            ("app:-x", |e| matches!(e, ReferenceError::InvalidTag(_))),
            ("app:a+b", |e| matches!(e, ReferenceError::InvalidTag(_))),
            ("app@sha256:abc", |e| {
                matches!(e, ReferenceError::InvalidDigest(_))
            }),
            ("app@md5:d41d8cd98f00b204e9800998ecf8427e", |e| {
                matches!(e, ReferenceError::InvalidDigest(_))
            }),
            ("example.com:99999/app", |e| {
                matches!(e, ReferenceError::InvalidRegistry(_))
            }),
            ("example.com:/app", |e| {
                matches!(e, ReferenceError::InvalidRegistry(_))
            }),
            ("exa_mple.com/app", |e| {
                matches!(e, ReferenceError::InvalidRegistry(_))
            }),
            ("-example.com/app", |e| {
                matches!(e, ReferenceError::InvalidRegistry(_))
            }),
            ("[::1/app", |e| {
                matches!(e, ReferenceError::InvalidRegistry(_))
            }),
            ("[zz::1]:5000/app", |e| {
                matches!(e, ReferenceError::InvalidRegistry(_))
            }),
            (":tag", |e| {
                matches!(e, ReferenceError::InvalidPathComponent { .. })
            }),
        ];
        for (input, check) in cases {
            match input.parse::<Reference>() {
                Ok(r) => panic!("{input:?} parsed as {r}"),
                Err(e) => assert!(check(&e), "{input:?}: unexpected error {e:?}"),
            }
        }
        assert!(matches!(
            format!("app:{long_tag}").parse::<Reference>(),
            Err(ReferenceError::InvalidTag(_))
        ));
        assert!(matches!(
            long_path.parse::<Reference>(),
            Err(ReferenceError::NameTooLong { .. })
        ));
        assert!(matches!(
            "a".repeat(5000).parse::<Reference>(),
            Err(ReferenceError::TooLong(5000))
        ));
    }

    #[test]
    fn accepts_grammar_edge_cases() {
        for input in [
            "example.com/a__b",
            "example.com/a_b.c-d",
            "example.com/a---b",
            "example.com/0/1/2",
            "app:_x",
            "app:X.y-Z_9",
        ] {
            parse(input);
        }
        let max_tag = format!("app:{}", "t".repeat(128));
        assert_eq!(parse(&max_tag).tag().map(str::len), Some(128));
    }

    #[test]
    fn loopback_detection() {
        for (input, loopback) in [
            ("127.0.0.1:5000/a", true),
            ("127.1.2.3/a", true),
            ("localhost/a", true),
            ("localhost:80/a", true),
            ("[::1]:5000/a", true),
            ("128.0.0.1/a", false),
            ("example.com/a", false),
            ("a", false),
        ] {
            assert_eq!(parse(input).is_loopback_registry(), loopback, "{input}");
        }
    }

    #[test]
    fn display_round_trips_and_serde() {
        for input in [
            "index.docker.io/library/app:latest",
            "127.0.0.1:5000/x/y:v",
            &format!("ghcr.io/a:v@{D}"),
        ] {
            let r = parse(input);
            assert_eq!(r.to_string(), input);
            assert_eq!(parse(&r.to_string()), r);
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(serde_json::from_str::<Reference>(&json).unwrap(), r);
        }
        assert!(serde_json::from_str::<Reference>("\"Bad/App\"").is_err());
    }

    #[test]
    fn new_validates_parts() {
        let r = Reference::new("docker.io", "library/app", Some("v"), None).unwrap();
        assert_eq!(r.registry(), "index.docker.io");
        assert!(Reference::new("example.com", "A", None, None).is_err());
        assert!(Reference::new("ex ample", "a", None, None).is_err());
        assert!(Reference::new("example.com", "a", Some(""), None).is_err());
    }
}
