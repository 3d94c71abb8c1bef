# Require an SBOM that lists at least one package.
#
# Input: the in-toto statement of an SBOM attestation:
#   - SPDX (`--type spdxjson`, https://spdx.dev/Document): the predicate is
#     the SPDX JSON document; packages are in `predicate.packages[]`.
#     (`--type spdx` stores tag-value text as a string predicate; its
#     packages are its `PackageName:` lines.)
#   - CycloneDX (`--type cyclonedx`, https://cyclonedx.org/bom): the
#     predicate is the CycloneDX JSON BOM; packages are in
#     `predicate.components[]`.
# cosign 1.x wrapped predicates as {"Data": <document>}; that form is
# unwrapped too.
#
# Query: data.sigstore.isCompliant -> {"result", "error"}.
package sigstore

import rego.v1

spdx_type := "https://spdx.dev/Document"

cyclonedx_type := "https://cyclonedx.org/bom"

sbom_format := "SPDX" if input.predicateType == spdx_type

sbom_format := "CycloneDX" if input.predicateType == cyclonedx_type

legacy_wrapped if {
	is_object(input.predicate)
	object.keys(input.predicate) == {"Data"}
}

document := input.predicate.Data if legacy_wrapped

document := input.predicate if not legacy_wrapped

packages := document.packages if {
	input.predicateType == spdx_type
	is_array(document.packages)
}

packages := [line |
	some line in split(document, "\n")
	startswith(line, "PackageName:")
] if {
	input.predicateType == spdx_type
	is_string(document)
}

packages := document.components if {
	input.predicateType == cyclonedx_type
	is_array(document.components)
}

problems contains msg if {
	not sbom_format
	msg := sprintf("expected an SBOM (%s or %s), got %s", [spdx_type, cyclonedx_type, input.predicateType])
}

has_packages if count(packages) > 0

problems contains msg if {
	format := sbom_format
	not has_packages
	msg := sprintf("the %s SBOM lists no packages", [format])
}

isCompliant := {
	"result": count(problems) == 0,
	"error": concat("; ", sort(problems)),
}
