//! PEM framing shared by the key parsers.

use zeroize::Zeroizing;

use super::{KeyError, check_size};

/// The label of the first `-----BEGIN <label>-----` line, if any, so that a
/// block rsign does not accept is reported by name even when its body would
/// not decode (PGP armour has headers that RFC 7468 forbids, for example).
pub(crate) fn first_label(input: &[u8]) -> Option<String> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    let start = input.windows(BEGIN.len()).position(|w| w == BEGIN)? + BEGIN.len();
    let rest = input.get(start..)?;
    let end = rest.windows(5).position(|w| w == b"-----")?;
    let label = rest.get(..end)?;
    if label.len() > 64 || !label.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        return None;
    }
    Some(String::from_utf8_lossy(label).into_owned())
}

/// Whether the input looks like PEM text rather than DER.
pub(crate) fn looks_like_pem(input: &[u8]) -> bool {
    input.trim_ascii_start().starts_with(b"-----BEGIN ")
}

/// Decodes one PEM block (surrounding whitespace allowed, CRLF allowed),
/// checking its label against `accept` first.
///
/// Returns the label and the decoded bytes (zeroized on drop: they may be a
/// private key).
pub(crate) fn decode<'l>(
    input: &[u8],
    accept: &[&'l str],
) -> Result<(&'l str, Zeroizing<Vec<u8>>), KeyError> {
    check_size(input)?;
    let Some(found) = first_label(input) else {
        return Err(KeyError::NotPem {
            source: "no `-----BEGIN <label>-----` line".into(),
        });
    };
    let Some(label) = accept.iter().copied().find(|l| *l == found) else {
        return Err(KeyError::UnknownPemLabel(found));
    };
    let trimmed = input.trim_ascii();
    let (_, der) = pem_rfc7468::decode_vec(trimmed).map_err(|e| KeyError::NotPem {
        source: Box::new(e),
    })?;
    Ok((label, Zeroizing::new(der)))
}

/// Encodes bytes as a PEM block the way Go's `encoding/pem` does: 64-column
/// base64, LF line endings, trailing newline.
pub(crate) fn encode(label: &str, der: &[u8]) -> Result<String, KeyError> {
    pem_rfc7468::encode_string(label, pem_rfc7468::LineEnding::LF, der)
        .map_err(|e| KeyError::encode("PEM block", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_detection() {
        assert_eq!(
            first_label(b"junk\n-----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: x\n").as_deref(),
            Some("PGP PRIVATE KEY BLOCK")
        );
        assert_eq!(first_label(b"no pem here"), None);
        assert_eq!(first_label(b"-----BEGIN "), None);
    }

    #[test]
    fn round_trip_and_label_check() {
        let pem = encode("PUBLIC KEY", &[1, 2, 3]).unwrap();
        assert_eq!(
            pem,
            "-----BEGIN PUBLIC KEY-----\nAQID\n-----END PUBLIC KEY-----\n"
        );
        let (label, der) = decode(pem.as_bytes(), &["PUBLIC KEY"]).unwrap();
        assert_eq!(label, "PUBLIC KEY");
        assert_eq!(der.as_slice(), &[1, 2, 3]);
        let crlf = pem.replace('\n', "\r\n");
        assert!(decode(crlf.as_bytes(), &["PUBLIC KEY"]).is_ok());
        assert!(matches!(
            decode(pem.as_bytes(), &["PRIVATE KEY"]),
            Err(KeyError::UnknownPemLabel(l)) if l == "PUBLIC KEY"
        ));
        let truncated = &pem.as_bytes()[..pem.len() - 10];
        assert!(matches!(
            decode(truncated, &["PUBLIC KEY"]),
            Err(KeyError::NotPem { .. })
        ));
    }
}
