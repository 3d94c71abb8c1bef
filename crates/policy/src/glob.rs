//! Image globs with sigstore policy-controller's semantics, and the image
//! reference normalisation they match against.
//!
//! Facts replicated (from policy-controller's `pkg/apis/glob` and the
//! go-containerregistry `name` package it relies on):
//! - a glob may use only ASCII letters, digits and `-_:/*.`;
//! - `*` matches zero or more characters other than `/`, `**` zero or more of
//!   any character; everything else is literal (a `.` is a dot);
//! - the whole normalised reference must match (anchored at both ends);
//! - the glob `*` means `index.docker.io/library/*` and `*/*` means
//!   `index.docker.io/*/*`;
//! - images are normalised as go-containerregistry's `Reference.Name()` does:
//!   default registry `index.docker.io` (`docker.io` is rewritten to it),
//!   `library/` for single-segment Docker Hub names, tag `latest` when neither
//!   tag nor digest is given, and `repo@sha256:…` for digest references (a
//!   tag next to a digest is dropped);
//! - when the normalised name does not match but differs from the image as
//!   written, the glob is tried against the image as written (a deprecated
//!   fallback policy-controller keeps; it can only make more policies apply).

use std::fmt;

/// Docker Hub's registry host as go-containerregistry names it.
pub const DOCKER_HUB: &str = "index.docker.io";

/// The longest glob accepted.
const MAX_GLOB_LEN: usize = 1024;
/// The longest image reference accepted.
const MAX_REFERENCE_LEN: usize = 4096;

/// Why a glob or an image reference is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GlobError {
    /// The glob is empty, too long or uses a character outside `[A-Za-z0-9-_:/*.]`.
    #[error(
        "invalid glob `{0}`: only ASCII letters, digits and `-_:/*.` are allowed (`*` matches within one path segment, `**` across segments)"
    )]
    InvalidGlob(String),
    /// The image reference cannot be parsed.
    #[error("invalid image reference `{reference}`: {reason}")]
    InvalidReference {
        /// The reference, truncated for display.
        reference: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Literal(u8),
    /// `*`: zero or more bytes other than `/`.
    Star,
    /// `**`: zero or more of any byte.
    DoubleStar,
}

/// A compiled image glob.
#[derive(Clone, PartialEq, Eq)]
pub struct Glob {
    source: String,
    tokens: Vec<Token>,
}

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Glob({:?})", self.source)
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl Glob {
    /// Compiles `glob` (see the module docs for the syntax).
    pub fn compile(glob: &str) -> Result<Self, GlobError> {
        let expanded = match glob {
            "*" => "index.docker.io/library/*",
            "*/*" => "index.docker.io/*/*",
            other => other,
        };
        let valid_char = |b: u8| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'/' | b'*' | b'.')
        };
        if expanded.is_empty() || expanded.len() > MAX_GLOB_LEN || !expanded.bytes().all(valid_char)
        {
            return Err(GlobError::InvalidGlob(glob.chars().take(200).collect()));
        }
        let bytes = expanded.as_bytes();
        let mut tokens = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            if b == b'*' {
                if bytes.get(i + 1) == Some(&b'*') {
                    tokens.push(Token::DoubleStar);
                    i += 2;
                } else {
                    tokens.push(Token::Star);
                    i += 1;
                }
            } else {
                tokens.push(Token::Literal(b));
                i += 1;
            }
        }
        Ok(Self {
            source: glob.to_owned(),
            tokens,
        })
    }

    /// The glob as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the glob matches `image` as policy-controller decides it: the
    /// normalised name first, then (deprecated fallback) the image as written.
    pub fn matches_image(&self, image: &str) -> Result<bool, GlobError> {
        let name = normalize_reference(image)?;
        Ok(self.matches_str(&name) || (name != image && self.matches_str(image)))
    }

    /// Whether the glob matches the whole of `text`.
    pub fn matches_str(&self, text: &str) -> bool {
        // Dynamic programming over (token, byte) positions: `row[j]` is true
        // when the tokens seen so far match `text[..j]`. O(tokens × bytes).
        let text = text.as_bytes();
        let mut row = vec![false; text.len() + 1];
        if let Some(first) = row.first_mut() {
            *first = true;
        }
        for token in &self.tokens {
            let mut next = vec![false; text.len() + 1];
            match *token {
                Token::Literal(c) => {
                    for (j, &b) in text.iter().enumerate() {
                        if b == c
                            && row.get(j).copied().unwrap_or(false)
                            && let Some(cell) = next.get_mut(j + 1)
                        {
                            *cell = true;
                        }
                    }
                }
                Token::Star | Token::DoubleStar => {
                    let mut reachable = false;
                    for j in 0..=text.len() {
                        if row.get(j).copied().unwrap_or(false) {
                            reachable = true;
                        }
                        if let Some(cell) = next.get_mut(j) {
                            *cell = reachable;
                        }
                        // A `*` cannot extend over a `/`.
                        if *token == Token::Star && text.get(j) == Some(&b'/') {
                            reachable = false;
                        }
                    }
                }
            }
            row = next;
        }
        row.last().copied().unwrap_or(false)
    }
}

/// The fully qualified name go-containerregistry gives `image`
/// (`Reference.Name()` under weak validation): `nginx` →
/// `index.docker.io/library/nginx:latest`, `ghcr.io/a/b@sha256:…` → itself.
pub fn normalize_reference(image: &str) -> Result<String, GlobError> {
    let invalid = |reason: &'static str| GlobError::InvalidReference {
        reference: image.chars().take(200).collect(),
        reason,
    };
    if image.is_empty() {
        return Err(invalid("empty reference"));
    }
    if image.len() > MAX_REFERENCE_LEN {
        return Err(invalid("reference is too long"));
    }
    if let Some((base, digest)) = image.split_once('@') {
        if digest.contains('@') {
            return Err(invalid("more than one `@`"));
        }
        let hex = digest
            .strip_prefix("sha256:")
            .ok_or_else(|| invalid("only sha256 digests are supported"))?;
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(invalid(
                "digest must be `sha256:` and 64 lowercase hex digits",
            ));
        }
        // A tag beside the digest is dropped; only the repository is kept.
        let repository = match split_tag(base) {
            (repo, Some(tag)) => {
                check_tag(tag).map_err(invalid)?;
                repo
            }
            (repo, None) => repo,
        };
        let repository = normalize_repository(repository).map_err(invalid)?;
        return Ok(format!("{repository}@{digest}"));
    }
    let (repository, tag) = split_tag(image);
    let tag = tag.unwrap_or("latest");
    check_tag(tag).map_err(invalid)?;
    let repository = normalize_repository(repository).map_err(invalid)?;
    Ok(format!("{repository}:{tag}"))
}

/// Splits `name:tag` at the last `:` unless what follows contains a `/`
/// (then the colon belongs to a `host:port`).
fn split_tag(name: &str) -> (&str, Option<&str>) {
    match name.rsplit_once(':') {
        Some((base, tag)) if !tag.contains('/') => (base, Some(tag)),
        _ => (name, None),
    }
}

fn check_tag(tag: &str) -> Result<(), &'static str> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err("tag must be 1-128 characters of `[A-Za-z0-9_.-]`")
    }
}

/// `registry/repository` with go-containerregistry's defaults applied.
fn normalize_repository(name: &str) -> Result<String, &'static str> {
    let (registry, repository) = match name.split_once('/') {
        Some((first, rest)) if first.contains('.') || first.contains(':') => (first, rest),
        _ => ("", name),
    };
    let repo_ok = (2..=255).contains(&repository.len())
        && repository.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.' | b'/')
        });
    if !repo_ok {
        return Err("repository must be 2-255 characters of `[a-z0-9_.-/]`");
    }
    let registry_ok = registry
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if !registry_ok {
        return Err("registry host contains an invalid character");
    }
    let registry = match registry {
        "" | "docker.io" => DOCKER_HUB,
        other => other,
    };
    if registry == DOCKER_HUB && !repository.contains('/') {
        Ok(format!("{registry}/library/{repository}"))
    } else {
        Ok(format!("{registry}/{repository}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cases of policy-controller's `TestGlobMatch`
    /// (`pkg/apis/glob/glob_test.go`): (image, glob, match, error).
    #[test]
    fn policy_controller_glob_match_cases() {
        let cases: &[(&str, &str, bool, bool)] = &[
            ("foo", "index.docker.io/library/foo:latest", true, false),
            ("foo", "index.docker.io/library/foo:*", true, false),
            ("foo", "index.docker.io/library/*", true, false),
            ("foo", "index.docker.io/library/*:latest", true, false),
            ("foo", "index.docker.io/*/*", true, false),
            ("foo", "index.docker.io/**", true, false),
            ("foo", "index.docker.**", true, false),
            ("foo", "inde**", true, false),
            ("foo", "**", true, false),
            ("foo", "foo", true, false), // deprecated fallback to the image as written
            ("foo", "foo*", true, false),
            ("foo", "foo**", true, false),
            (
                "myuser/myapp",
                "index.docker.io/myuser/myapp:latest",
                true,
                false,
            ),
            (
                "myuser/myapp",
                "index.docker.io/myuser/myapp:*",
                true,
                false,
            ),
            ("myuser/myapp", "index.docker.io/myuser/*", true, false),
            (
                "myuser/myapp",
                "index.docker.io/myuser/*:latest",
                true,
                false,
            ),
            ("myuser/myapp", "index.docker.io/*/*", true, false),
            ("myuser/myapp", "index.docker.io/**", true, false),
            ("myuser/myapp", "index.docker.**", true, false),
            ("myuser/myapp", "inde**", true, false),
            ("myuser/myapp", "**", true, false),
            ("myuser/myapp", "myuser/myapp", true, false),
            ("myuser/myapp", "myuser/myapp*", true, false),
            ("myuser/myapp", "myuser/myapp**", true, false),
            ("ghcr.io/foo/bar", "ghcr.io/*/*", true, false),
            ("ghcr.io/foo/bar", "ghcr.io/**", true, false),
            ("ghcr.io/foo", "ghcr.io/*/*", false, false),
            ("ghcr.io/foo", "ghcr.io/**", true, false),
            ("ghcr.io/foo", "ghc**", true, false),
            ("ghcr.io/foo", "**", true, false),
            ("ghcr.io/foo", "*/**", true, false),
            ("ghcr.io/foo", "ghcr.io/foo*", true, false),
            ("ghcr.io/foo", "ghcr.io/foo**", true, false),
            ("prefix-ghcr.io/foo", "ghcr.io/foo", false, false),
            ("ghcr.io/foo-suffix", "ghcr.io/foo", false, false),
            ("ghcrxio/foo", "ghcr.io/**", false, false),
            ("invalid&name", "**", false, true),
            ("invalid-glob", ".+", false, true),
            ("invalid-glob", "[a-z]*", false, true),
            ("foo", "*", true, false),
            ("myuser/myapp", "*/*", true, false),
        ];
        for &(image, glob, want_match, want_err) in cases {
            let got = Glob::compile(glob).and_then(|g| g.matches_image(image));
            match got {
                Ok(m) => {
                    assert!(!want_err, "{image}|{glob}: expected an error");
                    assert_eq!(m, want_match, "{image}|{glob}");
                }
                Err(_) => assert!(want_err, "{image}|{glob}: unexpected error"),
            }
        }
    }

    /// The examples in `glob.Match`'s doc comment: `*` does not match
    /// `ubuntu` without the `index.docker.io` prefix except through the `*`
    /// shorthand, `:` is not a separator, `:**` matches any tag.
    #[test]
    fn documented_examples() {
        let g = Glob::compile("index.docker.io/library/ubuntu:**").unwrap();
        assert!(g.matches_image("ubuntu").unwrap());
        assert!(g.matches_image("ubuntu:22.04").unwrap());
        assert!(g.matches_image("docker.io/library/ubuntu:22.04").unwrap());
        let single = Glob::compile("index.docker.io/library/*").unwrap();
        assert!(
            single.matches_image("debian:12").unwrap(),
            "`*` spans the `:`"
        );
        assert!(!single.matches_image("myuser/myapp").unwrap());
        let digest = format!("ghcr.io/a/b@sha256:{}", "a".repeat(64));
        assert!(
            Glob::compile("ghcr.io/a/**")
                .unwrap()
                .matches_image(&digest)
                .unwrap()
        );
        assert!(
            !Glob::compile("ghcr.io/a/b:*")
                .unwrap()
                .matches_image(&digest)
                .unwrap()
        );
    }

    #[test]
    fn normalizes_like_go_containerregistry() {
        let d = format!("sha256:{}", "0".repeat(64));
        let cases = [
            ("nginx", "index.docker.io/library/nginx:latest".to_owned()),
            (
                "docker.io/nginx:1",
                "index.docker.io/library/nginx:1".to_owned(),
            ),
            ("user/app", "index.docker.io/user/app:latest".to_owned()),
            ("localhost:5000/app", "localhost:5000/app:latest".to_owned()),
            (
                "localhost/app",
                "index.docker.io/localhost/app:latest".to_owned(),
            ),
            ("127.0.0.1:5000/a/b:v1", "127.0.0.1:5000/a/b:v1".to_owned()),
            (
                &*format!("nginx:1@{d}"),
                format!("index.docker.io/library/nginx@{d}"),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_reference(input).unwrap(), want, "{input}");
        }
        for bad in [
            "",
            "Upper/case",
            "a",
            "x:",
            "x@sha256:abc",
            "x@md5:00",
            "a b",
        ] {
            assert!(
                normalize_reference(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn star_does_not_cross_slash_but_double_star_does() {
        let g = Glob::compile("r.io/*").unwrap();
        assert!(g.matches_str("r.io/a:1"));
        assert!(!g.matches_str("r.io/a/b:1"));
        let g = Glob::compile("r.io/**").unwrap();
        assert!(g.matches_str("r.io/a/b:1"));
        assert!(Glob::compile("r.io/***").unwrap().matches_str("r.io/a/b"));
        assert!(Glob::compile("").is_err());
        assert!(
            Glob::compile("r.io/a@sha256:*").is_err(),
            "`@` is not allowed"
        );
    }
}
