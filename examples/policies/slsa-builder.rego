# Require SLSA provenance from a trusted builder.
#
# Input: the in-toto statement of a SLSA provenance attestation:
#   - v0.2 (`--type slsaprovenance`, https://slsa.dev/provenance/v0.2):
#     the builder is `predicate.builder.id`;
#   - v1 (`--type slsaprovenance1`, https://slsa.dev/provenance/v1):
#     the builder is `predicate.runDetails.builder.id`.
#
# EDIT `trusted_builders` below. An entry matches a builder id exactly, or
# as a prefix followed by "@" and a ref, so
# ".../generator_container_slsa3.yml" also accepts
# ".../generator_container_slsa3.yml@refs/tags/v2.0.0".
#
# Query: data.sigstore.isCompliant -> {"result", "error"}.
package sigstore

import rego.v1

trusted_builders := {"https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml"}

slsa_v02 := "https://slsa.dev/provenance/v0.2"

slsa_v1 := "https://slsa.dev/provenance/v1"

builder_id := input.predicate.builder.id if input.predicateType == slsa_v02

builder_id := input.predicate.runDetails.builder.id if input.predicateType == slsa_v1

trusted(id) if id in trusted_builders

trusted(id) if {
	some prefix in trusted_builders
	startswith(id, concat("", [prefix, "@"]))
}

problems contains msg if {
	not input.predicateType in {slsa_v02, slsa_v1}
	msg := sprintf("expected SLSA provenance (%s or %s), got %s", [slsa_v02, slsa_v1, input.predicateType])
}

problems contains "the provenance names no builder id" if {
	input.predicateType in {slsa_v02, slsa_v1}
	not is_string(builder_id)
}

problems contains msg if {
	id := builder_id
	is_string(id)
	not trusted(id)
	msg := sprintf("builder %q is not trusted (trusted: %s)", [id, concat(", ", sort(trusted_builders))])
}

isCompliant := {
	"result": count(problems) == 0,
	"error": concat("; ", sort(problems)),
}
