//! Template `Parameters`: their values from `Default` and `--parameter-overrides`, checked
//! against the parameter's type and constraints.
//!
//! Owns: [`Parameters`] (name → resolved value) and the checks CloudFormation makes on
//! parameter values (type, `AllowedValues`, `MinLength`/`MaxLength`, `MinValue`/`MaxValue`).
//! Never: evaluates intrinsics (parameter values are literal) or looks anything up in SSM.

use std::collections::HashMap;

use crate::error::Diagnostics;
use crate::node::{Map, Node, Value};

/// Resolved parameter values: strings, or lists of strings for list types.
#[derive(Debug, Default)]
pub(crate) struct Parameters {
    values: HashMap<String, Node>,
}

impl Parameters {
    pub fn get(&self, name: &str) -> Option<&Node> {
        self.values.get(name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ParameterType {
    String,
    Number,
    NumberList,
    StringList,
}

fn parameter_type(type_name: &str) -> Option<ParameterType> {
    match type_name {
        "String" => Some(ParameterType::String),
        "Number" => Some(ParameterType::Number),
        "List<Number>" => Some(ParameterType::NumberList),
        "CommaDelimitedList" => Some(ParameterType::StringList),
        _ if type_name.starts_with("AWS::SSM::") => None,
        _ if type_name.starts_with("List<AWS::") => Some(ParameterType::StringList),
        _ if type_name.starts_with("AWS::") => Some(ParameterType::String),
        _ => None,
    }
}

/// Resolves every declared parameter; problems go to `diags`. An override naming no declared
/// parameter is a problem too (CloudFormation refuses it).
pub(crate) fn resolve_parameters(
    section: Option<&Node>,
    overrides: &[(String, String)],
    diags: &Diagnostics,
) -> Parameters {
    let mut parameters = Parameters::default();
    let empty = Map::default();
    let declared = match section.map(|node| (node, node.as_map())) {
        None => &empty,
        Some((_, Some(map))) => map,
        Some((node, None)) => {
            diags.error(crate::error::Problem::new(
                "Parameters",
                node.line,
                format!("must be a mapping of parameter names, got {}", node.kind()),
            ));
            &empty
        }
    };
    for (name, _) in overrides {
        if declared.get(name).is_none() {
            let known: Vec<&str> = declared.keys().collect();
            diags.error(crate::error::Problem::new(
                format!("--parameter-overrides {name}"),
                None,
                format!(
                    "the template declares no parameter '{name}' (declared: {})",
                    if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                ),
            ));
        }
    }
    for entry in &declared.entries {
        let path = format!("Parameters.{}", entry.key);
        diags.record_line(&path, entry.key_line);
        let override_value =
            overrides.iter().rev().find(|(name, _)| *name == entry.key).map(|(_, value)| value.clone());
        if let Some(value) = resolve_one(&path, entry.key_line, &entry.value, override_value, diags) {
            parameters.values.insert(entry.key.clone(), value);
        }
    }
    parameters
}

fn resolve_one(
    path: &str,
    key_line: Option<u32>,
    declaration: &Node,
    override_value: Option<String>,
    diags: &Diagnostics,
) -> Option<Node> {
    let line = key_line.or(declaration.line);
    let Some(declaration) = declaration.as_map() else {
        diags.error_at(path, format!("must be a mapping with a Type, got {}", declaration.kind()));
        return None;
    };
    for key in declaration.keys() {
        const KNOWN: &[&str] = &[
            "Type",
            "Default",
            "AllowedValues",
            "AllowedPattern",
            "ConstraintDescription",
            "Description",
            "MaxLength",
            "MinLength",
            "MaxValue",
            "MinValue",
            "NoEcho",
        ];
        if !KNOWN.contains(&key) {
            diags.warn(path, line, format_args!("unknown parameter attribute '{key}'; ignored"));
        }
    }
    if declaration.get("AllowedPattern").is_some() {
        diags.warn(path, line, "AllowedPattern is not checked by weir");
    }
    let type_name = declaration.get("Type").and_then(Node::as_str).unwrap_or_default();
    let Some(parameter_type) = parameter_type(type_name) else {
        let message = if type_name.is_empty() {
            "Type is required (String, Number, List<Number>, CommaDelimitedList)".to_owned()
        } else if type_name.starts_with("AWS::SSM::") {
            format!("parameter type {type_name} reads SSM Parameter Store, which weir does not have; use Type: String")
        } else {
            format!("unknown parameter type '{type_name}' (String, Number, List<Number>, CommaDelimitedList)")
        };
        diags.error(crate::error::Problem::new(path, line, message));
        return None;
    };
    let text = match override_value {
        Some(text) => text,
        None => match declaration.get("Default") {
            Some(default) => match default_text(default) {
                Some(text) => text,
                None => {
                    diags.error(crate::error::Problem::new(
                        format!("{path}.Default"),
                        default.line,
                        format!("must be a string, got {}", default.kind()),
                    ));
                    return None;
                }
            },
            None => {
                let name = path.trim_start_matches("Parameters.");
                diags.error(crate::error::Problem::new(
                    path,
                    line,
                    format!("has no Default and no value was given; pass --parameter-overrides {name}=VALUE"),
                ));
                return None;
            }
        },
    };
    let items: Vec<String> = match parameter_type {
        ParameterType::String | ParameterType::Number => vec![text.clone()],
        ParameterType::NumberList | ParameterType::StringList => text.split(',').map(str::to_owned).collect(),
    };
    let constraint = declaration
        .get("ConstraintDescription")
        .and_then(Node::as_str)
        .map(|text| format!(" ({text})"))
        .unwrap_or_default();
    let mut valid = true;
    for item in &items {
        if let Err(message) = check_value(parameter_type, item, declaration) {
            diags.error(crate::error::Problem::new(path, line, format!("{message}{constraint}")));
            valid = false;
        }
    }
    if !valid {
        return None;
    }
    Some(match parameter_type {
        ParameterType::String | ParameterType::Number => Node::str(text, line),
        ParameterType::NumberList | ParameterType::StringList => {
            Node::new(Value::List(items.into_iter().map(|item| Node::str(item, line)).collect()), line)
        }
    })
}

fn default_text(default: &Node) -> Option<String> {
    match &default.value {
        Value::List(items) => {
            items.iter().map(Node::scalar_string).collect::<Option<Vec<_>>>().map(|items| items.join(","))
        }
        _ => default.scalar_string(),
    }
}

fn check_value(parameter_type: ParameterType, value: &str, declaration: &Map) -> Result<(), String> {
    if let Some(allowed) = declaration.get("AllowedValues") {
        let allowed: Vec<String> = match &allowed.value {
            Value::List(items) => items.iter().filter_map(Node::scalar_string).collect(),
            _ => allowed.scalar_string().into_iter().collect(),
        };
        if !allowed.iter().any(|candidate| candidate == value) {
            return Err(format!("value '{value}' is not one of the AllowedValues [{}]", allowed.join(", ")));
        }
    }
    let bound =
        |key: &str| declaration.get(key).and_then(Node::scalar_string).and_then(|text| text.parse::<f64>().ok());
    match parameter_type {
        ParameterType::Number | ParameterType::NumberList => {
            let Ok(number) = value.trim().parse::<f64>() else {
                return Err(format!("value '{value}' is not a number"));
            };
            if let Some(minimum) = bound("MinValue").filter(|minimum| number < *minimum) {
                return Err(format!("value {value} is below MinValue {minimum}"));
            }
            if let Some(maximum) = bound("MaxValue").filter(|maximum| number > *maximum) {
                return Err(format!("value {value} is above MaxValue {maximum}"));
            }
        }
        ParameterType::String | ParameterType::StringList => {
            let length = value.chars().count() as f64;
            if let Some(minimum) = bound("MinLength").filter(|minimum| length < *minimum) {
                return Err(format!("value '{value}' is shorter than MinLength {minimum}"));
            }
            if let Some(maximum) = bound("MaxLength").filter(|maximum| length > *maximum) {
                return Err(format!("value '{value}' is longer than MaxLength {maximum}"));
            }
        }
    }
    Ok(())
}
