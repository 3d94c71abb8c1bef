//! Hostile or oversized policy documents: bounded time and memory, no panic.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers: a failure is a test failure"
)]

use std::path::Path;
use std::time::{Duration, Instant};

use rsign_policy::{Format, LoadError, LoadOptions, PolicySet, Problem};

fn parse(text: &str, format: Format) -> Result<PolicySet, Vec<Problem>> {
    match PolicySet::parse(
        text,
        format,
        Path::new("p.yaml"),
        None,
        &LoadOptions::default(),
    ) {
        Ok(set) => Ok(set),
        Err(LoadError::Invalid { problems }) => Err(problems),
        Err(e) => panic!("unexpected error {e}"),
    }
}

fn static_doc(i: usize) -> String {
    format!(
        "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {{name: p{i}}}\nspec:\n  images: [{{glob: \"reg.example/app{i}\"}}]\n  authorities: [{{static: {{action: pass}}}}]\n"
    )
}

#[test]
fn yaml_alias_expansion_is_bounded() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let prev = i - 1;
        text.push_str(&format!(
            "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
        ));
    }
    let start = Instant::now();
    let problems = parse(&text, Format::Yaml).unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert!(!problems.is_empty());
}

#[test]
fn deeply_nested_documents_are_refused_quickly() {
    // The YAML scanner is quadratic in flow nesting: 100,000 levels took
    // minutes before the depth was checked up front.
    let depth = 100_000;
    let started = Instant::now();
    let yaml = format!("spec: {}1{}", "{a: ".repeat(depth), "}".repeat(depth));
    let problems = parse(&yaml, Format::Yaml).unwrap_err();
    assert!(
        problems[0].message.contains("nested more than"),
        "{problems:?}"
    );
    let yaml = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let problems = parse(&yaml, Format::Yaml).unwrap_err();
    assert!(
        problems[0].message.contains("nested more than"),
        "{problems:?}"
    );
    let json = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    assert!(!parse(&json, Format::Json).unwrap_err().is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn many_documents_in_one_text_load_in_linear_time() {
    let docs: Vec<String> = (0..1000).map(static_doc).collect();
    let text = docs.join("---\n");
    let started = Instant::now();
    let set = parse(&text, Format::Yaml).unwrap();
    // Re-parsing the text for each document took ~20 s (debug build).
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(set.policies().len(), 1000);
    assert_eq!(set.policies()[999].name(), "p999");
    // An empty document between two does not shift the pairing of header
    // and body.
    let text = format!("{}---\n---\n{}", static_doc(1), static_doc(2));
    let set = parse(&text, Format::Yaml).unwrap();
    let names: Vec<&str> = set.policies().iter().map(|p| p.name()).collect();
    assert_eq!(names, ["p1", "p2"]);
}

#[test]
fn oversized_text_is_refused_before_parsing() {
    let text = format!("# {}\n{}", "x".repeat(5 * 1024 * 1024), static_doc(0));
    let problems = parse(&text, Format::Yaml).unwrap_err();
    assert!(problems[0].message.contains("larger than"), "{problems:?}");
    let problems = parse(&text, Format::Json).unwrap_err();
    assert!(problems[0].message.contains("larger than"), "{problems:?}");
}

#[test]
fn rego_braces_in_block_scalars_do_not_count_as_deep_nesting() {
    let rego: String = (0..50)
        .map(|i| format!("      r{i} if {{ {{ [1, [2, [3]]] }} }}\n"))
        .collect();
    let text = format!(
        "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {{name: p}}\nspec:\n  images: [{{glob: \"**\"}}]\n  authorities: [{{static: {{action: pass}}}}]\n  policy:\n    type: rego\n    data: |\n      package sigstore\n      import rego.v1\n      default isCompliant := true\n{rego}"
    );
    match parse(&text, Format::Yaml) {
        Ok(_) => {}
        Err(problems) => assert!(
            problems
                .iter()
                .all(|p| !p.message.contains("nested more than")),
            "{problems:?}"
        ),
    }
}
