//! Policy documents: strict decoding with positions, rejected fields,
//! multi-document YAML, JSON, directories, native key files.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers: a failure is a test failure"
)]

mod support;

use std::path::Path;

use rsign_policy::{DocumentKind, Format, LoadError, LoadOptions, PolicySet, Problem};
use support::*;

fn problems(yaml: &str) -> Vec<Problem> {
    match PolicySet::parse(
        yaml,
        Format::Yaml,
        Path::new("p.yaml"),
        None,
        &LoadOptions::default(),
    ) {
        Ok(_) => panic!("expected problems for:\n{yaml}"),
        Err(LoadError::Invalid { problems }) => problems,
        Err(e) => panic!("unexpected error {e}"),
    }
}

#[test]
fn unknown_field_is_reported_with_line_and_column() {
    let k = key();
    let yaml = cip("app", "registry.example/**", &[&k])
        .replace("  images:\n", "  imagez: []\n  images:\n");
    let p = problems(&yaml);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].message.contains("unknown field `imagez`"),
        "{}",
        p[0].message
    );
    assert_eq!((p[0].line, p[0].column), (Some(6), Some(3)), "{p:?}");
    assert_eq!(p[0].file, Path::new("p.yaml"));
    assert!(p[0].to_string().starts_with("p.yaml:6:3: "), "{}", p[0]);
}

#[test]
fn native_only_fields_are_unknown_in_a_cluster_image_policy() {
    let k = key();
    let yaml = cip("app", "registry.example/**", &[&k])
        .replace("  - name: key-0\n", "  - name: key-0\n    threshold: 1\n");
    let p = problems(&yaml);
    assert!(
        p[0].message.contains("unknown field `threshold`"),
        "{}",
        p[0].message
    );
    assert_eq!(p[0].line, Some(10));
}

#[test]
fn unsupported_policy_controller_fields_are_rejected_by_name() {
    let k = key();
    let base = cip("app", "registry.example/**", &[&k]);
    let cases = [
        (
            "  - name: key-0\n",
            "  - name: key-0\n    keyless: {url: https://fulcio.example}\n",
            "`keyless` is not supported",
        ),
        (
            "  - name: key-0\n",
            "  - name: key-0\n    source: [{oci: registry.example/sigs}]\n",
            "`source` is not supported",
        ),
        (
            "  - name: key-0\n",
            "  - name: key-0\n    ctlog: {url: https://rekor.example}\n",
            "`ctlog` with `url`",
        ),
        (
            "  - name: key-0\n",
            "  - name: key-0\n    rfc3161timestamp: {trustRootRef: x}\n",
            "`rfc3161timestamp` is not supported",
        ),
        (
            "  - name: key-0\n",
            "  - name: key-0\n    signatureFormat: bundle\n",
            "`signatureFormat: bundle`",
        ),
        (
            "    key:\n",
            "    key:\n      kms: awskms:///arn\n",
            "`kms` is not supported",
        ),
        (
            "    key:\n",
            "    key:\n      secretRef: {name: k}\n",
            "`secretRef` is not supported",
        ),
        (
            "    key:\n",
            "    key:\n      hashAlgorithm: sha512\n",
            "`hashAlgorithm: sha512`",
        ),
        (
            "spec:\n",
            "spec:\n  match: [{resource: pods}]\n",
            "`match` is not supported",
        ),
        (
            "spec:\n",
            "spec:\n  policy: {type: cue, data: x}\n",
            "`type: cue` is not supported",
        ),
        (
            "spec:\n",
            "spec:\n  policy: {type: rego, remote: {url: https://x}}\n",
            "`remote` is not supported",
        ),
        (
            "spec:\n",
            "spec:\n  policy: {type: rego, url: https://x}\n",
            "`url` is not supported",
        ),
        (
            "spec:\n",
            "spec:\n  policy: {type: rego, configMapRef: {name: x}}\n",
            "`configMapRef` is not supported",
        ),
        (
            "spec:\n",
            "spec:\n  policy: {type: rego, data: x, fetchConfigFile: true}\n",
            "`fetchConfigFile: true`",
        ),
        (
            "spec:\n",
            "spec:\n  policy: {type: rego, data: x, includeSpec: true}\n",
            "`includeSpec: true`",
        ),
        (
            "spec:\n",
            "spec:\n  mode: audit\n",
            "unknown variant `audit`",
        ),
    ];
    for (from, to, want) in cases {
        let yaml = base.replacen(from, to, 1);
        let p = problems(&yaml);
        assert!(
            p[0].message.contains(want),
            "{want}: got {:?}",
            p[0].message
        );
        assert!(p[0].line.is_some(), "{want}: no position in {p:?}");
    }
    // The accepted spellings of the same fields.
    for (from, to) in [
        (
            "  - name: key-0\n",
            "  - name: key-0\n    ctlog: {}\n    signatureFormat: legacy\n",
        ),
        ("    key:\n", "    key:\n      hashAlgorithm: sha256\n"),
    ] {
        parse(&base.replacen(from, to, 1));
    }
}

#[test]
fn semantic_errors_name_the_field() {
    let k = key();
    let base = cip("app", "registry.example/**", &[&k]);
    let both = base.replace("    key:\n", "    static: {action: pass}\n    key:\n");
    assert!(problems(&both)[0].message.contains("only one of"));
    let none = "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: x}\nspec:\n  images: [{glob: '**'}]\n  authorities: [{name: a}]\n";
    let p = problems(none);
    assert!(
        p[0].message.contains("spec.authorities[0]: one of `key`"),
        "{}",
        p[0].message
    );
    assert_eq!(p[0].line, Some(1));
    let bad_glob = base.replace("registry.example/**", "registry.example/[a-z]");
    assert!(problems(&bad_glob)[0].message.contains("invalid glob"));
    let bad_pem = base.replace("-----BEGIN PUBLIC KEY-----", "-----BEGIN NONSENSE-----");
    assert!(problems(&bad_pem)[0].message.contains("invalid public key"));
    let wrong_kind = base.replace("ClusterImagePolicy", "ImagePolicy");
    assert!(
        problems(&wrong_kind)[0]
            .message
            .contains("unsupported document")
    );
    let bad_rego = base.replace(
        "spec:\n",
        "spec:\n  policy: {type: rego, data: 'package sigstore\n\n    isCompliant := ['}\n",
    );
    assert!(
        problems(&bad_rego)[0]
            .message
            .contains("spec.policy: invalid Rego"),
        "{:?}",
        problems(&bad_rego)
    );
}

#[test]
fn several_yaml_documents_json_and_directories_load() {
    let k = key();
    let dir = tempfile::tempdir().unwrap();
    let multi = format!(
        "# policies\n---\n{}---\n{}",
        cip("one", "a.example/**", &[&k]),
        cip("two", "b.example/**", &[&k])
    );
    std::fs::write(dir.path().join("multi.yaml"), multi).unwrap();
    let json = serde_json::json!({
        "apiVersion": "policy.sigstore.dev/v1alpha1",
        "kind": "ClusterImagePolicy",
        "metadata": {"name": "three"},
        "spec": {"images": [{"glob": "c.example/**"}], "authorities": [{"key": {"data": pem(&k)}}]}
    });
    std::fs::write(dir.path().join("three.json"), json.to_string()).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a policy").unwrap();
    let set = PolicySet::load(&[dir.path()]).unwrap();
    let names: Vec<&str> = set.policies().iter().map(|p| p.name()).collect();
    assert_eq!(names, ["one", "two", "three"]);
    assert_eq!(set.matching("b.example/xy:1"), vec![1]);
    assert!(PolicySet::check(&[dir.path()], &LoadOptions::default()).is_empty());

    // JSON errors carry positions too.
    std::fs::write(
        dir.path().join("three.json"),
        json.to_string().replace("\"spec\"", "\"spek\""),
    )
    .unwrap();
    let p = PolicySet::check(&[dir.path()], &LoadOptions::default());
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].file.ends_with("three.json") && p[0].line == Some(1) && p[0].column.is_some(),
        "{p:?}"
    );

    // Problems in a later document point into it.
    let bad = format!(
        "{}---\n{}",
        cip("one", "a.example/**", &[&k]),
        cip("two", "b.example/**", &[&k]).replace("metadata:", "metadatum:")
    );
    std::fs::write(dir.path().join("multi.yaml"), &bad).unwrap();
    let line = bad
        .lines()
        .position(|l| l.starts_with("metadatum"))
        .unwrap()
        + 1;
    let p = PolicySet::check(&[dir.path().join("multi.yaml")], &LoadOptions::default());
    assert_eq!(p[0].line, Some(line), "{p:?}");
}

#[test]
fn native_policy_reads_key_files_relative_to_itself_and_checks_threshold() {
    let (k1, k2) = (key(), key());
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    std::fs::write(dir.path().join("keys/k1.pub"), pem(&k1)).unwrap();
    let yaml = format!(
        "apiVersion: rsign.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {{name: n}}\nspec:\n  images: [{{glob: '**'}}]\n  authorities:\n  - threshold: 2\n    keys:\n    - path: keys/k1.pub\n    - data: |\n{}",
        pem_block(&k2, 8)
    );
    std::fs::write(dir.path().join("native.yml"), &yaml).unwrap();
    let set = PolicySet::load(&[dir.path().join("native.yml")]).unwrap();
    assert_eq!(set.policies()[0].kind(), DocumentKind::ImagePolicy);

    std::fs::write(
        dir.path().join("native.yml"),
        yaml.replace("threshold: 2", "threshold: 3"),
    )
    .unwrap();
    let p = PolicySet::check(&[dir.path().join("native.yml")], &LoadOptions::default());
    assert!(p[0].message.contains("threshold is 3 but only 2"), "{p:?}");

    std::fs::write(
        dir.path().join("native.yml"),
        yaml.replace("keys/k1.pub", "keys/missing.pub"),
    )
    .unwrap();
    let p = PolicySet::check(&[dir.path().join("native.yml")], &LoadOptions::default());
    assert!(p[0].message.contains("keys[0].path"), "{p:?}");

    // `keyset:` needs a loader; without one it is an error, not ignored.
    std::fs::write(
        dir.path().join("native.yml"),
        yaml.replace(
            "  - threshold: 2\n",
            "  - keyset: team.keyset\n    threshold: 2\n",
        ),
    )
    .unwrap();
    let p = PolicySet::check(&[dir.path().join("native.yml")], &LoadOptions::default());
    assert!(p[0].message.contains("no keyset loader"), "{p:?}");
}

#[test]
fn policy_set_hash_changes_with_keys_and_rules() {
    let (a, b) = (key(), key());
    let one = parse(&cip("app", "registry.example/**", &[&a]));
    let same = parse(&cip("app", "registry.example/**", &[&a]));
    let other_key = parse(&cip("app", "registry.example/**", &[&b]));
    let other_glob = parse(&cip("app", "registry.example/*", &[&a]));
    assert_eq!(one.hash(), same.hash());
    assert_ne!(one.hash(), other_key.hash());
    assert_ne!(one.hash(), other_glob.hash());
}

#[test]
fn native_authorities_reject_the_same_fields_at_their_position() {
    let k = key();
    let base = format!(
        "apiVersion: rsign.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {{name: n}}\nspec:\n  images: [{{glob: '**'}}]\n  authorities:\n  - name: a\n    keys:\n    - data: |\n{}",
        pem_block(&k, 8)
    );
    parse(&base);
    for (field, want) in [
        (
            "keyless: {url: https://fulcio.example}",
            "`keyless` is not supported",
        ),
        (
            "source: [{oci: registry.example/sigs}]",
            "`source` is not supported",
        ),
        ("ctlog: {url: https://rekor.example}", "`ctlog` with `url`"),
        (
            "rfc3161timestamp: {trustRootRef: x}",
            "`rfc3161timestamp` is not supported",
        ),
        ("signatureFormat: bundle", "`signatureFormat: bundle`"),
        ("keyz: []", "unknown field `keyz`"),
    ] {
        let yaml = base.replacen("  - name: a\n", &format!("  - name: a\n    {field}\n"), 1);
        let p = problems(&yaml);
        assert!(
            p[0].message.contains(want),
            "{want}: got {:?}",
            p[0].message
        );
        // Reported within the authority (line 7 `- name: a`, line 8 the
        // field; which one depends on whether serde or rsign's check spoke).
        assert!(matches!(p[0].line, Some(7 | 8)), "{want}: {p:?}");
        assert!(p[0].column.is_some(), "{want}: {p:?}");
    }
}

#[test]
fn json_documents_are_decoded_whole_with_positions() {
    let json = r#"{"apiVersion": "rsign.dev/v1alpha1", "kind": "ImagePolicy", "metadata": {"name": "n"},
 "spec": {"images": [{"glob": "**"}], "authorities": [{"static": {"action": "pass"}}]}}"#;
    let parse_json = |text: &str| {
        PolicySet::parse(
            text,
            Format::Json,
            Path::new("p.json"),
            None,
            &LoadOptions::default(),
        )
    };
    assert!(parse_json(json).is_ok());
    for (text, want, line) in [
        (format!("{json} {{}}"), "trailing characters", 2),
        (
            json.replace(r#""static""#, r#""keyless": {}, "static""#),
            "`keyless` is not supported",
            2,
        ),
        (
            json.replace(r#""images""#, r#""imagez": [], "images""#),
            "unknown field `imagez`",
            2,
        ),
    ] {
        let Err(LoadError::Invalid { problems: p }) = parse_json(&text) else {
            panic!("expected problems for {text}");
        };
        assert!(p[0].message.contains(want), "{want}: {p:?}");
        assert_eq!(p[0].line, Some(line), "{want}: {p:?}");
    }
}
