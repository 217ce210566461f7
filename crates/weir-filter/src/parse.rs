//! Compiling a pattern's JSON value into the matcher tree: the grammar's
//! validation and every compile-time error message live here.

use serde_json::{Map, Value};

use crate::PatternError;
use crate::cidr::Cidr;
use crate::matcher::{FieldRule, Matcher, ObjectPattern, Range, lowercase};
use crate::wildcard::Wildcard;

/// Compiles a whole pattern; the top level must be a non-empty object.
pub(crate) fn compile(value: &Value) -> Result<ObjectPattern, PatternError> {
    let mut path = Path(Vec::new());
    match value {
        Value::Object(map) => object(map, &mut path),
        _ => Err(PatternError::new("pattern must be a JSON object")),
    }
}

/// The field names from the top down to where we are, for error messages.
struct Path<'a>(Vec<&'a str>);

impl Path<'_> {
    fn error(&self, reason: impl std::fmt::Display) -> PatternError {
        if self.0.is_empty() {
            PatternError::new(reason.to_string())
        } else {
            PatternError::new(format!("{}: {reason}", self.0.join(".")))
        }
    }
}

fn object<'a>(map: &'a Map<String, Value>, path: &mut Path<'a>) -> Result<ObjectPattern, PatternError> {
    if map.is_empty() {
        return Err(path.error("empty objects are not allowed"));
    }
    let mut pattern = ObjectPattern { fields: Vec::with_capacity(map.len()), any_of: Vec::new() };
    for (key, value) in map {
        if key == "$or" {
            pattern.any_of = any_of(value, path)?;
            continue;
        }
        path.0.push(key);
        let rule = match value {
            Value::Object(inner) => FieldRule::Nested(object(inner, path)?),
            Value::Array(items) => FieldRule::Leaf(leaf(items, path)?),
            _ => return Err(path.error("must be an object or an array of match values")),
        };
        path.0.pop();
        pattern.fields.push((key.clone(), rule));
    }
    Ok(pattern)
}

fn any_of<'a>(value: &'a Value, path: &mut Path<'a>) -> Result<Vec<ObjectPattern>, PatternError> {
    let Value::Array(items) = value else {
        return Err(path.error("$or must be an array of objects"));
    };
    if items.len() < 2 {
        return Err(path.error("$or needs at least 2 objects"));
    }
    items
        .iter()
        .map(|item| match item {
            Value::Object(map) => object(map, path),
            _ => Err(path.error("$or may only contain objects")),
        })
        .collect()
}

fn leaf(items: &[Value], path: &Path<'_>) -> Result<Vec<Matcher>, PatternError> {
    if items.is_empty() {
        return Err(path.error("empty arrays are not allowed"));
    }
    items
        .iter()
        .map(|item| match item {
            Value::Object(op) => operator(op).map_err(|reason| path.error(reason)),
            Value::Array(_) => {
                Err(path.error("a match value must be a string, number, true, false, null or an object"))
            }
            literal => Ok(Matcher::Exact(literal.clone())),
        })
        .collect()
}

/// One operator object such as `{"prefix": "a"}`; errors are bare reasons
/// that the caller prefixes with the path.
fn operator(op: &Map<String, Value>) -> Result<Matcher, String> {
    let (name, value) = single_key(op)?;
    Ok(match name {
        "prefix" => match value {
            Value::Object(inner) => Matcher::PrefixIgnoreCase(ignore_case_inner(inner, "prefix")?),
            _ => Matcher::Prefix(string(value, "prefix")?),
        },
        "suffix" => match value {
            Value::Object(inner) => Matcher::SuffixIgnoreCase(ignore_case_inner(inner, "suffix")?),
            _ => Matcher::Suffix(string(value, "suffix")?),
        },
        "equals-ignore-case" => Matcher::EqualsIgnoreCase(fold(&string(value, name)?)),
        "wildcard" => Matcher::Wildcard(Wildcard::parse(&string(value, name)?)?),
        "anything-but" => Matcher::AnythingBut(anything_but(value)?),
        "numeric" => Matcher::Numeric(numeric(value)?),
        "cidr" => Matcher::Cidr(Cidr::parse(&string(value, name)?)?),
        "exists" => match value {
            Value::Bool(present) => Matcher::Exists(*present),
            _ => return Err("exists value must be true or false".into()),
        },
        other => return Err(format!("unrecognized match type {other:?}")),
    })
}

fn single_key(op: &Map<String, Value>) -> Result<(&str, &Value), String> {
    let mut entries = op.iter();
    match (entries.next(), entries.next()) {
        (Some((name, value)), None) => Ok((name, value)),
        (None, _) => Err("empty match expression".into()),
        _ => Err("only one key allowed in a match expression".into()),
    }
}

/// The `{"equals-ignore-case": "s"}` inside `prefix` or `suffix`, folded.
fn ignore_case_inner(inner: &Map<String, Value>, outer: &str) -> Result<String, String> {
    match single_key(inner)? {
        ("equals-ignore-case", value) => Ok(fold(&string(value, "equals-ignore-case")?)),
        _ => Err(format!("{outer} takes a string or {{\"equals-ignore-case\": string}}")),
    }
}

fn anything_but(value: &Value) -> Result<Vec<Matcher>, String> {
    match value {
        Value::String(_) | Value::Number(_) => Ok(vec![Matcher::Exact(value.clone())]),
        Value::Array(items) => {
            let all_strings = items.iter().all(Value::is_string);
            let all_numbers = items.iter().all(Value::is_number);
            if items.is_empty() || !(all_strings || all_numbers) {
                return Err("anything-but list must be non-empty and all strings or all numbers".into());
            }
            Ok(items.iter().cloned().map(Matcher::Exact).collect())
        }
        Value::Object(op) => match single_key(op)? {
            ("prefix", v) => Ok(vec![Matcher::Prefix(non_empty(v, "anything-but prefix")?)]),
            ("suffix", v) => Ok(vec![Matcher::Suffix(non_empty(v, "anything-but suffix")?)]),
            ("equals-ignore-case", v) => {
                strings(v, "anything-but equals-ignore-case", |s| Ok(Matcher::EqualsIgnoreCase(fold(s))))
            }
            ("wildcard", v) => strings(v, "anything-but wildcard", |s| Ok(Matcher::Wildcard(Wildcard::parse(s)?))),
            (other, _) => Err(format!("unsupported anything-but pattern {other:?}")),
        },
        _ => Err("anything-but value must be a string, a number, a list, or an object".into()),
    }
}

/// A string or a non-empty list of strings, each compiled by `make`.
fn strings(value: &Value, what: &str, make: impl Fn(&str) -> Result<Matcher, String>) -> Result<Vec<Matcher>, String> {
    match value {
        Value::String(s) => Ok(vec![make(s)?]),
        Value::Array(items) if !items.is_empty() => {
            items.iter().map(|item| make(&string(item, what)?)).collect::<Result<_, _>>()
        }
        _ => Err(format!("{what} value must be a string or a non-empty list of strings")),
    }
}

fn numeric(value: &Value) -> Result<Range, String> {
    let Value::Array(terms) = value else {
        return Err("numeric value must be an array".into());
    };
    let comparison = |i: usize| -> Result<(&str, f64), String> {
        let op = terms[i].as_str().ok_or_else(|| format!("numeric operator must be a string, not {}", terms[i]))?;
        let bound = match &terms[i + 1] {
            Value::Number(n) => n.as_f64().ok_or_else(|| format!("numeric value {n} is out of range"))?,
            other => return Err(format!("value of {op} must be a number, not {other}")),
        };
        Ok((op, bound))
    };
    match terms.len() {
        2 => {
            let (op, x) = comparison(0)?;
            Ok(match op {
                "=" => Range { lower: Some((x, true)), upper: Some((x, true)) },
                ">" => Range { lower: Some((x, false)), upper: None },
                ">=" => Range { lower: Some((x, true)), upper: None },
                "<" => Range { lower: None, upper: Some((x, false)) },
                "<=" => Range { lower: None, upper: Some((x, true)) },
                other => return Err(format!("unrecognized numeric operator {other:?}")),
            })
        }
        4 => {
            let (low_op, low) = comparison(0)?;
            let (high_op, high) = comparison(2)?;
            let lower = match low_op {
                ">" => (low, false),
                ">=" => (low, true),
                other => return Err(format!("numeric range must start with > or >=, not {other:?}")),
            };
            let upper = match high_op {
                "<" => (high, false),
                "<=" => (high, true),
                other => return Err(format!("numeric range must end with < or <=, not {other:?}")),
            };
            if low >= high {
                return Err(format!("numeric range lower bound {low} must be below upper bound {high}"));
            }
            Ok(Range { lower: Some(lower), upper: Some(upper) })
        }
        _ => Err("numeric takes one comparison or a lower and an upper bound".into()),
    }
}

fn string(value: &Value, what: &str) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        _ => Err(format!("{what} value must be a string")),
    }
}

fn non_empty(value: &Value, what: &str) -> Result<String, String> {
    let s = string(value, what)?;
    if s.is_empty() {
        return Err(format!("{what} value must not be empty"));
    }
    Ok(s)
}

fn fold(s: &str) -> String {
    lowercase(s).collect()
}
