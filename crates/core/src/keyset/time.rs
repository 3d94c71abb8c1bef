//! RFC 3339 date-times: a strict grammar check, then `jiff` for the calendar.

use jiff::Timestamp;

use crate::keys::BoxError;

/// Why a string is not an RFC 3339 date-time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimeError {
    /// The text does not follow the RFC 3339 `date-time` grammar.
    #[error("expected `YYYY-MM-DDTHH:MM:SS[.fraction]` followed by `Z` or an offset like `+02:00`")]
    Grammar,
    /// The grammar is right but a field is out of range (month 13, day 32, ...).
    #[error("date or time out of range: {0}")]
    Range(String),
}

/// Parses an RFC 3339 `date-time` (section 5.6): `2027-01-31T00:00:00Z`,
/// `2027-01-31T02:00:00.5+02:00`. The `T` and `Z` may be lower case, as the
/// RFC allows; anything else (no offset, no seconds, a space separator, a
/// time zone name) is rejected.
pub fn parse_rfc3339(input: &str) -> Result<Timestamp, TimeError> {
    if !rfc3339_grammar(input.as_bytes()) {
        return Err(TimeError::Grammar);
    }
    input
        .to_ascii_uppercase()
        .parse::<Timestamp>()
        .map_err(|e| TimeError::Range(e.to_string()))
}

/// Formats a timestamp as RFC 3339 in UTC with a `Z` suffix; fractional
/// seconds appear only when they are not zero.
pub fn format_rfc3339(timestamp: Timestamp) -> String {
    timestamp.to_string()
}

pub(crate) fn parse_boxed(input: &str) -> Result<Timestamp, BoxError> {
    parse_rfc3339(input).map_err(|e| Box::new(e) as BoxError)
}

/// `full-date "T" full-time` with `time-offset = "Z" / ("+"/"-") HH ":" MM`.
fn rfc3339_grammar(s: &[u8]) -> bool {
    let digits = |range: std::ops::Range<usize>| {
        s.get(range)
            .is_some_and(|d| !d.is_empty() && d.iter().all(u8::is_ascii_digit))
    };
    let is = |i: usize, allowed: &[u8]| s.get(i).is_some_and(|c| allowed.contains(c));
    // 2027-01-31T00:00:00 is 19 bytes.
    if !(digits(0..4)
        && is(4, b"-")
        && digits(5..7)
        && is(7, b"-")
        && digits(8..10)
        && is(10, b"Tt")
        && digits(11..13)
        && is(13, b":")
        && digits(14..16)
        && is(16, b":")
        && digits(17..19))
    {
        return false;
    }
    let mut i = 19;
    if is(i, b".") {
        let start = i + 1;
        let mut end = start;
        while s.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
        if end == start {
            return false;
        }
        i = end;
    }
    match s.get(i) {
        Some(b'Z' | b'z') => s.len() == i + 1,
        Some(b'+' | b'-') => {
            s.len() == i + 6 && digits(i + 1..i + 3) && is(i + 3, b":") && digits(i + 4..i + 6)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_rfc3339() {
        let t = parse_rfc3339("2027-01-31T00:00:00Z").unwrap();
        assert_eq!(format_rfc3339(t), "2027-01-31T00:00:00Z");
        let t = parse_rfc3339("2027-01-31T02:30:00+02:30").unwrap();
        assert_eq!(format_rfc3339(t), "2027-01-31T00:00:00Z");
        let t = parse_rfc3339("2027-01-30t23:00:00.25-01:00").unwrap();
        assert_eq!(format_rfc3339(t), "2027-01-31T00:00:00.25Z");
        assert!(parse_rfc3339("2027-01-31T00:00:00z").is_ok());
    }

    #[test]
    fn rejects_other_shapes() {
        for bad in [
            "",
            "2027-01-31",
            "2027-01-31T00:00Z",
            "2027-01-31 00:00:00Z",
            "2027-01-31T00:00:00",
            "2027-01-31T00:00:00+0200",
            "2027-01-31T00:00:00+02",
            "2027-01-31T00:00:00.Z",
            "2027-01-31T00:00:00Z[UTC]",
            "2027-01-31T00:00:00Z ",
            "+2027-01-31T00:00:00Z",
            "２027-01-31T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), Err(TimeError::Grammar), "{bad}");
        }
        for bad in [
            "2027-13-01T00:00:00Z",
            "2027-02-30T00:00:00Z",
            "2027-01-01T25:00:00Z",
        ] {
            assert!(
                matches!(parse_rfc3339(bad), Err(TimeError::Range(_))),
                "{bad}"
            );
        }
    }
}
