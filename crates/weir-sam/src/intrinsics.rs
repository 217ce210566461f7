//! Intrinsic functions: evaluating `Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::Join`, `Fn::Select`,
//! `Fn::Split`, `Fn::If`, `Fn::FindInMap`, `Fn::GetAZs`, `Fn::Base64`, `Fn::ToJsonString` and
//! `Fn::Length` inside a template value, and finding which resources a value refers to.
//!
//! Owns: [`Scope`] (what a name resolves to: pseudo parameters, parameters, conditions, mappings,
//! resources resolved so far) and `AWS::NoValue` removal (a key or list item whose value is
//! `AWS::NoValue` disappears).
//! Never: decides resolution order (the loader does) or interprets resource properties.

use std::collections::{BTreeSet, HashMap};

use crate::context::DeployContext;
use crate::error::{Diagnostics, Problem};
use crate::node::{Entry, Map, Node, Value};
use crate::parameters::Parameters;
use crate::refs::{ResourceTable, Slot};

/// Pseudo parameters weir knows (`AWS::NoValue` is handled separately: it removes its key).
pub(crate) const PSEUDO_PARAMETERS: &[&str] = &[
    "AWS::Region",
    "AWS::AccountId",
    "AWS::StackName",
    "AWS::StackId",
    "AWS::Partition",
    "AWS::URLSuffix",
    "AWS::NotificationARNs",
    "AWS::NoValue",
];

/// Everything names in a template can resolve to at one point of loading.
pub(crate) struct Scope<'a> {
    pub ctx: &'a DeployContext,
    pub parameters: &'a Parameters,
    pub mappings: Option<&'a Map>,
    pub conditions: &'a HashMap<String, bool>,
    pub resources: &'a ResourceTable,
    pub diags: &'a Diagnostics,
}

type Evaluated = Result<Option<Node>, Problem>;

impl Scope<'_> {
    /// Evaluates every intrinsic inside `node`. `Ok(None)` means the value is `AWS::NoValue`.
    pub fn eval(&self, node: &Node, path: &str) -> Evaluated {
        match &node.value {
            Value::Map(map) => {
                if let Some((function, argument)) = map.as_intrinsic() {
                    return self.eval_function(function, argument, node.line, path);
                }
                let mut resolved = Map::default();
                for entry in &map.entries {
                    let child_path = format!("{path}.{}", entry.key);
                    if let Some(value) = self.eval(&entry.value, &child_path)? {
                        resolved.entries.push(Entry { key: entry.key.clone(), key_line: entry.key_line, value });
                    }
                }
                Ok(Some(Node::new(Value::Map(resolved), node.line)))
            }
            Value::List(items) => {
                let mut resolved = Vec::with_capacity(items.len());
                for (index, item) in items.iter().enumerate() {
                    if let Some(value) = self.eval(item, &format!("{path}[{index}]"))? {
                        resolved.push(value);
                    }
                }
                Ok(Some(Node::new(Value::List(resolved), node.line)))
            }
            _ => Ok(Some(node.clone())),
        }
    }

    /// Evaluates `node` and requires a string (numbers and booleans are turned into strings).
    pub fn eval_string(&self, node: &Node, path: &str, what: &str) -> Result<String, Problem> {
        let value = self.eval_present(node, path, what)?;
        value.scalar_string().ok_or_else(|| {
            Problem::new(path, value.line.or(node.line), format!("{what} must be a string, got {}", value.kind()))
        })
    }

    fn eval_present(&self, node: &Node, path: &str, what: &str) -> Result<Node, Problem> {
        self.eval(node, path)?.ok_or_else(|| Problem::new(path, node.line, format!("{what} cannot be AWS::NoValue")))
    }

    fn eval_string_list(&self, node: &Node, path: &str, what: &str) -> Result<Vec<String>, Problem> {
        let value = self.eval_present(node, path, what)?;
        let Some(items) = value.as_list() else {
            return Err(Problem::new(
                path,
                value.line.or(node.line),
                format!("{what} must be a list, got {}", value.kind()),
            ));
        };
        items
            .iter()
            .map(|item| {
                item.scalar_string().ok_or_else(|| {
                    Problem::new(
                        path,
                        item.line.or(node.line),
                        format!("{what} must be a list of strings, found {}", item.kind()),
                    )
                })
            })
            .collect()
    }

    fn eval_function(&self, function: &str, argument: &Node, line: Option<u32>, path: &str) -> Evaluated {
        let fail = |message: String| Err(Problem::new(path, line.or(argument.line), message));
        let arguments = |count: usize| -> Result<&[Node], Problem> {
            match argument.as_list() {
                Some(items) if items.len() == count => Ok(items),
                _ => Err(Problem::new(
                    path,
                    line.or(argument.line),
                    format!("{function} takes a list of {count} arguments, got {}", describe_arguments(argument)),
                )),
            }
        };
        match function {
            "Ref" => {
                let Some(name) = argument.as_str() else {
                    return fail(format!("Ref takes a name, got {}", argument.kind()));
                };
                self.reference(name, line, path)
            }
            "Fn::GetAtt" => {
                let (resource, attribute) = match &argument.value {
                    Value::Str(text) => match text.split_once('.') {
                        Some((resource, attribute)) => (resource.to_owned(), attribute.to_owned()),
                        None => return fail(format!("Fn::GetAtt takes 'Resource.Attribute', got '{text}'")),
                    },
                    Value::List(items) if items.len() == 2 => {
                        let Some(resource) = items[0].as_str() else {
                            return fail("Fn::GetAtt's first argument must be a logical id".to_owned());
                        };
                        let attribute = self.eval_string(&items[1], path, "Fn::GetAtt's attribute name")?;
                        (resource.to_owned(), attribute)
                    }
                    _ => {
                        return fail(format!(
                            "Fn::GetAtt takes [LogicalId, Attribute] or 'LogicalId.Attribute', got {}",
                            describe_arguments(argument)
                        ));
                    }
                };
                self.get_attribute(&resource, &attribute, line, path).map(|text| Some(Node::str(text, line)))
            }
            "Fn::Sub" => {
                let (template, variables) = match &argument.value {
                    Value::List(items) if items.len() == 2 => {
                        let Some(variables) = items[1].as_map() else {
                            return fail(format!(
                                "Fn::Sub's second argument must be a mapping of variables, got {}",
                                items[1].kind()
                            ));
                        };
                        let mut values = HashMap::new();
                        for entry in &variables.entries {
                            let variable_path = format!("{path}.{}", entry.key);
                            let value = self.eval_string(&entry.value, &variable_path, "an Fn::Sub variable")?;
                            values.insert(entry.key.clone(), value);
                        }
                        (self.eval_string(&items[0], path, "Fn::Sub's string")?, values)
                    }
                    Value::List(_) => {
                        return fail(format!(
                            "Fn::Sub takes a string or [string, {{variables}}], got {}",
                            describe_arguments(argument)
                        ));
                    }
                    _ => (self.eval_string(argument, path, "Fn::Sub's string")?, HashMap::new()),
                };
                self.substitute(&template, &variables, line, path).map(|text| Some(Node::str(text, line)))
            }
            "Fn::Join" => {
                let items = arguments(2)?;
                let delimiter = self.eval_string(&items[0], path, "Fn::Join's delimiter")?;
                let values = self.eval_string_list(&items[1], path, "Fn::Join's values")?;
                Ok(Some(Node::str(values.join(&delimiter), line)))
            }
            "Fn::Select" => {
                let items = arguments(2)?;
                let index_text = self.eval_string(&items[0], path, "Fn::Select's index")?;
                let Ok(index) = index_text.trim().parse::<usize>() else {
                    return fail(format!("Fn::Select's index must be a non-negative integer, got '{index_text}'"));
                };
                let list = self.eval_present(&items[1], path, "Fn::Select's list")?;
                let Some(values) = list.as_list() else {
                    return fail(format!("Fn::Select's second argument must be a list, got {}", list.kind()));
                };
                match values.get(index) {
                    Some(value) => Ok(Some(value.clone())),
                    None => {
                        fail(format!("Fn::Select index {index} is out of range for a list of {} items", values.len()))
                    }
                }
            }
            "Fn::Split" => {
                let items = arguments(2)?;
                let delimiter = self.eval_string(&items[0], path, "Fn::Split's delimiter")?;
                if delimiter.is_empty() {
                    return fail("Fn::Split's delimiter cannot be empty".to_owned());
                }
                let text = self.eval_string(&items[1], path, "Fn::Split's string")?;
                let parts = text.split(delimiter.as_str()).map(|part| Node::str(part, line)).collect();
                Ok(Some(Node::new(Value::List(parts), line)))
            }
            "Fn::If" => {
                let items = arguments(3)?;
                let Some(condition) = items[0].as_str() else {
                    return fail(format!("Fn::If's first argument must be a condition name, got {}", items[0].kind()));
                };
                match self.conditions.get(condition) {
                    Some(true) => self.eval(&items[1], path),
                    Some(false) => self.eval(&items[2], path),
                    None => fail(format!(
                        "Fn::If names condition '{condition}', which the Conditions section does not define"
                    )),
                }
            }
            "Fn::FindInMap" => {
                let items = match argument.as_list() {
                    Some(items) if items.len() == 3 => items,
                    _ => {
                        return fail(format!(
                            "Fn::FindInMap takes [MapName, TopLevelKey, SecondLevelKey], got {}",
                            describe_arguments(argument)
                        ));
                    }
                };
                let map_name = self.eval_string(&items[0], path, "Fn::FindInMap's map name")?;
                let top_key = self.eval_string(&items[1], path, "Fn::FindInMap's top-level key")?;
                let second_key = self.eval_string(&items[2], path, "Fn::FindInMap's second-level key")?;
                let Some(mapping) = self.mappings.and_then(|mappings| mappings.get(&map_name)) else {
                    return fail(format!(
                        "Fn::FindInMap names mapping '{map_name}', which the Mappings section does not define"
                    ));
                };
                let Some(top) = mapping.as_map().and_then(|mapping| mapping.get(&top_key)) else {
                    return fail(format!("mapping '{map_name}' has no key '{top_key}'"));
                };
                let Some(value) = top.as_map().and_then(|top| top.get(&second_key)) else {
                    return fail(format!("mapping '{map_name}.{top_key}' has no key '{second_key}'"));
                };
                Ok(Some(Node::new(value.value.clone(), line)))
            }
            "Fn::GetAZs" => {
                let region = self.eval_string(argument, path, "Fn::GetAZs's region")?;
                let region = if region.is_empty() { self.ctx.region.clone() } else { region };
                let zones = ["a", "b", "c"].iter().map(|zone| Node::str(format!("{region}{zone}"), line)).collect();
                Ok(Some(Node::new(Value::List(zones), line)))
            }
            "Fn::Base64" => {
                let text = self.eval_string(argument, path, "Fn::Base64's value")?;
                Ok(Some(Node::str(base64_encode(text.as_bytes()), line)))
            }
            "Fn::ToJsonString" => {
                let value = self.eval_present(argument, path, "Fn::ToJsonString's value")?;
                Ok(Some(Node::str(value.to_json().to_string(), line)))
            }
            "Fn::Length" => {
                let value = self.eval_present(argument, path, "Fn::Length's value")?;
                match value.as_list() {
                    Some(items) => Ok(Some(Node::new(Value::Int(items.len() as i64), line))),
                    None => fail(format!("Fn::Length takes a list, got {}", value.kind())),
                }
            }
            "Fn::Equals" | "Fn::Not" | "Fn::And" | "Fn::Or" => fail(format!(
                "{function} can only be used in the Conditions section (use Fn::If with a named condition here)"
            )),
            "Fn::ImportValue" => {
                fail("Fn::ImportValue imports from another stack; weir deploys one template at a time".to_owned())
            }
            _ => fail(format!(
                "{function} is not supported (supported: Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::Select, \
                 Fn::Split, Fn::If, Fn::FindInMap, Fn::GetAZs, Fn::Base64, Fn::ToJsonString, Fn::Length)"
            )),
        }
    }

    /// `Ref name`: pseudo parameter, parameter, or resource (a logical id or a SAM
    /// referenceable name such as `MyFunction.Alias`).
    pub fn reference(&self, name: &str, line: Option<u32>, path: &str) -> Evaluated {
        let string = |text: String| Ok(Some(Node::str(text, line)));
        match name {
            "AWS::NoValue" => return Ok(None),
            "AWS::Region" => return string(self.ctx.region.clone()),
            "AWS::AccountId" => return string(self.ctx.account_id.clone()),
            "AWS::StackName" => return string(self.ctx.stack_name.clone()),
            "AWS::StackId" => return string(self.ctx.stack_id()),
            "AWS::Partition" => return string("aws".to_owned()),
            "AWS::URLSuffix" => return string("amazonaws.com".to_owned()),
            "AWS::NotificationARNs" => return Ok(Some(Node::new(Value::List(Vec::new()), line))),
            _ => {}
        }
        if let Some(value) = self.parameters.get(name) {
            return Ok(Some(Node::new(value.value.clone(), line)));
        }
        let Some((logical_id, slot)) = self.resources.lookup(name) else {
            let message = if name.starts_with("AWS::") {
                format!("unknown pseudo parameter '{name}' (known: {})", PSEUDO_PARAMETERS.join(", "))
            } else {
                format!("Ref target '{name}' is not a parameter, a resource or a pseudo parameter")
            };
            return Err(Problem::new(path, line, message));
        };
        match slot {
            Slot::Resolved(values) => match &values.reference {
                Ok(text) => string(text.clone()),
                Err(reason) => Err(Problem::new(path, line, format!("Ref {name}: {reason}"))),
            },
            Slot::NotDeployed { resource_type } => {
                self.diags.warn(
                    path,
                    line,
                    format_args!(
                        "Ref {name} refers to {logical_id} ({resource_type}), which weir does not deploy; \
                         the placeholder '{logical_id}' is used"
                    ),
                );
                string(logical_id.to_owned())
            }
            Slot::Failed => string(format!("<{logical_id}>")),
            Slot::Excluded { resource_type, condition } => Err(Problem::new(
                path,
                line,
                format!(
                    "Ref {name}: {logical_id} ({resource_type}) is not created because condition {condition} is false"
                ),
            )),
            Slot::Pending { .. } => Err(Problem::new(
                path,
                line,
                format!("Ref {name}: {logical_id} is not resolved yet (internal ordering error)"),
            )),
        }
    }

    /// `Fn::GetAtt resource.attribute`.
    pub fn get_attribute(
        &self,
        resource: &str,
        attribute: &str,
        line: Option<u32>,
        path: &str,
    ) -> Result<String, Problem> {
        let fail = |message: String| Err(Problem::new(path, line, message));
        let Some((logical_id, slot)) = self.resources.lookup(resource) else {
            if self.parameters.contains(resource) {
                return fail(format!("Fn::GetAtt target '{resource}' is a parameter; use Ref"));
            }
            return fail(format!("Fn::GetAtt target '{resource}' is not a resource of this template"));
        };
        match slot {
            Slot::Resolved(values) => match values.attributes.iter().find(|(name, _)| *name == attribute) {
                Some((_, Ok(value))) => Ok(value.clone()),
                Some((_, Err(reason))) => fail(format!("Fn::GetAtt {resource}.{attribute}: {reason}")),
                None => {
                    let known: Vec<&str> = values.attributes.iter().map(|(name, _)| *name).collect();
                    fail(format!(
                        "{} has no attribute '{attribute}' (supported: {})",
                        values.resource_type,
                        if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                    ))
                }
            },
            Slot::NotDeployed { resource_type } => {
                let placeholder = self.placeholder_attribute(logical_id, resource_type, attribute);
                self.diags.warn(
                    path,
                    line,
                    format_args!(
                        "Fn::GetAtt {resource}.{attribute} refers to {logical_id} ({resource_type}), which weir \
                         does not deploy; the placeholder '{placeholder}' is used"
                    ),
                );
                Ok(placeholder)
            }
            Slot::Failed => Ok(format!("<{logical_id}.{attribute}>")),
            Slot::Excluded { resource_type, condition } => fail(format!(
                "Fn::GetAtt {resource}.{attribute}: {logical_id} ({resource_type}) is not created because condition {condition} is false"
            )),
            Slot::Pending { .. } => fail(format!(
                "Fn::GetAtt {resource}.{attribute}: {logical_id} is not resolved yet (internal ordering error)"
            )),
        }
    }

    /// What `Fn::GetAtt` of a resource weir does not deploy resolves to: an ARN-shaped value
    /// for `…Arn` attributes (`arn:aws:dynamodb:{region}:{account}:Table`), so code that looks at
    /// the service of an ARN still sees the right one; `Logical.Attribute` otherwise.
    fn placeholder_attribute(&self, logical_id: &str, resource_type: &str, attribute: &str) -> String {
        let service = resource_type.split("::").nth(1).unwrap_or_default().to_ascii_lowercase();
        if attribute.ends_with("Arn") && !service.is_empty() {
            format!("arn:aws:{service}:{}:{}:{logical_id}", self.ctx.region, self.ctx.account_id)
        } else {
            format!("{logical_id}.{attribute}")
        }
    }

    /// Like [`Scope::eval`], but reports every failing value inside plain mappings and lists to
    /// the diagnostics instead of stopping at the first; `Err` if any failed.
    pub fn eval_reporting(&self, node: &Node, path: &str) -> Result<Option<Node>, ()> {
        let is_plain_map = node.as_map().is_some_and(|map| map.as_intrinsic().is_none());
        match &node.value {
            Value::Map(map) if is_plain_map => {
                let mut resolved = Map::default();
                let mut failed = false;
                for entry in &map.entries {
                    match self.eval_reporting(&entry.value, &format!("{path}.{}", entry.key)) {
                        Ok(Some(value)) => {
                            resolved.entries.push(Entry { key: entry.key.clone(), key_line: entry.key_line, value })
                        }
                        Ok(None) => {}
                        Err(()) => failed = true,
                    }
                }
                if failed { Err(()) } else { Ok(Some(Node::new(Value::Map(resolved), node.line))) }
            }
            Value::List(items) => {
                let mut resolved = Vec::with_capacity(items.len());
                let mut failed = false;
                for (index, item) in items.iter().enumerate() {
                    match self.eval_reporting(item, &format!("{path}[{index}]")) {
                        Ok(Some(value)) => resolved.push(value),
                        Ok(None) => {}
                        Err(()) => failed = true,
                    }
                }
                if failed { Err(()) } else { Ok(Some(Node::new(Value::List(resolved), node.line))) }
            }
            _ => self.eval(node, path).map_err(|problem| self.diags.error(problem)),
        }
    }

    /// `Fn::Sub`: `${Name}` is a variable, parameter, pseudo parameter or resource `Ref`;
    /// `${Resource.Attribute}` is a `GetAtt`; `${!Literal}` is written as `${Literal}`.
    fn substitute(
        &self,
        template: &str,
        variables: &HashMap<String, String>,
        line: Option<u32>,
        path: &str,
    ) -> Result<String, Problem> {
        let mut output = String::with_capacity(template.len());
        for piece in sub_pieces(template) {
            match piece {
                SubPiece::Text(text) => output.push_str(text),
                SubPiece::Literal(text) => {
                    output.push_str("${");
                    output.push_str(text);
                    output.push('}');
                }
                SubPiece::Variable(name) => {
                    if let Some(value) = variables.get(name) {
                        output.push_str(value);
                        continue;
                    }
                    let value = match name.split_once('.') {
                        Some((resource, attribute))
                            if !name.starts_with("AWS::") && !self.resources.is_reference_alias(name) =>
                        {
                            self.get_attribute(resource, attribute, line, path)?
                        }
                        _ => {
                            let Some(value) = self.reference(name, line, path)? else {
                                return Err(Problem::new(path, line, "Fn::Sub cannot substitute AWS::NoValue"));
                            };
                            value.scalar_string().ok_or_else(|| {
                                Problem::new(
                                    path,
                                    line,
                                    format!("Fn::Sub variable ${{{name}}} is {}, not a string", value.kind()),
                                )
                            })?
                        }
                    };
                    output.push_str(&value);
                }
            }
        }
        Ok(output)
    }
}

fn describe_arguments(argument: &Node) -> String {
    match argument.as_list() {
        Some(items) => format!("{} arguments", items.len()),
        None => argument.kind().to_owned(),
    }
}

/// One piece of an `Fn::Sub` string.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SubPiece<'a> {
    Text(&'a str),
    /// `${Name}` / `${Resource.Attribute}` (trimmed).
    Variable(&'a str),
    /// `${!Literal}` → written as `${Literal}`.
    Literal(&'a str),
}

pub(crate) fn sub_pieces(template: &str) -> Vec<SubPiece<'_>> {
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let Some(length) = rest[start + 2..].find('}') else {
            break;
        };
        if start > 0 {
            pieces.push(SubPiece::Text(&rest[..start]));
        }
        let inner = &rest[start + 2..start + 2 + length];
        pieces.push(match inner.strip_prefix('!') {
            Some(literal) => SubPiece::Literal(literal),
            None => SubPiece::Variable(inner.trim()),
        });
        rest = &rest[start + 2 + length + 1..];
    }
    if !rest.is_empty() {
        pieces.push(SubPiece::Text(rest));
    }
    pieces
}

/// The logical ids (or SAM referenceable names) `node` refers to through `Ref`, `Fn::GetAtt` and
/// `Fn::Sub`, in both branches of every `Fn::If` (as CloudFormation orders resources), with the
/// line of the reference. Parameters and pseudo parameters are left out.
pub(crate) fn referenced_names(node: &Node, parameters: &Parameters, found: &mut Vec<(String, Option<u32>)>) {
    match &node.value {
        Value::Map(map) => {
            if let Some((function, argument)) = map.as_intrinsic() {
                let mut add = |name: &str| {
                    if !name.starts_with("AWS::") && !parameters.contains(name) {
                        found.push((name.to_owned(), node.line));
                    }
                };
                match (function, &argument.value) {
                    ("Ref", Value::Str(name)) => add(name),
                    ("Fn::GetAtt", Value::Str(text)) => {
                        add(text.split_once('.').map_or(text.as_str(), |(resource, _)| resource));
                    }
                    ("Fn::GetAtt", Value::List(items)) => {
                        if let Some(resource) = items.first().and_then(Node::as_str) {
                            add(resource);
                        }
                    }
                    ("Fn::Sub", _) => {
                        let (template, variables) = match &argument.value {
                            Value::List(items) if items.len() == 2 => (&items[0], items[1].as_map()),
                            _ => (argument, None),
                        };
                        let declared: BTreeSet<&str> = variables.map(|map| map.keys().collect()).unwrap_or_default();
                        if let Some(text) = template.as_str() {
                            for piece in sub_pieces(text) {
                                if let SubPiece::Variable(name) = piece
                                    && !declared.contains(name)
                                {
                                    add(name);
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
            for entry in &map.entries {
                referenced_names(&entry.value, parameters, found);
            }
        }
        Value::List(items) => {
            for item in items {
                referenced_names(item, parameters, found);
            }
        }
        _ => {}
    }
}

/// Standard base64 with padding (`Fn::Base64`).
fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut output = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let triple = (u32::from(chunk[0]) << 16)
            | (u32::from(chunk.get(1).copied().unwrap_or(0)) << 8)
            | u32::from(chunk.get(2).copied().unwrap_or(0));
        for position in 0..4 {
            if position <= chunk.len() {
                output.push(char::from(ALPHABET[(triple >> (18 - 6 * position)) as usize & 63]));
            } else {
                output.push('=');
            }
        }
    }
    output
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::parse_template_text;
    use crate::parameters::resolve_parameters;
    use crate::refs::ReturnValues;

    struct Fixture {
        ctx: DeployContext,
        parameters: Parameters,
        mappings: Node,
        conditions: HashMap<String, bool>,
        resources: ResourceTable,
        diags: Diagnostics,
    }

    impl Fixture {
        fn new() -> Self {
            let diags = Diagnostics::default();
            let parameters_section = parse_template_text(
                "Stage: {Type: String, Default: prod}\nSizes: {Type: CommaDelimitedList, Default: 'a,b,c'}\n",
            )
            .unwrap();
            let parameters = resolve_parameters(Some(&parameters_section), &[], &diags);
            assert!(!diags.has_errors());
            let mappings = parse_template_text("Memory: {prod: {Size: 1024}, dev: {Size: 128}}\n").unwrap();
            let mut resources = ResourceTable::default();
            resources.resolve(
                "Orders",
                ReturnValues::queue(
                    "orders",
                    "arn:aws:sqs:eu-west-1:123456789012:orders",
                    "http://127.0.0.1:9000/123456789012/orders",
                ),
            );
            resources.resolve(
                "Worker",
                ReturnValues::function(
                    "AWS::Serverless::Function",
                    "worker",
                    "arn:aws:lambda:eu-west-1:123456789012:function:worker",
                ),
            );
            resources.declare_generated(
                "WorkerAliaslive",
                "Worker",
                Some("Worker.Alias"),
                Slot::Resolved(ReturnValues::alias("arn:aws:lambda:eu-west-1:123456789012:function:worker:live")),
            );
            resources.declare("Table", Slot::NotDeployed { resource_type: "AWS::DynamoDB::Table".to_owned() });
            resources.declare(
                "Skipped",
                Slot::Excluded { resource_type: "AWS::SQS::Queue".to_owned(), condition: "IsDev".to_owned() },
            );
            Self {
                ctx: DeployContext::new("eu-west-1", "123456789012", "shop", "http://127.0.0.1:9000"),
                parameters,
                mappings,
                conditions: HashMap::from([("IsProd".to_owned(), true), ("IsDev".to_owned(), false)]),
                resources,
                diags,
            }
        }

        fn scope(&self) -> Scope<'_> {
            Scope {
                ctx: &self.ctx,
                parameters: &self.parameters,
                mappings: self.mappings.as_map(),
                conditions: &self.conditions,
                resources: &self.resources,
                diags: &self.diags,
            }
        }

        /// Evaluates the value of `v:` in `yaml` and returns it as JSON (`null` for NoValue).
        fn eval(&self, yaml: &str) -> Result<serde_json::Value, Problem> {
            let node = parse_template_text(&format!("v: {yaml}\n")).unwrap();
            let value = node.as_map().unwrap().get("v").unwrap().clone();
            self.scope()
                .eval(&value, "Test")
                .map(|value| value.map_or(serde_json::Value::Null, |value| value.to_json()))
        }

        fn error(&self, yaml: &str) -> String {
            self.eval(yaml).expect_err("should fail").message
        }
    }

    use serde_json::json;

    #[test]
    fn ref_resolves_pseudo_parameters() {
        let fixture = Fixture::new();
        assert_eq!(fixture.eval("!Ref AWS::Region").unwrap(), json!("eu-west-1"));
        assert_eq!(fixture.eval("!Ref AWS::AccountId").unwrap(), json!("123456789012"));
        assert_eq!(fixture.eval("!Ref AWS::StackName").unwrap(), json!("shop"));
        assert_eq!(fixture.eval("!Ref AWS::Partition").unwrap(), json!("aws"));
        assert_eq!(fixture.eval("!Ref AWS::URLSuffix").unwrap(), json!("amazonaws.com"));
        assert_eq!(
            fixture.eval("!Ref AWS::StackId").unwrap(),
            json!("arn:aws:cloudformation:eu-west-1:123456789012:stack/shop/weir")
        );
        assert!(fixture.error("!Ref AWS::Nope").contains("unknown pseudo parameter 'AWS::Nope'"));
    }

    #[test]
    fn ref_resolves_parameters_and_resources() {
        let fixture = Fixture::new();
        assert_eq!(fixture.eval("{Ref: Stage}").unwrap(), json!("prod"));
        assert_eq!(fixture.eval("!Ref Sizes").unwrap(), json!(["a", "b", "c"]));
        assert_eq!(fixture.eval("!Ref Worker").unwrap(), json!("worker"));
        assert_eq!(fixture.eval("!Ref Orders").unwrap(), json!("http://127.0.0.1:9000/123456789012/orders"));
        assert_eq!(
            fixture.eval("!Ref Worker.Alias").unwrap(),
            json!("arn:aws:lambda:eu-west-1:123456789012:function:worker:live")
        );
        assert_eq!(
            fixture.error("!Ref Nope"),
            "Ref target 'Nope' is not a parameter, a resource or a pseudo parameter"
        );
        assert!(fixture.error("!Ref Skipped").contains("condition IsDev is false"));
    }

    #[test]
    fn ref_to_a_resource_weir_does_not_deploy_is_a_placeholder_and_a_warning() {
        let fixture = Fixture::new();
        assert_eq!(fixture.eval("!Ref Table").unwrap(), json!("Table"));
        assert_eq!(fixture.eval("!GetAtt Table.Arn").unwrap(), json!("arn:aws:dynamodb:eu-west-1:123456789012:Table"));
        assert_eq!(fixture.eval("!GetAtt Table.TableName").unwrap(), json!("Table.TableName"));
        let warnings = fixture.diags.take_warnings();
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(warnings[0].contains("AWS::DynamoDB::Table"), "{warnings:?}");
    }

    #[test]
    fn no_value_removes_keys_and_list_items() {
        let fixture = Fixture::new();
        assert_eq!(fixture.eval("!Ref AWS::NoValue").unwrap(), json!(null));
        assert_eq!(
            fixture.eval("{a: 1, b: !Ref AWS::NoValue, c: [1, !Ref AWS::NoValue, 3]}").unwrap(),
            json!({"a": 1, "c": [1, 3]})
        );
    }

    #[test]
    fn get_att_both_forms() {
        let fixture = Fixture::new();
        let arn = json!("arn:aws:sqs:eu-west-1:123456789012:orders");
        assert_eq!(fixture.eval("!GetAtt Orders.Arn").unwrap(), arn);
        assert_eq!(fixture.eval("{Fn::GetAtt: [Orders, Arn]}").unwrap(), arn);
        assert_eq!(fixture.eval("{Fn::GetAtt: Orders.Arn}").unwrap(), arn);
        assert_eq!(fixture.eval("!GetAtt [Orders, QueueName]").unwrap(), json!("orders"));
        assert_eq!(
            fixture.eval("!GetAtt Orders.QueueUrl").unwrap(),
            json!("http://127.0.0.1:9000/123456789012/orders")
        );
        assert_eq!(
            fixture.eval("!GetAtt Worker.Arn").unwrap(),
            json!("arn:aws:lambda:eu-west-1:123456789012:function:worker")
        );
        assert_eq!(
            fixture.error("!GetAtt Orders.Nope"),
            "AWS::SQS::Queue has no attribute 'Nope' (supported: Arn, QueueName, QueueUrl)"
        );
        assert_eq!(fixture.error("!GetAtt Nope.Arn"), "Fn::GetAtt target 'Nope' is not a resource of this template");
    }

    #[test]
    fn sub_string_form() {
        let fixture = Fixture::new();
        assert_eq!(
            fixture.eval("!Sub '${AWS::StackName}-${Stage}-${Orders.QueueName} ${!Literal} ${Worker}'").unwrap(),
            json!("shop-prod-orders ${Literal} worker")
        );
        assert_eq!(
            fixture.eval("!Sub 'arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:x'").unwrap(),
            json!("arn:aws:sqs:eu-west-1:123456789012:x")
        );
        assert_eq!(
            fixture.eval("!Sub 'no variables; unterminated ${x'").unwrap(),
            json!("no variables; unterminated ${x")
        );
        assert!(fixture.error("!Sub '${Nope}'").contains("'Nope'"));
        assert!(fixture.error("!Sub '${Sizes}'").contains("a list, not a string"));
    }

    #[test]
    fn sub_list_form_with_variables() {
        let fixture = Fixture::new();
        assert_eq!(
            fixture.eval("{Fn::Sub: ['${Name}-${Stage}-${Arn}', {Name: fixed, Arn: !GetAtt Orders.Arn}]}").unwrap(),
            json!("fixed-prod-arn:aws:sqs:eu-west-1:123456789012:orders")
        );
        assert!(fixture.error("!Sub [a, b, c]").contains("Fn::Sub takes a string or"));
    }

    #[test]
    fn join_select_split() {
        let fixture = Fixture::new();
        assert_eq!(fixture.eval("!Join ['-', [a, !Ref Stage, 3]]").unwrap(), json!("a-prod-3"));
        assert_eq!(fixture.eval("!Join [',', !Ref Sizes]").unwrap(), json!("a,b,c"));
        assert_eq!(fixture.eval("!Join ['', [a, !Ref AWS::NoValue, b]]").unwrap(), json!("ab"));
        assert_eq!(fixture.eval("!Select [1, !Ref Sizes]").unwrap(), json!("b"));
        assert_eq!(fixture.eval("!Select ['0', [x, y]]").unwrap(), json!("x"));
        assert_eq!(fixture.eval("!Split ['/', 'a/b//c']").unwrap(), json!(["a", "b", "", "c"]));
        assert_eq!(fixture.eval("!Select [2, !Split [':', !GetAtt Orders.Arn]]").unwrap(), json!("sqs"));
        assert!(fixture.error("!Select [5, [a]]").contains("out of range"));
        assert!(fixture.error("!Join ['-']").contains("Fn::Join takes a list of 2 arguments, got 1 arguments"));
        assert!(fixture.error("!Join ['-', [[a]]]").contains("list of strings"));
    }

    #[test]
    fn if_picks_a_branch_and_no_value_removes() {
        let fixture = Fixture::new();
        assert_eq!(fixture.eval("!If [IsProd, big, small]").unwrap(), json!("big"));
        assert_eq!(fixture.eval("!If [IsDev, big, small]").unwrap(), json!("small"));
        assert_eq!(fixture.eval("{keep: 1, drop: !If [IsDev, 5, !Ref AWS::NoValue]}").unwrap(), json!({"keep": 1}));
        // The branch not taken is not evaluated, so it may refer to excluded resources.
        assert_eq!(fixture.eval("!If [IsDev, !Ref Skipped, none]").unwrap(), json!("none"));
        assert!(fixture.error("!If [Nope, a, b]").contains("condition 'Nope'"));
    }

    #[test]
    fn find_in_map_get_azs_base64_json() {
        let fixture = Fixture::new();
        assert_eq!(fixture.eval("!FindInMap [Memory, !Ref Stage, Size]").unwrap(), json!(1024));
        assert!(fixture.error("!FindInMap [Memory, test, Size]").contains("has no key 'test'"));
        assert!(fixture.error("!FindInMap [Nope, a, b]").contains("mapping 'Nope'"));
        assert_eq!(fixture.eval("!GetAZs ''").unwrap(), json!(["eu-west-1a", "eu-west-1b", "eu-west-1c"]));
        assert_eq!(fixture.eval("!Base64 'hello world'").unwrap(), json!("aGVsbG8gd29ybGQ="));
        assert_eq!(fixture.eval("!Base64 'ab'").unwrap(), json!("YWI="));
        assert_eq!(fixture.eval("{Fn::ToJsonString: {a: [1, !Ref Stage]}}").unwrap(), json!("{\"a\":[1,\"prod\"]}"));
        assert_eq!(fixture.eval("{Fn::Length: [1, 2, 3]}").unwrap(), json!(3));
    }

    #[test]
    fn unsupported_and_misplaced_functions_are_named() {
        let fixture = Fixture::new();
        assert!(fixture.error("!ImportValue shared").contains("another stack"));
        assert!(fixture.error("!Equals [a, b]").contains("only be used in the Conditions section"));
        assert!(fixture.error("!Cidr [a, 1, 2]").contains("Fn::Cidr is not supported"));
    }

    #[test]
    fn errors_carry_the_line() {
        let fixture = Fixture::new();
        let node = parse_template_text("a: 1\nb:\n  c: !Ref Missing\n").unwrap();
        let error = fixture.scope().eval(&node, "Root").unwrap_err();
        assert_eq!(error.line, Some(3));
        assert_eq!(error.path, "Root.b.c");
    }

    #[test]
    fn referenced_names_cover_every_form() {
        let fixture = Fixture::new();
        let node = parse_template_text(
            "a: !Ref Stage\nb: !GetAtt Orders.Arn\nc: !Sub '${Worker.Arn} ${AWS::Region} ${X} ${Local}'\n\
             d: !If [IsProd, !Ref Big, !Ref Small]\ne: {Fn::Sub: ['${Local}', {Local: !Ref Other}]}\n",
        )
        .unwrap();
        let mut found = Vec::new();
        referenced_names(&node, &fixture.parameters, &mut found);
        let names: Vec<&str> = found.iter().map(|(name, _)| name.as_str()).collect();
        // `${Worker.Arn}` keeps its dot: the loader decides whether it is a SAM referenceable name.
        assert_eq!(names, ["Orders", "Worker.Arn", "X", "Local", "Big", "Small", "Other"]);
    }

    #[test]
    fn sub_pieces_split_text_variables_and_literals() {
        assert_eq!(
            sub_pieces("a${B}c${!D}${ E.F }"),
            [
                SubPiece::Text("a"),
                SubPiece::Variable("B"),
                SubPiece::Text("c"),
                SubPiece::Literal("D"),
                SubPiece::Variable("E.F"),
            ]
        );
    }
}
