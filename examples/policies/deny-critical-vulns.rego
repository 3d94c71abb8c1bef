# Deny images whose vulnerability scan found anything CRITICAL.
#
# Input: the in-toto statement of a cosign vulnerability attestation
# (`rsign attest --type vuln`), predicate type
# https://cosign.sigstore.dev/attestation/vuln/v1, whose
# `predicate.scanner.result` is a Trivy JSON report (`trivy image -f json`):
# findings live in `Results[].Vulnerabilities[]`, each with a `Severity`.
#
# Fails closed: a statement of another type, or one without a Trivy report
# (e.g. `scanner.result` is null), is denied. HIGH findings only warn.
#
# Query: data.sigstore.isCompliant -> {"result", "error", "warning"}.
package sigstore

import rego.v1

vuln_predicate_type := "https://cosign.sigstore.dev/attestation/vuln/v1"

report := input.predicate.scanner.result

# One line per finding of the given severity, e.g.
# "CVE-2024-3094 in xz-libs 5.6.1-r1 (app:1.0 (alpine 3.19.1))".
findings(severity) := {line |
	is_array(report.Results)
	some result in report.Results
	is_array(result.Vulnerabilities)
	some vuln in result.Vulnerabilities
	upper(vuln.Severity) == severity
	line := sprintf("%s in %s %s (%s)", [vuln.VulnerabilityID, vuln.PkgName, vuln.InstalledVersion, result.Target])
}

problems contains msg if {
	input.predicateType != vuln_predicate_type
	msg := sprintf("expected a %s attestation, got %s", [vuln_predicate_type, input.predicateType])
}

problems contains "the attestation carries no Trivy JSON report in predicate.scanner.result" if {
	not is_number(report.SchemaVersion)
}

problems contains "the Trivy report's Results is not an array" if {
	results := report.Results
	not is_array(results)
}

problems contains msg if {
	critical := findings("CRITICAL")
	count(critical) > 0
	msg := sprintf("%d CRITICAL vulnerabilities: %s", [count(critical), concat(", ", sort(critical))])
}

notes contains msg if {
	high := findings("HIGH")
	count(high) > 0
	msg := sprintf("%d HIGH vulnerabilities: %s", [count(high), concat(", ", sort(high))])
}

isCompliant := {
	"result": count(problems) == 0,
	"error": concat("; ", sort(problems)),
	"warning": concat("; ", sort(notes)),
}
