//! ServiceStack's CSV and JSV text formats, written from any `Serialize` DTO.
//!
//! A DTO is first serialized to JSON and read back into an [`OrderedValue`], which keeps the
//! properties in declaration order (serde_json's own `Value` sorts them).
//!
//! JSV (<https://docs.servicestack.net/jsv-format>): objects `{Name:value,...}`, arrays
//! `[a,b]`, strings unquoted unless they hold one of `[ ] { } , "` or a line break, then
//! wrapped in `"` with inner `"` doubled; an empty string is `""`; null properties are left
//! out; booleans `true`/`false`. Property names are PascalCase, as ServiceStack's text
//! serializers write C# property names; dictionary keys are written as given.
//!
//! CSV: a header row of PascalCase property names, one data row, CRLF line ends; `True` /
//! `False`; null is an empty cell; a text cell is quoted when it holds `,` `"` CR or LF; a
//! nested object or array is its JSV text, always in a quoted cell with inner quotes doubled.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A JSON value that keeps object properties in their written order.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderedValue {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A number, as JSON wrote it.
    Number(String),
    /// A string.
    Text(String),
    /// An array.
    List(Vec<OrderedValue>),
    /// An object, properties in order.
    Object(Vec<(String, OrderedValue)>),
}

impl OrderedValue {
    /// The value of `value` serialized as JSON, properties in declaration order.
    pub fn of<T: serde::Serialize>(value: &T) -> Result<Self, serde_json::Error> {
        let json = serde_json::to_vec(value)?;
        serde_json::from_slice(&json)
    }

    /// The property `name` of an object.
    pub fn property(&self, name: &str) -> Option<&OrderedValue> {
        match self {
            Self::Object(properties) => properties.iter().find(|(key, _)| key == name).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Written back as JSON, properties in their order (a JSON line, a sample on a metadata page).
impl serde::Serialize for OrderedValue {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            Self::Null => serializer.serialize_unit(),
            Self::Bool(value) => serializer.serialize_bool(*value),
            Self::Number(text) => match text.parse::<serde_json::Number>() {
                Ok(number) => number.serialize(serializer),
                Err(_) => serializer.serialize_str(text),
            },
            Self::Text(text) => serializer.serialize_str(text),
            Self::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Self::Object(properties) => {
                let mut map = serializer.serialize_map(Some(properties.len()))?;
                for (key, value) in properties {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for OrderedValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedVisitor;

        impl<'de> Visitor<'de> for OrderedVisitor {
            type Value = OrderedValue;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<OrderedValue, E> {
                Ok(OrderedValue::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<OrderedValue, E> {
                Ok(OrderedValue::Null)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<OrderedValue, E> {
                Ok(OrderedValue::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<OrderedValue, E> {
                Ok(OrderedValue::Number(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<OrderedValue, E> {
                Ok(OrderedValue::Number(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<OrderedValue, E> {
                Ok(OrderedValue::Number(v.to_string()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OrderedValue, E> {
                Ok(OrderedValue::Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<OrderedValue, E> {
                Ok(OrderedValue::Text(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OrderedValue, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(OrderedValue::List(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedValue, A::Error> {
                let mut properties = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, OrderedValue>()? {
                    properties.push((key, value));
                }
                Ok(OrderedValue::Object(properties))
            }
        }

        deserializer.deserialize_any(OrderedVisitor)
    }
}

/// `dialState` → `DialState`.
pub fn pascal_case(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Writes `value` as JSV. Objects that are DTOs get PascalCase names; `dictionaries` names
/// the properties whose value is a dictionary, whose keys are data and are kept as given.
pub fn to_jsv(value: &OrderedValue, dictionaries: &[&str]) -> String {
    let mut out = String::new();
    write_jsv(&mut out, value, dictionaries, false);
    out
}

fn write_jsv(out: &mut String, value: &OrderedValue, dictionaries: &[&str], is_dictionary: bool) {
    match value {
        OrderedValue::Null => {}
        OrderedValue::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        OrderedValue::Number(number) => out.push_str(number),
        OrderedValue::Text(text) => push_jsv_string(out, text),
        OrderedValue::List(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_jsv(out, item, dictionaries, false);
            }
            out.push(']');
        }
        OrderedValue::Object(properties) => {
            out.push('{');
            let mut first = true;
            for (name, property) in properties {
                if *property == OrderedValue::Null {
                    continue;
                }
                if !first {
                    out.push(',');
                }
                first = false;
                if is_dictionary {
                    push_jsv_key(out, name);
                } else {
                    out.push_str(&pascal_case(name));
                }
                out.push(':');
                write_jsv(out, property, dictionaries, dictionaries.contains(&name.as_str()));
            }
            out.push('}');
        }
    }
}

fn needs_jsv_quotes(text: &str) -> bool {
    text.is_empty() || text.contains(['[', ']', '{', '}', ',', '"', '\r', '\n'])
}

fn push_jsv_string(out: &mut String, text: &str) {
    if needs_jsv_quotes(text) {
        push_quoted(out, text);
    } else {
        out.push_str(text);
    }
}

fn push_jsv_key(out: &mut String, key: &str) {
    // A key also ends at its ':'; quote such keys so they read back whole.
    if needs_jsv_quotes(key) || key.contains(':') {
        push_quoted(out, key);
    } else {
        out.push_str(key);
    }
}

fn push_quoted(out: &mut String, text: &str) {
    out.push('"');
    out.push_str(&text.replace('"', "\"\""));
    out.push('"');
}

/// Writes objects as CSV: a header row of `columns` in PascalCase, then one data row each.
pub fn to_csv(rows: &[OrderedValue], columns: &[&str], dictionaries: &[&str]) -> String {
    let mut out = String::new();
    for (index, column) in columns.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        push_csv_text(&mut out, &pascal_case(column));
    }
    out.push_str("\r\n");
    for value in rows {
        push_csv_row(&mut out, value, columns, dictionaries);
    }
    out
}

fn push_csv_row(out: &mut String, value: &OrderedValue, columns: &[&str], dictionaries: &[&str]) {
    for (index, column) in columns.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        match value.property(column) {
            None | Some(OrderedValue::Null) => {}
            Some(OrderedValue::Bool(flag)) => out.push_str(if *flag { "True" } else { "False" }),
            Some(OrderedValue::Number(number)) => out.push_str(number),
            Some(OrderedValue::Text(text)) => push_csv_text(out, text),
            Some(nested) => {
                let mut jsv = String::new();
                write_jsv(&mut jsv, nested, dictionaries, dictionaries.contains(column));
                push_quoted(out, &jsv);
            }
        }
    }
    out.push_str("\r\n");
}

fn push_csv_text(out: &mut String, text: &str) {
    if text.contains([',', '"', '\r', '\n']) {
        push_quoted(out, text);
    } else {
        out.push_str(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Sample {
        zebra: &'static str,
        apple: Option<&'static str>,
        flag: bool,
        items: Vec<Item>,
        data: std::collections::BTreeMap<&'static str, &'static str>,
    }

    #[derive(Serialize)]
    struct Item {
        name: &'static str,
    }

    fn sample() -> OrderedValue {
        OrderedValue::of(&Sample {
            zebra: "a, \"b\"",
            apple: None,
            flag: true,
            items: vec![Item { name: "x" }, Item { name: "y{z}" }],
            data: [("k:1", "v"), ("e", "")].into_iter().collect(),
        })
        .unwrap()
    }

    #[test]
    fn ordered_value_keeps_declaration_order() {
        let OrderedValue::Object(properties) = sample() else { panic!("not an object") };
        let names: Vec<_> = properties.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["zebra", "apple", "flag", "items", "data"]);
    }

    #[test]
    fn jsv_escapes_like_servicestack() {
        assert_eq!(
            to_jsv(&sample(), &["data"]),
            r#"{Zebra:"a, ""b""",Flag:true,Items:[{Name:x},{Name:"y{z}"}],Data:{e:"","k:1":v}}"#
        );
        assert_eq!(to_jsv(&OrderedValue::Text("Hello World!".into()), &[]), "Hello World!");
        assert_eq!(to_jsv(&OrderedValue::Text("2\" x 1\"".into()), &[]), r#""2"" x 1""""#);
    }

    #[test]
    fn csv_has_a_header_and_one_row_with_crlf() {
        let csv = to_csv(&[sample()], &["zebra", "apple", "flag", "items", "data"], &["data"]);
        assert_eq!(
            csv,
            "Zebra,Apple,Flag,Items,Data\r\n\
             \"a, \"\"b\"\"\",,True,\"[{Name:x},{Name:\"\"y{z}\"\"}]\",\"{e:\"\"\"\",\"\"k:1\"\":v}\"\r\n"
        );
    }
}
