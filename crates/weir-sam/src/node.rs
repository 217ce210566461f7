//! The template as a tree of [`Node`]s: values with the source line they came from.
//!
//! Owns: turning template text (YAML through saphyr, JSON through serde_json) into one tree
//! shape, rewriting CloudFormation short tags (`!Ref X`, `!GetAtt A.B`, `!Sub …`) into their
//! long forms (`{Ref: X}`, `{Fn::GetAtt: …}`, `{Fn::Sub: …}`) so that everything after parsing
//! sees one form, and converting resolved trees to `serde_json::Value`.
//! Never: evaluates intrinsics or knows what a resource is.

use saphyr::{LoadableYamlNode, MarkedYamlOwned, ScalarOwned, YamlDataOwned};

/// One value of the template with the 1-based line it starts on (when the format gives one).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub value: Value,
    pub line: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Node>),
    Map(Map),
}

/// A mapping that keeps the template's key order (plans list resources in template order).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Map {
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub key: String,
    pub key_line: Option<u32>,
    pub value: Node,
}

impl Map {
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|entry| &entry.value)
    }

    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|entry| entry.key == key)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.entries.iter_mut().find(|entry| entry.key == key).map(|entry| &mut entry.value)
    }

    pub fn insert(&mut self, key: String, key_line: Option<u32>, value: Node) {
        match self.entries.iter_mut().find(|entry| entry.key == key) {
            Some(entry) => entry.value = value,
            None => self.entries.push(Entry { key, key_line, value }),
        }
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|entry| entry.key.as_str())
    }

    /// `Some((name, argument))` when this map is an intrinsic function call: exactly one key,
    /// `Ref` or `Fn::…`.
    pub fn as_intrinsic(&self) -> Option<(&str, &Node)> {
        match self.entries.as_slice() {
            [entry] if entry.key == "Ref" || entry.key.starts_with("Fn::") => Some((entry.key.as_str(), &entry.value)),
            _ => None,
        }
    }
}

impl Node {
    pub fn new(value: Value, line: Option<u32>) -> Self {
        Self { value, line }
    }

    pub fn str(text: impl Into<String>, line: Option<u32>) -> Self {
        Self::new(Value::Str(text.into()), line)
    }

    pub fn as_map(&self) -> Option<&Map> {
        match &self.value {
            Value::Map(map) => Some(map),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(text) => Some(text),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Node]> {
        match &self.value {
            Value::List(items) => Some(items),
            _ => None,
        }
    }

    /// Scalars as CloudFormation turns them into strings (`5`, `true`, `0.5`); `None` for
    /// null, lists and maps.
    pub fn scalar_string(&self) -> Option<String> {
        match &self.value {
            Value::Str(text) => Some(text.clone()),
            Value::Int(number) => Some(number.to_string()),
            Value::Float(number) => Some(number.to_string()),
            Value::Bool(flag) => Some(flag.to_string()),
            Value::Null | Value::List(_) | Value::Map(_) => None,
        }
    }

    /// What a value is, for "expected a string, got a list" messages.
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::List(_) => "a list",
            Value::Map(map) if map.as_intrinsic().is_some() => "an intrinsic function",
            Value::Map(_) => "a mapping",
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(flag) => serde_json::Value::Bool(*flag),
            Value::Int(number) => serde_json::Value::from(*number),
            Value::Float(number) => {
                serde_json::Number::from_f64(*number).map_or(serde_json::Value::Null, serde_json::Value::Number)
            }
            Value::Str(text) => serde_json::Value::String(text.clone()),
            Value::List(items) => serde_json::Value::Array(items.iter().map(Self::to_json).collect()),
            Value::Map(map) => serde_json::Value::Object(
                map.entries.iter().map(|entry| (entry.key.clone(), entry.value.to_json())).collect(),
            ),
        }
    }

    /// A tree without line numbers (the JSON came from inside a string, not from the file).
    pub fn from_json(value: &serde_json::Value) -> Self {
        let value = match value {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(flag) => Value::Bool(*flag),
            serde_json::Value::Number(number) => match number.as_i64() {
                Some(int) => Value::Int(int),
                None => Value::Float(number.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(text) => Value::Str(text.clone()),
            serde_json::Value::Array(items) => Value::List(items.iter().map(Self::from_json).collect()),
            serde_json::Value::Object(object) => Value::Map(Map {
                entries: object
                    .iter()
                    .map(|(key, value)| Entry { key: key.clone(), key_line: None, value: Self::from_json(value) })
                    .collect(),
            }),
        };
        Self::new(value, None)
    }
}

/// Why the text is not a template at all (before any CloudFormation meaning is looked at).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub format: &'static str,
    pub line: Option<u32>,
    pub column: Option<u32>,
    pub message: String,
}

/// Parses a template. Text whose first non-blank character is `{` is JSON; anything else YAML.
pub(crate) fn parse_template_text(text: &str) -> Result<Node, SyntaxError> {
    if text.trim_start().starts_with('{') { parse_json(text) } else { parse_yaml(text, "YAML") }
}

fn parse_json(text: &str) -> Result<Node, SyntaxError> {
    // serde_json decides what is valid JSON and words the syntax errors; saphyr (JSON is YAML
    // 1.2) then gives the same tree with line numbers. If saphyr disagrees on some exotic but
    // valid JSON, the tree without line numbers is used instead.
    let json: serde_json::Value = serde_json::from_str(text).map_err(|error| SyntaxError {
        format: "JSON",
        line: u32::try_from(error.line()).ok(),
        column: u32::try_from(error.column()).ok(),
        message: error.to_string(),
    })?;
    match parse_yaml(text, "JSON") {
        Ok(node) => Ok(node),
        Err(error) if error.message.contains("duplicated key") => Err(error),
        Err(_) => Ok(Node::from_json(&json)),
    }
}

fn parse_yaml(text: &str, format: &'static str) -> Result<Node, SyntaxError> {
    let documents = MarkedYamlOwned::load_from_str(text).map_err(|error| SyntaxError {
        format,
        line: u32::try_from(error.marker().line()).ok(),
        column: u32::try_from(error.marker().col() + 1).ok(),
        message: error.info().to_owned(),
    })?;
    let mut documents = documents.into_iter();
    let Some(document) = documents.next() else {
        return Err(SyntaxError { format, line: None, column: None, message: "the template is empty".to_owned() });
    };
    if let Some(second) = documents.next() {
        return Err(SyntaxError {
            format,
            line: line_of(&second),
            column: None,
            message: "a template is one YAML document; found a second one".to_owned(),
        });
    }
    from_yaml(&document)
}

fn line_of(node: &MarkedYamlOwned) -> Option<u32> {
    // saphyr leaves the span of implicit nodes (an empty value after a tag) at line 0.
    u32::try_from(node.span.start.line()).ok().filter(|line| *line > 0)
}

fn from_yaml(node: &MarkedYamlOwned) -> Result<Node, SyntaxError> {
    let line = line_of(node);
    let value = match &node.data {
        YamlDataOwned::Value(scalar) => scalar_value(scalar),
        YamlDataOwned::Representation(text, _, _) => Value::Str(text.clone()),
        YamlDataOwned::Sequence(items) => Value::List(items.iter().map(from_yaml).collect::<Result<_, _>>()?),
        YamlDataOwned::Mapping(mapping) => {
            let mut map = Map::default();
            for (key, value) in mapping {
                let key_text = match &key.data {
                    YamlDataOwned::Value(scalar) => scalar_key(scalar),
                    _ => None,
                };
                let Some(key_text) = key_text else {
                    return Err(SyntaxError {
                        format: "YAML",
                        line: line_of(key),
                        column: None,
                        message: "mapping keys must be plain scalars".to_owned(),
                    });
                };
                map.entries.push(Entry { key: key_text, key_line: line_of(key), value: from_yaml(value)? });
            }
            Value::Map(map)
        }
        YamlDataOwned::Tagged(tag, inner) => {
            let inner = from_yaml(inner)?;
            if tag.is_yaml_core_schema() {
                return Ok(inner);
            }
            let Some(function) = long_form_of_short_tag(&tag.handle, &tag.suffix) else {
                return Err(SyntaxError {
                    format: "YAML",
                    line,
                    column: None,
                    message: format!(
                        "unknown tag {}{}: CloudFormation short forms are !Ref, !GetAtt, !Sub, \
                         !Join, !Select, !Split, !If, !Equals, !Not, !And, !Or, !Condition, \
                         !FindInMap, !GetAZs, !Base64, !ImportValue",
                        tag.handle, tag.suffix
                    ),
                });
            };
            let argument = if function == "Ref" || function == "Condition" {
                inner
            } else {
                Node::new(inner.value, inner.line.or(line))
            };
            Value::Map(Map { entries: vec![Entry { key: function, key_line: line, value: argument }] })
        }
        YamlDataOwned::Alias(_) | YamlDataOwned::BadValue => {
            return Err(SyntaxError {
                format: "YAML",
                line,
                column: None,
                message: "a value could not be read (bad scalar or unresolved alias)".to_owned(),
            });
        }
    };
    Ok(Node::new(value, line))
}

fn scalar_value(scalar: &ScalarOwned) -> Value {
    match scalar {
        ScalarOwned::Null => Value::Null,
        ScalarOwned::Boolean(flag) => Value::Bool(*flag),
        ScalarOwned::Integer(number) => Value::Int(*number),
        ScalarOwned::FloatingPoint(number) => Value::Float(number.into_inner()),
        ScalarOwned::String(text) => Value::Str(text.clone()),
    }
}

fn scalar_key(scalar: &ScalarOwned) -> Option<String> {
    match scalar {
        ScalarOwned::Null => None,
        ScalarOwned::Boolean(flag) => Some(flag.to_string()),
        ScalarOwned::Integer(number) => Some(number.to_string()),
        ScalarOwned::FloatingPoint(number) => Some(number.to_string()),
        ScalarOwned::String(text) => Some(text.clone()),
    }
}

/// `!Ref` → `Ref`, `!Condition` → `Condition`, `!Sub` → `Fn::Sub`, … (`None` for other tags).
fn long_form_of_short_tag(handle: &str, suffix: &str) -> Option<String> {
    const FUNCTIONS: &[&str] = &[
        "GetAtt",
        "Sub",
        "Join",
        "Select",
        "Split",
        "If",
        "Equals",
        "Not",
        "And",
        "Or",
        "FindInMap",
        "GetAZs",
        "Base64",
        "ImportValue",
        "Cidr",
        "Transform",
        "ToJsonString",
        "Length",
    ];
    if handle != "!" {
        return None;
    }
    match suffix {
        "Ref" | "Condition" => Some(suffix.to_owned()),
        _ if FUNCTIONS.contains(&suffix) => Some(format!("Fn::{suffix}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Node {
        parse_template_text(text).expect("parses")
    }

    #[test]
    fn short_tags_become_long_forms_with_lines() {
        let node = parse("a: 1\nb: !Ref Thing\nc: !GetAtt Queue.Arn\nd: !Sub 'x-${AWS::Region}'\n");
        let map = node.as_map().unwrap();
        assert_eq!(map.get("b").unwrap().to_json(), serde_json::json!({"Ref": "Thing"}));
        assert_eq!(map.get("b").unwrap().line, Some(2));
        assert_eq!(map.get("c").unwrap().to_json(), serde_json::json!({"Fn::GetAtt": "Queue.Arn"}));
        assert_eq!(map.get("d").unwrap().to_json(), serde_json::json!({"Fn::Sub": "x-${AWS::Region}"}));
        assert_eq!(map.entry("d").unwrap().key_line, Some(4));
    }

    #[test]
    fn nested_short_tags_and_sequences() {
        let node = parse("a: !If [IsProd, !Ref Big, !Ref 'AWS::NoValue']\n");
        assert_eq!(
            node.as_map().unwrap().get("a").unwrap().to_json(),
            serde_json::json!({"Fn::If": ["IsProd", {"Ref": "Big"}, {"Ref": "AWS::NoValue"}]})
        );
    }

    #[test]
    fn unknown_tag_is_a_syntax_error_with_line() {
        let error = parse_template_text("a: 1\nb: !Reff X\n").unwrap_err();
        assert_eq!(error.line, Some(2));
        assert!(error.message.contains("unknown tag !Reff"), "{error:?}");
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let error = parse_template_text("a: 1\na: 2\n").unwrap_err();
        assert!(error.message.contains("duplicated key"), "{error:?}");
        assert_eq!(error.line, Some(2));
    }

    #[test]
    fn json_has_lines_and_json_errors() {
        let node = parse("{\n  \"a\": {\"Ref\": \"X\"},\n  \"b\": [1, 2.5, true, null]\n}");
        let map = node.as_map().unwrap();
        assert_eq!(map.get("a").unwrap().line, Some(2));
        assert_eq!(map.get("b").unwrap().to_json(), serde_json::json!([1, 2.5, true, null]));
        let error = parse_template_text("{\n  \"a\": 1,\n}").unwrap_err();
        assert_eq!(error.format, "JSON");
        assert_eq!(error.line, Some(3));
    }

    #[test]
    fn scalars_stringify_like_cloudformation() {
        let node = parse("a: 5\nb: true\nc: 0.5\nd: text\n");
        let map = node.as_map().unwrap();
        let strings: Vec<_> =
            ["a", "b", "c", "d"].iter().map(|key| map.get(key).unwrap().scalar_string().unwrap()).collect();
        assert_eq!(strings, ["5", "true", "0.5", "text"]);
    }
}
