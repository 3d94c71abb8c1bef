//! Human-written durations such as `30s`, `15m`, `12h`, `7d` or `1h30m`.
//!
//! Grammar: one or more `<digits><unit>` parts with no spaces, where the unit
//! is `d` (86 400 s), `h` (3 600 s), `m` (60 s) or `s`. Each unit appears at
//! most once and larger units come first (`1d12h`, not `12h1d`). `0s` is
//! allowed. The total may not exceed [`MAX_DURATION`] (3650 days, about ten
//! years). Signs, fractions, spaces and upper-case units are rejected.
//!
//! ```
//! use std::time::Duration;
//! use rsign_core::duration::{format_duration, parse_duration};
//!
//! assert_eq!(parse_duration("1h30m")?, Duration::from_secs(5400));
//! assert_eq!(format_duration(Duration::from_secs(7 * 86_400)), "7d");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::time::Duration;

/// The longest duration [`parse_duration`] accepts: 3650 days.
pub const MAX_DURATION: Duration = Duration::from_secs(MAX_DAYS * DAY);

const MAX_DAYS: u64 = 3650;
const DAY: u64 = 86_400;
const HOUR: u64 = 3_600;
const MINUTE: u64 = 60;

/// The units, largest first, with their length in seconds.
const UNITS: [(char, u64); 4] = [('d', DAY), ('h', HOUR), ('m', MINUTE), ('s', 1)];

const UNITS_HINT: &str =
    "write a number and a unit (`s`, `m`, `h`, `d`), such as `30m`, `12h`, `7d` or `1h30m`";

/// Why a string is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    /// The input is empty.
    #[error("duration is empty; hint: {UNITS_HINT}")]
    Empty,
    /// A number is not followed by a unit, as in `30`.
    #[error("duration `{input}` has a number without a unit; hint: {UNITS_HINT}")]
    MissingUnit {
        /// The whole input.
        input: String,
    },
    /// A unit is not preceded by a number, as in `h` or `1hm`.
    #[error("duration `{input}` has a unit without a number; hint: {UNITS_HINT}")]
    MissingNumber {
        /// The whole input.
        input: String,
    },
    /// A character that is neither a digit nor a known unit.
    #[error(
        "duration `{input}` contains `{found}`, which is not a digit or a unit; hint: {UNITS_HINT}"
    )]
    UnknownUnit {
        /// The whole input.
        input: String,
        /// The offending character.
        found: char,
    },
    /// A unit repeats or a smaller unit comes before a larger one.
    #[error(
        "duration `{input}` repeats a unit or lists a smaller unit before a larger one; hint: use each unit at most once, largest first (`d`, `h`, `m`, `s`), such as `1d12h`"
    )]
    UnitOrder {
        /// The whole input.
        input: String,
    },
    /// The total is longer than [`MAX_DURATION`].
    #[error("duration `{input}` is longer than the limit of {max_days} days")]
    TooLong {
        /// The whole input.
        input: String,
        /// The limit in days.
        max_days: u64,
    },
}

/// Parses a duration such as `30s`, `15m`, `1h`, `7d` or `1h30m`.
///
/// See the [module docs](self) for the grammar and the limit.
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    if input.is_empty() {
        return Err(DurationError::Empty);
    }
    let too_long = || DurationError::TooLong {
        input: input.to_owned(),
        max_days: MAX_DAYS,
    };
    let mut total: u64 = 0;
    // Index into UNITS of the next unit allowed: units must strictly decrease.
    let mut next_unit = 0usize;
    let mut number: Option<u64> = None;
    for c in input.chars() {
        if let Some(digit) = c.to_digit(10) {
            let n = number
                .unwrap_or(0)
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(digit)))
                .ok_or_else(too_long)?;
            number = Some(n);
            continue;
        }
        let Some(pos) = UNITS.iter().position(|(u, _)| *u == c) else {
            return Err(DurationError::UnknownUnit {
                input: input.to_owned(),
                found: c,
            });
        };
        let Some(n) = number.take() else {
            return Err(DurationError::MissingNumber {
                input: input.to_owned(),
            });
        };
        if pos < next_unit {
            return Err(DurationError::UnitOrder {
                input: input.to_owned(),
            });
        }
        next_unit = pos + 1;
        let seconds = UNITS.get(pos).map_or(1, |(_, s)| *s);
        total = n
            .checked_mul(seconds)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(too_long)?;
    }
    if number.is_some() {
        return Err(DurationError::MissingUnit {
            input: input.to_owned(),
        });
    }
    let duration = Duration::from_secs(total);
    if duration > MAX_DURATION {
        return Err(too_long());
    }
    Ok(duration)
}

/// Formats whole seconds of a duration in the grammar [`parse_duration`]
/// reads (`7d`, `1h30m`, `0s`); sub-second parts are dropped.
pub fn format_duration(duration: Duration) -> String {
    let mut rest = duration.as_secs();
    if rest == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, seconds) in UNITS {
        let n = rest / seconds;
        if n > 0 {
            out.push_str(&n.to_string());
            out.push(unit);
            rest %= seconds;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_units() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("007m"), Ok(Duration::from_secs(420)));
    }

    #[test]
    fn combined_units() {
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(
            parse_duration("2d3h4m5s"),
            Ok(Duration::from_secs(2 * 86_400 + 3 * 3600 + 4 * 60 + 5))
        );
        assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(5400)));
    }

    #[test]
    fn errors_are_distinct() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert!(matches!(
            parse_duration("30"),
            Err(DurationError::MissingUnit { .. })
        ));
        assert!(matches!(
            parse_duration("1h30"),
            Err(DurationError::MissingUnit { .. })
        ));
        assert!(matches!(
            parse_duration("h"),
            Err(DurationError::MissingNumber { .. })
        ));
        assert!(matches!(
            parse_duration("1hm"),
            Err(DurationError::MissingNumber { .. })
        ));
        assert!(matches!(
            parse_duration("3w"),
            Err(DurationError::UnknownUnit { found: 'w', .. })
        ));
        assert!(matches!(
            parse_duration("1H"),
            Err(DurationError::UnknownUnit { found: 'H', .. })
        ));
        for bad in ["-1h", "+1h", "1.5h", " 1h", "1h "] {
            assert!(
                matches!(parse_duration(bad), Err(DurationError::UnknownUnit { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_duration("30m1h"),
            Err(DurationError::UnitOrder { .. })
        ));
        assert!(matches!(
            parse_duration("1h1h"),
            Err(DurationError::UnitOrder { .. })
        ));
    }

    #[test]
    fn bounded() {
        assert_eq!(parse_duration("3650d"), Ok(MAX_DURATION));
        assert!(matches!(
            parse_duration("3650d1s"),
            Err(DurationError::TooLong { max_days: 3650, .. })
        ));
        assert!(matches!(
            parse_duration("99999999999999999999999s"),
            Err(DurationError::TooLong { .. })
        ));
        assert!(matches!(
            parse_duration("18446744073709551615d"),
            Err(DurationError::TooLong { .. })
        ));
    }

    #[test]
    fn format_round_trips() {
        for s in ["0s", "7d", "1h30m", "2d3h4m5s", "59s", "3650d"] {
            let d = parse_duration(s).unwrap();
            assert_eq!(format_duration(d), s);
        }
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1s");
    }

    #[test]
    fn error_messages_carry_a_hint() {
        let msg = parse_duration("30").unwrap_err().to_string();
        assert!(msg.contains("`30`") && msg.contains("hint:"), "{msg}");
    }
}
