//! JSON output byte-compatible with Go's `encoding/json.Marshal`: compact,
//! struct fields in declaration order, `<`, `>`, `&`, U+2028 and U+2029
//! escaped as `\u003c`-style sequences, floats formatted as Go formats them.
//! cosign writes every payload and envelope this way, and signatures cover
//! those exact bytes.

use std::io;

use serde::Serialize;
use serde_json::Value;

/// serde_json formatter that escapes and formats like Go.
struct GoFormatter;

impl serde_json::ser::Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let escaped = match c {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            writer.write_all(fragment.get(start..i).unwrap_or_default().as_bytes())?;
            writer.write_all(escaped.as_bytes())?;
            start = i + c.len_utf8();
        }
        writer.write_all(fragment.get(start..).unwrap_or_default().as_bytes())
    }

    fn write_f64<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        writer.write_all(go_float(value).as_bytes())
    }

    fn write_f32<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        writer.write_all(go_float(f64::from(value)).as_bytes())
    }
}

/// Formats a float as Go's `encoding/json` does: shortest round-trip
/// digits, plain notation for 1e-6 <= |f| < 1e21, else `1e+21` / `1e-7`.
pub(crate) fn go_float(f: f64) -> String {
    let abs = f.abs();
    if abs == 0.0 || (1e-6..1e21).contains(&abs) {
        return format!("{f}");
    }
    let s = format!("{f:e}");
    match s.split_once('e') {
        Some((mantissa, exp)) if exp.starts_with('-') => format!("{mantissa}e{exp}"),
        Some((mantissa, exp)) => format!("{mantissa}e+{exp}"),
        None => s,
    }
}

/// Serializes a JSON value with object keys sorted at every level, as Go
/// marshals `map[string]interface{}` (independent of serde_json's
/// `preserve_order` feature).
pub(crate) struct Sorted<'a>(pub(crate) &'a Value);

impl Serialize for Sorted<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                s.collect_map(entries.into_iter().map(|(k, v)| (k, Sorted(v))))
            }
            Value::Array(items) => s.collect_seq(items.iter().map(Sorted)),
            other => other.serialize(s),
        }
    }
}

/// Serializes `value` compactly, Go-style. Fails only if a `Serialize`
/// impl fails (non-string map keys), which rsign's types never do.
pub(crate) fn try_to_vec<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(256);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, GoFormatter);
    value.serialize(&mut ser)?;
    Ok(out)
}

/// [`try_to_vec`] for rsign's own types, whose serialization cannot fail.
pub(crate) fn to_vec<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    // Writing to a Vec cannot fail, and rsign's types have only string map
    // keys and no fallible Serialize impls.
    try_to_vec(value).expect("serializing rsign's JSON types cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_float_formats_like_go() {
        assert_eq!(go_float(8.314), "8.314");
        assert_eq!(go_float(3.0), "3");
        assert_eq!(go_float(1e21), "1e+21");
        assert_eq!(go_float(1.5e-7), "1.5e-7");
        assert_eq!(go_float(1e-6), "0.000001");
        assert_eq!(go_float(123456789e12), "123456789000000000000");
    }

    #[test]
    fn go_escapes_html_characters() {
        let v = serde_json::json!({"x": "<&>\u{2028}\"\n"});
        let out = to_vec(&Sorted(&v));
        assert_eq!(out, br#"{"x":"\u003c\u0026\u003e\u2028\"\n"}"#);
    }
}
