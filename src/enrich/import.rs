//! Importing the asset inventory and the identity directory from CSV or JSON
//! exports. Pure parsing: the caller (`cordon assets import FILE`) stores the
//! result with `Store::upsert_assets` / `upsert_identities`, so a file with
//! one bad row imports nothing.
//!
//! Both formats have the same vocabulary. Known columns/keys fill the typed
//! fields; every other non-empty column (`crowdstrike_aid`, `ec2_instance_id`,
//! `okta_user_id`, …) goes into `attributes`, which is where executors find
//! vendor ids. List fields (`ips`, `owners`) are `;`- or `|`-separated in
//! CSV and arrays (or such strings) in JSON. Errors name the file, the line
//! and the field, because whoever fixes them has the file open in an editor.

use crate::store::{Asset, Identity};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;

/// A file that cannot be imported, and where it goes wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ImportError {
    /// The label the caller gave (usually the path).
    pub file: String,
    /// 1-based line of the offending CSV row or JSON object.
    pub line: usize,
    /// The column or key, when one is to blame.
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(
                f,
                "{}:{}: {}: {}",
                self.file, self.line, field, self.message
            ),
            None => write!(f, "{}:{}: {}", self.file, self.line, self.message),
        }
    }
}

/// One cell or value of a record, before it is given a meaning.
enum Cell<'a> {
    Text(&'a str),
    Json(&'a Value),
}

impl Cell<'_> {
    /// The value as one string; `None` for empty / null.
    fn scalar(&self) -> Result<Option<String>, String> {
        let s = match self {
            Cell::Text(t) => t.trim().to_owned(),
            Cell::Json(Value::Null) => String::new(),
            Cell::Json(Value::String(s)) => s.trim().to_owned(),
            Cell::Json(Value::Number(n)) => n.to_string(),
            Cell::Json(Value::Bool(b)) => b.to_string(),
            Cell::Json(_) => return Err("expected a single value, not a list or object".into()),
        };
        Ok(if s.is_empty() { None } else { Some(s) })
    }

    /// The value as a list: `a;b|c` in text, an array or such a string in JSON.
    fn list(&self) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        match self {
            Cell::Json(Value::Array(items)) => {
                for item in items {
                    if let Some(s) = Cell::Json(item).scalar()? {
                        out.push(s);
                    }
                }
            }
            other => {
                if let Some(s) = other.scalar()? {
                    out.extend(
                        s.split([';', '|'])
                            .map(str::trim)
                            .filter(|x| !x.is_empty())
                            .map(str::to_owned),
                    );
                }
            }
        }
        out.dedup();
        Ok(out)
    }

    fn boolean(&self) -> Result<bool, String> {
        match self.scalar()?.map(|s| s.to_ascii_lowercase()).as_deref() {
            None | Some("false" | "no" | "n" | "0") => Ok(false),
            Some("true" | "yes" | "y" | "1") => Ok(true),
            Some(other) => Err(format!("`{other}` is not true/false (also yes/no, 1/0)")),
        }
    }
}

/// Sets one field of an asset. Unknown keys become attributes.
fn set_asset(a: &mut Asset, key: &str, cell: Cell<'_>) -> Result<(), String> {
    match key {
        "hostname" => a.hostname = cell.scalar()?.unwrap_or_default().to_lowercase(),
        "ips" => {
            let ips = cell.list()?;
            for ip in &ips {
                ip.parse::<IpAddr>()
                    .map_err(|_| format!("`{ip}` is not an IP address"))?;
            }
            a.ips = ips;
        }
        "tier" => a.tier = cell.scalar()?,
        "environment" => a.environment = cell.scalar()?,
        "business_service" => a.business_service = cell.scalar()?,
        "owners" => a.owners = cell.list()?,
        "attributes" => set_attributes(&mut a.attributes, cell)?,
        other => {
            if let Some(v) = cell.scalar()? {
                a.attributes.insert(other.to_owned(), v);
            }
        }
    }
    Ok(())
}

/// Sets one field of an identity. Unknown keys become attributes.
fn set_identity(i: &mut Identity, key: &str, cell: Cell<'_>) -> Result<(), String> {
    match key {
        "username" => i.username = cell.scalar()?.unwrap_or_default().to_lowercase(),
        "email" => i.email = cell.scalar()?,
        "department" => i.department = cell.scalar()?,
        "privileged" => i.privileged = cell.boolean()?,
        "manager" => i.manager = cell.scalar()?,
        "attributes" => set_attributes(&mut i.attributes, cell)?,
        other => {
            if let Some(v) = cell.scalar()? {
                i.attributes.insert(other.to_owned(), v);
            }
        }
    }
    Ok(())
}

/// A nested `attributes` object (JSON only).
fn set_attributes(into: &mut BTreeMap<String, String>, cell: Cell<'_>) -> Result<(), String> {
    match cell {
        Cell::Json(Value::Object(map)) => {
            for (k, v) in map {
                if let Some(s) = Cell::Json(v).scalar().map_err(|e| format!("{k}: {e}"))? {
                    into.insert(k.clone(), s);
                }
            }
            Ok(())
        }
        Cell::Json(Value::Null) => Ok(()),
        _ => Err("expected an object of vendor ids".into()),
    }
}

/// Parses an asset inventory export (CSV with a header row, or a JSON array
/// of objects). Every asset needs a `hostname`; hostnames are unique.
pub fn parse_assets(path_label: &str, bytes: &[u8]) -> Result<Vec<Asset>, ImportError> {
    parse_records(path_label, bytes, "hostname", set_asset, |a: &Asset| {
        a.hostname.clone()
    })
}

/// Parses an identity directory export (CSV or JSON). Every identity needs a
/// `username`; usernames are unique.
pub fn parse_identities(path_label: &str, bytes: &[u8]) -> Result<Vec<Identity>, ImportError> {
    parse_records(
        path_label,
        bytes,
        "username",
        set_identity,
        |i: &Identity| i.username.clone(),
    )
}

fn parse_records<T: Default>(
    file: &str,
    bytes: &[u8],
    key_field: &str,
    set: fn(&mut T, &str, Cell<'_>) -> Result<(), String>,
    key_of: fn(&T) -> String,
) -> Result<Vec<T>, ImportError> {
    let err = |line: usize, field: Option<&str>, message: String| ImportError {
        file: file.to_owned(),
        line,
        field: field.map(str::to_owned),
        message,
    };
    // (record, line) pairs, from either format.
    let mut out: Vec<(T, usize)> = Vec::new();
    if is_json(file, bytes) {
        let text = std::str::from_utf8(bytes)
            .map_err(|e| err(1, None, format!("not UTF-8 text ({e})")))?;
        let values: Vec<Value> = serde_json::from_str(text).map_err(|e| {
            err(
                e.line().max(1),
                None,
                format!("invalid JSON array of objects: {e}"),
            )
        })?;
        let lines = element_lines(text);
        for (n, v) in values.iter().enumerate() {
            let line = lines.get(n).copied().unwrap_or(1);
            let Value::Object(map) = v else {
                return Err(err(
                    line,
                    None,
                    format!("element {} is not an object", n + 1),
                ));
            };
            let mut rec = T::default();
            for (k, v) in map {
                set(&mut rec, k, Cell::Json(v)).map_err(|m| err(line, Some(k), m))?;
            }
            out.push((rec, line));
        }
    } else {
        let mut rdr = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .comment(Some(b'#'))
            .from_reader(bytes);
        let headers: Vec<String> = rdr
            .headers()
            .map_err(|e| err(1, None, format!("cannot read the header row: {e}")))?
            .iter()
            .map(|h| h.trim().to_lowercase())
            .collect();
        if !headers.iter().any(|h| h == key_field) {
            return Err(err(
                1,
                Some(key_field),
                format!("the header row has no `{key_field}` column"),
            ));
        }
        for row in rdr.records() {
            let row = row.map_err(|e| {
                let line = e.position().map(|p| line_at(bytes, p.byte())).unwrap_or(1);
                err(line, None, format!("unreadable CSV row: {e}"))
            })?;
            // From the byte offset: the reader's own line count skips
            // comment lines, and the example files start with comments.
            let line = row
                .position()
                .map(|p| line_at(bytes, p.byte()))
                .unwrap_or(1);
            let mut rec = T::default();
            for (h, cell) in headers.iter().zip(row.iter()) {
                set(&mut rec, h, Cell::Text(cell)).map_err(|m| err(line, Some(h), m))?;
            }
            out.push((rec, line));
        }
    }
    let mut first_seen: HashMap<String, usize> = HashMap::new();
    let mut records = Vec::with_capacity(out.len());
    for (rec, line) in out {
        let key = key_of(&rec);
        if key.is_empty() {
            return Err(err(line, Some(key_field), "is missing or empty".into()));
        }
        if let Some(prev) = first_seen.insert(key.clone(), line) {
            return Err(err(
                line,
                Some(key_field),
                format!("`{key}` already appears on line {prev}"),
            ));
        }
        records.push(rec);
    }
    Ok(records)
}

/// The 1-based line of the record starting at byte `offset`. The reader
/// reports the offset before any comment lines it skipped, so those are
/// stepped over here.
fn line_at(bytes: &[u8], offset: u64) -> usize {
    let mut pos = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    let mut line = bytes[..pos].iter().filter(|b| **b == b'\n').count() + 1;
    while bytes[pos..].starts_with(b"#") {
        match bytes[pos..].iter().position(|b| *b == b'\n') {
            Some(i) => {
                pos += i + 1;
                line += 1;
            }
            None => break,
        }
    }
    line
}

/// JSON by extension, else by the first non-blank byte.
fn is_json(file: &str, bytes: &[u8]) -> bool {
    let lower = file.to_ascii_lowercase();
    if lower.ends_with(".json") {
        return true;
    }
    if lower.ends_with(".csv") {
        return false;
    }
    bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'[' || *b == b'{')
}

/// The 1-based line on which each element of a top-level JSON array starts.
/// serde_json does not report positions of values it parsed successfully, so
/// this small scanner (strings and nesting only; the text is already known to
/// be valid JSON) finds them for error messages.
fn element_lines(text: &str) -> Vec<usize> {
    let mut lines = Vec::new();
    let (mut depth, mut line) = (0usize, 1usize);
    let (mut in_str, mut escaped, mut expect_elem) = (false, false, false);
    for c in text.chars() {
        if c == '\n' {
            line += 1;
        }
        if in_str {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            continue;
        }
        if depth == 1 && expect_elem && !c.is_whitespace() && c != ']' {
            lines.push(line);
            expect_elem = false;
        }
        match c {
            '"' => in_str = true,
            '[' | '{' => {
                depth += 1;
                if depth == 1 {
                    expect_elem = true;
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            ',' if depth == 1 => expect_elem = true,
            _ => {}
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_element_lines_are_found() {
        let text = "[\n  {\"a\": \"[x]\"},\n  {\n \"b\": 1}\n]";
        assert_eq!(element_lines(text), vec![2, 3]);
    }
}
