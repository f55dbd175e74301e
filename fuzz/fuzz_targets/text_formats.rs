//! The CSV and JSV writers of evo-http on arbitrary values: they never panic; the CSV is a
//! header row and one data row, each with exactly one cell per column, every text cell
//! reading back as the text written; a JSV string reads back as the text written; JSV
//! brackets and quotes balance.
#![no_main]

use arbitrary::Arbitrary;
use evo_http::text_formats::{OrderedValue, to_csv, to_jsv};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Value {
    Null,
    Bool(bool),
    Number(i64),
    Text(String),
    List(Vec<Value>),
    Object(Vec<(String, Value)>),
}

impl Value {
    /// The value as the writers see it. Objects that are not dictionaries are DTOs, whose
    /// property names are code identifiers: those names keep only their alphanumerics. A
    /// property named in `dictionaries` holds a dictionary, whose keys are data (any text).
    fn ordered(&self, depth: usize, is_dictionary: bool, dictionaries: &[&str]) -> OrderedValue {
        if depth > 8 {
            return OrderedValue::Null;
        }
        match self {
            Self::Null => OrderedValue::Null,
            Self::Bool(flag) => OrderedValue::Bool(*flag),
            Self::Number(number) => OrderedValue::Number(number.to_string()),
            Self::Text(text) => OrderedValue::Text(text.clone()),
            Self::List(items) => {
                OrderedValue::List(items.iter().map(|v| v.ordered(depth + 1, false, dictionaries)).collect())
            }
            Self::Object(properties) => {
                let mut out: Vec<(String, OrderedValue)> = Vec::new();
                for (key, value) in properties {
                    let key = if is_dictionary { key.clone() } else { identifier(key) };
                    if key.is_empty() || out.iter().any(|(k, _)| *k == key) {
                        continue;
                    }
                    let child = value.ordered(depth + 1, dictionaries.contains(&key.as_str()), dictionaries);
                    out.push((key, child));
                }
                OrderedValue::Object(out)
            }
        }
    }
}

fn identifier(name: &str) -> String {
    name.chars().filter(|c| c.is_alphanumeric()).collect()
}

#[derive(Debug, Arbitrary)]
struct Input {
    /// The top-level object's properties (the DTO), in order.
    properties: Vec<(String, Value)>,
    /// Which of them are dictionaries.
    dictionaries: Vec<u8>,
    /// A lone string for the JSV string check.
    text: String,
}

/// RFC 4180 reading of CSV text: rows of cells, each row ended by CRLF.
fn read_csv(csv: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut chars = csv.chars().peekable();
    let mut quoted = false;
    let mut at_cell_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cell.push('"');
                } else {
                    quoted = false;
                }
            } else {
                cell.push(c);
            }
            continue;
        }
        match c {
            '"' if at_cell_start => {
                quoted = true;
                at_cell_start = false;
            }
            '"' => panic!("a bare quote inside an unquoted cell: {csv:?}"),
            ',' => {
                row.push(std::mem::take(&mut cell));
                at_cell_start = true;
            }
            '\r' => {
                assert_eq!(chars.next(), Some('\n'), "CR without LF outside quotes: {csv:?}");
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
                at_cell_start = true;
            }
            '\n' => panic!("LF without CR outside quotes: {csv:?}"),
            other => {
                cell.push(other);
                at_cell_start = false;
            }
        }
    }
    assert!(!quoted, "an unterminated quoted cell: {csv:?}");
    assert!(cell.is_empty() && row.is_empty(), "the last line lacks its CRLF: {csv:?}");
    rows
}

/// Reads a JSV scalar string back: quoted ones lose their quotes and undouble inner quotes.
fn read_jsv_string(jsv: &str) -> String {
    match jsv.strip_prefix('"').and_then(|rest| rest.strip_suffix('"')) {
        Some(inner) if jsv.len() >= 2 => {
            assert!(!inner.replace("\"\"", "").contains('"'), "an undoubled quote: {jsv:?}");
            inner.replace("\"\"", "\"")
        }
        _ => jsv.to_owned(),
    }
}

/// Checks brackets balance outside quoted strings and quotes close.
fn check_jsv_structure(jsv: &str) {
    let mut depth: Vec<char> = Vec::new();
    let mut chars = jsv.chars().peekable();
    let mut previous: Option<char> = None;
    while let Some(c) = chars.next() {
        match c {
            // A quoted string starts a value or a key: after nothing, `[`, `{`, `,` or `:`.
            '"' if matches!(previous, None | Some('[' | '{' | ',' | ':')) => loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                    }
                    Some('"') => break,
                    Some(_) => {}
                    None => panic!("an unterminated JSV string: {jsv:?}"),
                }
            },
            '[' | '{' => depth.push(c),
            ']' => assert_eq!(depth.pop(), Some('['), "unbalanced ]: {jsv:?}"),
            '}' => assert_eq!(depth.pop(), Some('{'), "unbalanced }}: {jsv:?}"),
            _ => {}
        }
        previous = Some(c);
    }
    assert!(depth.is_empty(), "unclosed brackets: {jsv:?}");
}

fuzz_target!(|input: Input| {
    // The DTO: distinct, non-empty identifier names.
    let mut names: Vec<String> = Vec::new();
    for (name, _) in &input.properties {
        let name = identifier(name);
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    let columns: Vec<&str> = names.iter().map(String::as_str).collect();
    let dictionaries: Vec<&str> = input
        .dictionaries
        .iter()
        .filter_map(|index| columns.get(usize::from(*index) % columns.len().max(1)).copied())
        .collect();
    let mut properties: Vec<(String, OrderedValue)> = Vec::new();
    for (name, value) in &input.properties {
        let name = identifier(name);
        if name.is_empty() || properties.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let value = value.ordered(0, dictionaries.contains(&name.as_str()), &dictionaries);
        properties.push((name, value));
    }
    let object = OrderedValue::Object(properties.clone());

    let csv = to_csv(std::slice::from_ref(&object), &columns, &dictionaries);
    let rows = read_csv(&csv);
    assert_eq!(rows.len(), 2, "a header and one data row: {csv:?}");
    assert_eq!(rows[0].len(), columns.len().max(1), "one header cell per column: {csv:?}");
    assert_eq!(rows[1].len(), columns.len().max(1), "one data cell per column: {csv:?}");
    for (index, (_, value)) in properties.iter().enumerate() {
        if let OrderedValue::Text(text) = value {
            assert_eq!(&rows[1][index], text, "a text cell reads back: {csv:?}");
        }
        if let OrderedValue::List(_) | OrderedValue::Object(_) = value {
            check_jsv_structure(&rows[1][index]);
        }
    }

    let jsv = to_jsv(&object, &dictionaries);
    check_jsv_structure(&jsv);

    let text = OrderedValue::Text(input.text.clone());
    let written = to_jsv(&text, &[]);
    assert_eq!(read_jsv_string(&written), input.text, "a JSV string reads back: {written:?}");
});
