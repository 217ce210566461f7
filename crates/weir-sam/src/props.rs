//! Reading the resolved properties of one resource into typed values.
//!
//! Owns: [`Props`], which reads a resolved mapping key by key with type and range checks
//! (problems name the property path and line), remembers which keys were read, and at the end
//! warns about every key nobody read, so no property is ignored silently.
//! Never: evaluates intrinsics (it reads values that are already resolved).

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use crate::error::{Diagnostics, Problem};
use crate::node::{Map, Node, Value};

static EMPTY_MAP: Map = Map { entries: Vec::new() };

/// A reader over one resolved mapping (`Properties`, or a nested mapping of it).
pub(crate) struct Props<'a> {
    path: String,
    map: &'a Map,
    line: Option<u32>,
    /// What this mapping is, for messages: `AWS::SQS::Queue`, `SQS event`, …
    owner: String,
    read: Vec<&'a str>,
    diags: &'a Diagnostics,
}

impl<'a> Props<'a> {
    /// A reader over `node` (absent = empty mapping; not a mapping = a problem, then empty).
    pub fn new(
        path: impl Into<String>,
        node: Option<&'a Node>,
        owner: impl Into<String>,
        diags: &'a Diagnostics,
    ) -> Self {
        let path = path.into();
        let (map, line) = match node {
            None => (&EMPTY_MAP, None),
            Some(node) => match node.as_map() {
                Some(map) => (map, node.line),
                None => {
                    diags.error(Problem::new(&path, node.line, format!("must be a mapping, got {}", node.kind())));
                    (&EMPTY_MAP, node.line)
                }
            },
        };
        diags.record_line(&path, line);
        for entry in &map.entries {
            diags.record_line(&format!("{path}.{}", entry.key), entry.key_line.or(entry.value.line));
        }
        Self { path, map, line, owner: owner.into(), read: Vec::new(), diags }
    }

    pub fn diags(&self) -> &'a Diagnostics {
        self.diags
    }

    pub fn path_of(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    pub fn has(&self, key: &str) -> bool {
        self.map.get(key).is_some_and(|node| node.value != Value::Null)
    }

    /// A problem located at `key` (its line, or this mapping's).
    pub fn error(&self, key: &str, message: impl Into<String>) {
        let line = self.line_of(key);
        self.diags.error(Problem::new(self.path_of(key), line, message));
    }

    /// A problem located at this mapping.
    pub fn error_here(&self, message: impl Into<String>) {
        self.diags.error(Problem::new(&self.path, self.line, message));
    }

    pub fn warn(&self, key: &str, message: impl std::fmt::Display) {
        self.diags.warn(&self.path_of(key), self.line_of(key), message);
    }

    fn line_of(&self, key: &str) -> Option<u32> {
        self.map.entry(key).and_then(|entry| entry.key_line.or(entry.value.line)).or(self.line)
    }

    /// The value of `key`, marking it read (null counts as absent).
    pub fn node(&mut self, key: &str) -> Option<&'a Node> {
        let entry = self.map.entry(key)?;
        self.read.push(entry.key.as_str());
        Some(&entry.value).filter(|node| node.value != Value::Null)
    }

    pub fn string(&mut self, key: &str) -> Option<String> {
        let node = self.node(key)?;
        let text = node.scalar_string();
        if text.is_none() {
            self.error(key, format!("{key} must be a string, got {}", node.kind()));
        }
        text
    }

    pub fn required_string(&mut self, key: &str, why: &str) -> Option<String> {
        let value = self.string(key);
        if value.is_none() && !self.has(key) {
            self.error_here(format!("{key} is required{why}"));
        }
        value
    }

    /// An integer in `range`; `unit` is appended to range messages (`" seconds"`, `" MB"`).
    pub fn integer(&mut self, key: &str, range: RangeInclusive<i64>, unit: &str) -> Option<i64> {
        let node = self.node(key)?;
        let Some(number) = integer_of(node) else {
            self.error(key, format!("{key} must be an integer, got {}", describe(node)));
            return None;
        };
        if !range.contains(&number) {
            self.error(key, format!("{key} must be between {} and {}{unit}, got {number}", range.start(), range.end()));
            return None;
        }
        Some(number)
    }

    pub fn u32(&mut self, key: &str, range: RangeInclusive<u32>, unit: &str) -> Option<u32> {
        let range = i64::from(*range.start())..=i64::from(*range.end());
        self.integer(key, range, unit).and_then(|number| u32::try_from(number).ok())
    }

    pub fn bool(&mut self, key: &str) -> Option<bool> {
        let node = self.node(key)?;
        let value = match &node.value {
            Value::Bool(flag) => Some(*flag),
            Value::Str(text) if text.eq_ignore_ascii_case("true") => Some(true),
            Value::Str(text) if text.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        };
        if value.is_none() {
            self.error(key, format!("{key} must be true or false, got {}", describe(node)));
        }
        value
    }

    /// A nested mapping, read by its own [`Props`] (whose unread keys it reports itself).
    pub fn object(&mut self, key: &str, owner: &str) -> Option<Props<'a>> {
        let node = self.node(key)?;
        let path = self.path_of(key);
        if node.as_map().is_none() {
            self.error(key, format!("{key} must be a mapping, got {}", node.kind()));
            return None;
        }
        Some(Props::new(path, Some(node), owner, self.diags))
    }

    pub fn string_list(&mut self, key: &str) -> Option<Vec<String>> {
        let node = self.node(key)?;
        let items = match &node.value {
            Value::List(items) => items.iter().map(Node::scalar_string).collect::<Option<Vec<_>>>(),
            _ => None,
        };
        if items.is_none() {
            self.error(key, format!("{key} must be a list of strings, got {}", node.kind()));
        }
        items
    }

    /// A mapping of strings (numbers and booleans are turned into strings, as CloudFormation does).
    pub fn string_map(&mut self, key: &str) -> Option<BTreeMap<String, String>> {
        let node = self.node(key)?;
        let Some(map) = node.as_map() else {
            self.error(key, format!("{key} must be a mapping of names to strings, got {}", node.kind()));
            return None;
        };
        let mut values = BTreeMap::new();
        for entry in &map.entries {
            match entry.value.scalar_string() {
                Some(text) => {
                    values.insert(entry.key.clone(), text);
                }
                None => self.diags.error(Problem::new(
                    format!("{}.{}", self.path_of(key), entry.key),
                    entry.key_line.or(entry.value.line),
                    format!("{} must be a string, got {}", entry.key, entry.value.kind()),
                )),
            }
        }
        Some(values)
    }

    /// A value kept as JSON (`FilterCriteria`, policies).
    pub fn json(&mut self, key: &str) -> Option<serde_json::Value> {
        self.node(key).map(Node::to_json)
    }

    /// Keys that are accepted and mean nothing to weir (IAM, tracing, tags…): read silently.
    pub fn accept_without_effect(&mut self, keys: &[&str]) {
        for key in keys {
            self.node(key);
        }
    }

    /// Keys that change behaviour on AWS but are not implemented: read with a warning.
    pub fn warn_not_supported(&mut self, keys: &[&str]) {
        for key in keys {
            if self.node(key).is_some() {
                self.warn(key, format_args!("{key} is not supported by weir and has no effect"));
            }
        }
    }

    /// Warns about every key that was not read.
    pub fn finish(self) {
        for entry in &self.map.entries {
            if !self.read.contains(&entry.key.as_str()) {
                self.diags.warn(
                    &format!("{}.{}", self.path, entry.key),
                    entry.key_line.or(entry.value.line),
                    format_args!("unknown property '{}' of {}; ignored", entry.key, self.owner),
                );
            }
        }
    }
}

fn integer_of(node: &Node) -> Option<i64> {
    match &node.value {
        Value::Int(number) => Some(*number),
        Value::Float(number) if number.fract() == 0.0 && number.abs() < 9.0e15 => Some(*number as i64),
        Value::Str(text) => text.trim().parse().ok(),
        _ => None,
    }
}

fn describe(node: &Node) -> String {
    match node.scalar_string() {
        Some(text) => format!("'{text}'"),
        None => node.kind().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::parse_template_text;

    fn problems(diags: &Diagnostics) -> Vec<String> {
        diags.check().err().map(|error| error.problems().iter().map(ToString::to_string).collect()).unwrap_or_default()
    }

    #[test]
    fn reads_typed_values_and_coerces_like_cloudformation() {
        let node = parse_template_text(
            "Name: worker\nTimeout: '30'\nMemory: 256\nOn: 'True'\nList: [a, 1]\nEnv: {A: 1, B: x}\n",
        )
        .unwrap();
        let diags = Diagnostics::default();
        let mut props = Props::new("Resources.F.Properties", Some(&node), "AWS::Lambda::Function", &diags);
        assert_eq!(props.string("Name").as_deref(), Some("worker"));
        assert_eq!(props.u32("Timeout", 1..=900, " seconds"), Some(30));
        assert_eq!(props.u32("Memory", 128..=10240, " MB"), Some(256));
        assert_eq!(props.bool("On"), Some(true));
        assert_eq!(props.string_list("List"), Some(vec!["a".to_owned(), "1".to_owned()]));
        assert_eq!(
            props.string_map("Env"),
            Some(BTreeMap::from([("A".to_owned(), "1".to_owned()), ("B".to_owned(), "x".to_owned())]))
        );
        assert_eq!(props.string("Absent"), None);
        props.finish();
        assert!(problems(&diags).is_empty());
        assert!(diags.take_warnings().is_empty());
    }

    #[test]
    fn range_type_and_required_problems_name_path_and_line() {
        let node = parse_template_text("Timeout: 901\nMemory: lots\n").unwrap();
        let diags = Diagnostics::default();
        let mut props = Props::new("Resources.F.Properties", Some(&node), "AWS::Lambda::Function", &diags);
        assert_eq!(props.u32("Timeout", 1..=900, " seconds"), None);
        assert_eq!(props.u32("Memory", 128..=10240, " MB"), None);
        assert_eq!(props.required_string("Handler", " for zip functions"), None);
        props.finish();
        assert_eq!(
            problems(&diags),
            [
                "Resources.F.Properties.Timeout (line 1): Timeout must be between 1 and 900 seconds, got 901",
                "Resources.F.Properties.Memory (line 2): Memory must be an integer, got 'lots'",
                "Resources.F.Properties (line 1): Handler is required for zip functions",
            ]
        );
    }

    #[test]
    fn unread_keys_are_warnings() {
        let node = parse_template_text("Known: 1\nRole: x\nLayers: [a]\nTypo: 2\n").unwrap();
        let diags = Diagnostics::default();
        let mut props = Props::new("Resources.Q.Properties", Some(&node), "AWS::SQS::Queue", &diags);
        props.string("Known");
        props.accept_without_effect(&["Role"]);
        props.warn_not_supported(&["Layers"]);
        props.finish();
        assert_eq!(
            diags.take_warnings(),
            [
                "Resources.Q.Properties.Layers (line 3): Layers is not supported by weir and has no effect",
                "Resources.Q.Properties.Typo (line 4): unknown property 'Typo' of AWS::SQS::Queue; ignored",
            ]
        );
    }
}
