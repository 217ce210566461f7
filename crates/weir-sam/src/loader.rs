//! From template text to [`Plan`]: the phases of loading, in order.
//!
//! 1. parse (YAML or JSON) into a [`Node`] tree;
//! 2. read the sections;
//! 3. resolve parameters;
//! 4. evaluate conditions;
//! 5. declare every resource (SAM `Globals` merged, plus the ids SAM generates);
//! 6. order resources by their references (a cycle is a problem naming them);
//! 7. resolve and build each resource in that order;
//! 8. resolve outputs;
//! 9. validate the plan.
//!
//! Problems are collected within a phase and reported together; a problem in the first phases
//! (up to the resource order) stops loading, since later phases would only report consequences.
//! Problems found while building resources do not: outputs are resolved and the plan is
//! validated on what could be built, so every problem is reported in one run. The error keeps
//! the warnings and the not-deployed resources found so far.
//!
//! Owns: the phases and the resource order.
//! Never: reads files other than the template, or talks to weir.

use std::collections::HashMap;
use std::path::Path;

use crate::conditions::evaluate_conditions;
use crate::context::DeployContext;
use crate::error::{Diagnostics, Problem, TemplateError};
use crate::globals::{GLOBAL_FUNCTION_PROPERTIES, merge_globals};
use crate::intrinsics::{Scope, referenced_names};
use crate::node::{Map, Node, parse_template_text};
use crate::parameters::{Parameters, resolve_parameters};
use crate::plan::{NotDeployed, OutputValue, Plan};
use crate::refs::{ResourceTable, Slot};
use crate::resources::{Builder, ResolvedResource, ResourceKind};
use crate::validate::{order_queues, validate_plan};

/// The `Transform` that makes a template a SAM template.
pub const SERVERLESS_TRANSFORM: &str = "AWS::Serverless-2016-10-31";

/// Reads the template at `path` and loads it; code paths are relative to the template's folder.
pub fn load_template(path: &Path, overrides: &[(String, String)], ctx: &DeployContext) -> Result<Plan, TemplateError> {
    let read_error = |source| TemplateError::Read { path: path.to_owned(), source };
    let text = std::fs::read_to_string(path).map_err(read_error)?;
    let absolute = std::path::absolute(path).map_err(read_error)?;
    let base_dir = absolute.parent().unwrap_or(Path::new("/"));
    load_template_str(&text, base_dir, overrides, ctx)
}

/// Loads template `text`; relative code paths are resolved against `base_dir` (which should be
/// absolute, so the plan's paths are).
pub fn load_template_str(
    text: &str,
    base_dir: &Path,
    overrides: &[(String, String)],
    ctx: &DeployContext,
) -> Result<Plan, TemplateError> {
    let root = parse_template_text(text).map_err(|error| TemplateError::Syntax {
        format: error.format,
        line: error.line,
        column: error.column,
        message: error.message,
    })?;
    let diags = Diagnostics::default();
    let Some(root_map) = root.as_map() else {
        return Err(TemplateError::Invalid {
            problems: vec![Problem::new(
                "Template",
                root.line,
                format!("a template is a mapping with a Resources section, got {}", root.kind()),
            )],
            warnings: Vec::new(),
            not_deployed: Vec::new(),
        });
    };
    let sections = read_sections(root_map, &diags);
    let parameters = resolve_parameters(sections.parameters, overrides, &diags);
    diags.check()?;

    let mut table = ResourceTable::default();
    let no_conditions = HashMap::new();
    let conditions = evaluate_conditions(
        sections.conditions,
        &Scope {
            ctx,
            parameters: &parameters,
            mappings: sections.mappings,
            conditions: &no_conditions,
            resources: &table,
            diags: &diags,
        },
        &diags,
    );
    diags.check()?;

    let declared = declare_resources(&sections, ctx, &parameters, &conditions, &mut table, &diags);
    let declared_not_deployed: Vec<NotDeployed> =
        declared.iter().filter(|declaration| declaration.included).flat_map(|d| d.not_deployed.clone()).collect();
    diags.check_with(&declared_not_deployed)?;
    let order = resolution_order(&declared, &table, &parameters, &diags);
    diags.check_with(&declared_not_deployed)?;

    let mut builder = Builder::new(ctx, base_dir, &diags);
    for index in order {
        let declaration = &declared[index];
        let properties = {
            let scope = Scope {
                ctx,
                parameters: &parameters,
                mappings: sections.mappings,
                conditions: &conditions,
                resources: &table,
                diags: &diags,
            };
            resolve_properties(declaration, &scope, &diags)
        };
        let produced = match &properties {
            Ok(properties) => builder.build(&ResolvedResource {
                logical_id: &declaration.logical_id,
                resource_type: &declaration.resource_type,
                kind: declaration.kind,
                properties: properties.as_ref(),
                auto_publish_alias: declaration.auto_publish_alias.as_deref(),
            }),
            Err(()) => Vec::new(),
        };
        let mut resolved: Vec<&str> = Vec::new();
        for (logical_id, values) in &produced {
            table.resolve(logical_id, values.clone());
            resolved.push(logical_id);
        }
        for logical_id in std::iter::once(&declaration.logical_id).chain(&declaration.generated) {
            let pending = matches!(table.lookup(logical_id), Some((_, Slot::Pending { .. })));
            if pending && !resolved.contains(&logical_id.as_str()) {
                table.fail(logical_id);
            }
        }
    }
    let outputs = resolve_outputs(
        sections.outputs,
        &Scope {
            ctx,
            parameters: &parameters,
            mappings: sections.mappings,
            conditions: &conditions,
            resources: &table,
            diags: &diags,
        },
        &diags,
    );

    // Problems of single resources do not stop here: the checks across resources run on what
    // could be built, so one run reports every problem (values refused above are skipped by
    // those checks rather than replaced by their defaults).
    let properties_paths = std::mem::take(&mut builder.properties_paths);
    let mut plan = Plan {
        description: sections.description,
        functions: builder.functions,
        queues: builder.queues,
        event_source_mappings: builder.event_source_mappings,
        versions: builder.versions,
        aliases: builder.aliases,
        event_invoke_configs: builder.event_invoke_configs,
        outputs,
        not_deployed: builder.not_deployed,
        warnings: Vec::new(),
    };
    order_queues(&mut plan, &properties_paths, &diags);
    validate_plan(&plan, &properties_paths, ctx, &diags);
    diags.check_with(&plan.not_deployed)?;
    plan.warnings = diags.take_warnings();
    Ok(plan)
}

/// The top-level sections of a template.
struct Sections<'a> {
    description: Option<String>,
    serverless: bool,
    global_function: Option<&'a Node>,
    parameters: Option<&'a Node>,
    mappings: Option<&'a Map>,
    conditions: Option<&'a Node>,
    resources: Option<&'a Map>,
    outputs: Option<&'a Node>,
}

fn read_sections<'a>(root: &'a Map, diags: &Diagnostics) -> Sections<'a> {
    for entry in &root.entries {
        diags.record_line(&entry.key, entry.key_line);
        match entry.key.as_str() {
            "AWSTemplateFormatVersion"
            | "Description"
            | "Metadata"
            | "Transform"
            | "Globals"
            | "Parameters"
            | "Mappings"
            | "Conditions"
            | "Resources"
            | "Outputs" => {}
            "Rules" => diags.warn("Rules", entry.key_line, "Rules are not evaluated by weir"),
            other => diags.warn(other, entry.key_line, format_args!("unknown top-level section '{other}'; ignored")),
        }
    }
    let mut transforms = Vec::new();
    if let Some(transform) = root.entry("Transform") {
        match &transform.value.value {
            crate::node::Value::List(items) => {
                transforms.extend(items.iter().filter_map(Node::scalar_string));
            }
            _ => transforms.extend(transform.value.scalar_string()),
        }
        for name in &transforms {
            if name != SERVERLESS_TRANSFORM {
                diags.warn(
                    "Transform",
                    transform.key_line,
                    format_args!("transform {name} is not supported by weir; functions it adds will fail to resolve"),
                );
            }
        }
    }
    let mapping = |key: &str| -> Option<&'a Map> {
        let node = root.get(key)?;
        match node.as_map() {
            Some(map) => Some(map),
            None => {
                diags.error(Problem::new(key, node.line, format!("{key} must be a mapping, got {}", node.kind())));
                None
            }
        }
    };
    let resources = mapping("Resources");
    if resources.is_none_or(|resources| resources.entries.is_empty()) && !diags.has_errors() {
        diags.error(Problem::new("Resources", None, "a template needs a Resources section with at least one resource"));
    }
    let mut global_function = None;
    if let Some(globals) = mapping("Globals") {
        for entry in &globals.entries {
            let path = format!("Globals.{}", entry.key);
            if entry.key == "Function" {
                global_function = Some(&entry.value);
                if let Some(properties) = entry.value.as_map() {
                    for property in &properties.entries {
                        if !GLOBAL_FUNCTION_PROPERTIES.contains(&property.key.as_str()) {
                            diags.error(Problem::new(
                                format!("{path}.{}", property.key),
                                property.key_line,
                                format!(
                                    "'{}' is not a supported property of Globals.Function (SAM refuses it)",
                                    property.key
                                ),
                            ));
                        }
                    }
                } else {
                    diags.error(Problem::new(&path, entry.value.line, "Globals.Function must be a mapping"));
                }
            } else {
                diags.warn(
                    &path,
                    entry.key_line,
                    format_args!("Globals.{} is not applied: weir deploys only functions from Globals", entry.key),
                );
            }
        }
    }
    Sections {
        description: root.get("Description").and_then(Node::scalar_string),
        serverless: transforms.iter().any(|name| name == SERVERLESS_TRANSFORM),
        global_function,
        parameters: root.get("Parameters"),
        mappings: mapping("Mappings"),
        conditions: root.get("Conditions"),
        resources,
        outputs: root.get("Outputs"),
    }
}

/// One resource as declared (SAM `Globals` merged), before resolution.
struct Declared {
    logical_id: String,
    resource_type: String,
    kind: ResourceKind,
    properties: Option<Node>,
    depends_on: Vec<(String, Option<u32>)>,
    auto_publish_alias: Option<String>,
    /// Logical ids SAM generates from it.
    generated: Vec<String>,
    /// The resource itself, or the SAM events of it, that weir does not deploy.
    not_deployed: Vec<NotDeployed>,
    included: bool,
}

const RESOURCE_ATTRIBUTES: &[&str] = &[
    "Type",
    "Properties",
    "Condition",
    "DependsOn",
    "Metadata",
    "DeletionPolicy",
    "UpdateReplacePolicy",
    "UpdatePolicy",
    "CreationPolicy",
];

fn declare_resources(
    sections: &Sections<'_>,
    ctx: &DeployContext,
    parameters: &Parameters,
    conditions: &HashMap<String, bool>,
    table: &mut ResourceTable,
    diags: &Diagnostics,
) -> Vec<Declared> {
    let mut declared = Vec::new();
    let Some(resources) = sections.resources else {
        return declared;
    };
    for entry in &resources.entries {
        let logical_id = entry.key.as_str();
        let path = format!("Resources.{logical_id}");
        let line = entry.key_line.or(entry.value.line);
        diags.record_line(&path, line);
        let problem = |message: String| diags.error(Problem::new(&path, line, message));
        if logical_id.is_empty() || !logical_id.chars().all(|c| c.is_ascii_alphanumeric()) {
            problem(format!("logical id '{logical_id}' must contain only letters and digits"));
            continue;
        }
        if parameters.contains(logical_id) {
            problem(format!("'{logical_id}' is both a parameter and a resource; names must be unique"));
            continue;
        }
        let Some(definition) = entry.value.as_map() else {
            problem(format!("a resource must be a mapping with a Type, got {}", entry.value.kind()));
            continue;
        };
        for attribute in definition.keys() {
            if !RESOURCE_ATTRIBUTES.contains(&attribute) {
                diags.warn(&path, line, format_args!("unknown resource attribute '{attribute}'; ignored"));
            }
        }
        let Some(resource_type) = definition.get("Type").and_then(Node::as_str) else {
            problem("Type is required (e.g. AWS::Serverless::Function)".to_owned());
            continue;
        };
        let kind = ResourceKind::of(resource_type);
        if resource_type.starts_with("AWS::Serverless::") && !sections.serverless {
            problem(format!("{resource_type} needs `Transform: {SERVERLESS_TRANSFORM}` at the top of the template"));
            continue;
        }
        let condition = match definition.get("Condition") {
            None => None,
            Some(node) => match node.as_str() {
                Some(name) if conditions.contains_key(name) => Some((name.to_owned(), conditions[name])),
                Some(name) => {
                    diags.error(Problem::new(
                        format!("{path}.Condition"),
                        node.line,
                        format!("condition '{name}' is not defined in the Conditions section"),
                    ));
                    continue;
                }
                None => {
                    diags.error(Problem::new(
                        format!("{path}.Condition"),
                        node.line,
                        "Condition must be a condition name",
                    ));
                    continue;
                }
            },
        };
        let included = condition.as_ref().is_none_or(|(_, value)| *value);
        let depends_on = match definition.get("DependsOn") {
            None => Vec::new(),
            Some(node) => {
                let names = match &node.value {
                    crate::node::Value::List(items) => {
                        items.iter().map(|item| item.as_str().map(str::to_owned)).collect()
                    }
                    _ => node.as_str().map(|name| vec![name.to_owned()]),
                };
                match names {
                    Some(names) => names.into_iter().map(|name| (name, node.line)).collect(),
                    None => {
                        diags.error(Problem::new(
                            format!("{path}.DependsOn"),
                            node.line,
                            "DependsOn must be a logical id or a list of them",
                        ));
                        Vec::new()
                    }
                }
            }
        };
        let mut properties = definition.get("Properties").cloned();
        if kind == ResourceKind::ServerlessFunction
            && let Some(global) = sections.global_function
        {
            properties = Some(match properties {
                Some(local) => merge_globals(global, &local),
                None => global.clone(),
            });
        }
        let slot = |resource_type: &str| match &condition {
            Some((name, false)) => Slot::Excluded { resource_type: resource_type.to_owned(), condition: name.clone() },
            _ if kind == ResourceKind::NotDeployed => Slot::NotDeployed { resource_type: resource_type.to_owned() },
            _ => Slot::Pending { resource_type: resource_type.to_owned() },
        };
        table.declare(logical_id, slot(resource_type));

        let mut auto_publish_alias = None;
        let mut generated = Vec::new();
        let mut not_deployed = Vec::new();
        if kind == ResourceKind::NotDeployed {
            not_deployed
                .push(NotDeployed { logical_id: logical_id.to_owned(), resource_type: resource_type.to_owned() });
        }
        if kind == ResourceKind::ServerlessFunction {
            let property_map = properties.as_ref().and_then(Node::as_map);
            if let Some(node) = property_map.and_then(|map| map.get("AutoPublishAlias")) {
                let scope = Scope { ctx, parameters, mappings: sections.mappings, conditions, resources: table, diags };
                let alias_path = format!("{path}.Properties.AutoPublishAlias");
                match scope.eval(node, &alias_path) {
                    Ok(Some(value)) => match value.scalar_string() {
                        Some(alias) if !alias.is_empty() && alias.chars().all(|c| c.is_ascii_alphanumeric()) => {
                            auto_publish_alias = Some(alias);
                        }
                        _ => diags.error(Problem::new(
                            alias_path,
                            node.line,
                            format!("AutoPublishAlias must be an alphanumeric alias name, got {}", value.to_json()),
                        )),
                    },
                    Ok(None) => {}
                    Err(problem) => diags.error(problem),
                }
            }
            let mut generate = |generated_id: String,
                                referenceable_as: Option<String>,
                                generated_type: &str,
                                not_deployed: bool| {
                if resources.get(&generated_id).is_some() {
                    diags.error(Problem::new(
                        &path,
                        line,
                        format!("SAM generates a resource named {generated_id} from {logical_id}, which the template also declares"),
                    ));
                    return;
                }
                let generated_slot = match slot(generated_type) {
                    Slot::Pending { resource_type } if not_deployed => Slot::NotDeployed { resource_type },
                    other => other,
                };
                table.declare_generated(&generated_id, logical_id, referenceable_as.as_deref(), generated_slot);
                generated.push(generated_id);
            };
            // SAM's implicit role; a template declaring that id itself keeps its own resource.
            let role_id = format!("{logical_id}Role");
            if property_map.is_none_or(|map| map.get("Role").is_none()) && resources.get(&role_id).is_none() {
                generate(role_id, None, "AWS::IAM::Role", true);
            }
            if let Some(alias) = &auto_publish_alias {
                generate(
                    format!("{logical_id}Alias{alias}"),
                    Some(format!("{logical_id}.Alias")),
                    "AWS::Lambda::Alias",
                    false,
                );
                generate(
                    format!("{logical_id}Version"),
                    Some(format!("{logical_id}.Version")),
                    "AWS::Lambda::Version",
                    false,
                );
            }
            if let Some(events) = property_map.and_then(|map| map.get("Events")).and_then(Node::as_map) {
                for event in &events.entries {
                    let event_type =
                        event.value.as_map().and_then(|map| map.get("Type")).and_then(Node::as_str).unwrap_or("");
                    let is_sqs = event_type == "SQS";
                    if !is_sqs && !event_type.is_empty() {
                        not_deployed.push(NotDeployed {
                            logical_id: format!("{logical_id}{}", event.key),
                            resource_type: format!("{event_type} event of {logical_id}"),
                        });
                    }
                    let generated_type = if is_sqs {
                        "AWS::Lambda::EventSourceMapping".to_owned()
                    } else {
                        format!("{event_type} event")
                    };
                    generate(format!("{logical_id}{}", event.key), None, &generated_type, !is_sqs);
                }
            }
        }
        declared.push(Declared {
            logical_id: logical_id.to_owned(),
            resource_type: resource_type.to_owned(),
            kind,
            properties,
            depends_on,
            auto_publish_alias,
            generated,
            not_deployed,
            included,
        });
    }
    declared
}

/// Indices of the included resources in an order where each comes after everything it
/// references (template order otherwise). A cycle is a problem naming its resources.
fn resolution_order(
    declared: &[Declared],
    table: &ResourceTable,
    parameters: &Parameters,
    diags: &Diagnostics,
) -> Vec<usize> {
    let index_of: HashMap<&str, usize> = declared
        .iter()
        .enumerate()
        .filter(|(_, declaration)| declaration.included)
        .map(|(index, declaration)| (declaration.logical_id.as_str(), index))
        .collect();
    let mut dependencies: Vec<Vec<usize>> = vec![Vec::new(); declared.len()];
    for (index, declaration) in declared.iter().enumerate() {
        if !declaration.included {
            continue;
        }
        let mut names = Vec::new();
        if let Some(properties) = &declaration.properties {
            referenced_names(properties, parameters, &mut names);
        }
        for (name, line) in &declaration.depends_on {
            if table.lookup(name).is_none() {
                diags.error(Problem::new(
                    format!("Resources.{}.DependsOn", declaration.logical_id),
                    *line,
                    format!("DependsOn names '{name}', which is not a resource of this template"),
                ));
            }
        }
        names.extend(declaration.depends_on.iter().cloned());
        for (name, _) in names {
            let owner = table.resolution_owner(&name).or_else(|| {
                let (resource, _) = name.split_once('.')?;
                table.resolution_owner(resource)
            });
            if let Some(&dependency) = owner.and_then(|owner| index_of.get(owner))
                && !dependencies[index].contains(&dependency)
            {
                dependencies[index].push(dependency);
            }
        }
    }

    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Visiting,
        Done,
    }
    fn visit(
        index: usize,
        dependencies: &[Vec<usize>],
        marks: &mut [Mark],
        stack: &mut Vec<usize>,
        order: &mut Vec<usize>,
    ) -> Result<(), Vec<usize>> {
        match marks[index] {
            Mark::Done => return Ok(()),
            Mark::Visiting => {
                let start = stack.iter().position(|entry| *entry == index).unwrap_or(0);
                let mut cycle = stack[start..].to_vec();
                cycle.push(index);
                return Err(cycle);
            }
            Mark::New => {}
        }
        marks[index] = Mark::Visiting;
        stack.push(index);
        for &dependency in &dependencies[index] {
            visit(dependency, dependencies, marks, stack, order)?;
        }
        stack.pop();
        marks[index] = Mark::Done;
        order.push(index);
        Ok(())
    }

    let mut marks = vec![Mark::New; declared.len()];
    let mut order = Vec::new();
    for (index, declaration) in declared.iter().enumerate() {
        if !declaration.included {
            continue;
        }
        let mut stack = Vec::new();
        if let Err(cycle) = visit(index, &dependencies, &mut marks, &mut stack, &mut order) {
            let names: Vec<&str> = cycle.iter().map(|index| declared[*index].logical_id.as_str()).collect();
            diags.error_at(
                &format!("Resources.{}", names[0]),
                format!("circular dependency between resources: {}", names.join(" -> ")),
            );
            return Vec::new();
        }
    }
    order
}

/// Evaluates each property of `declaration`; `Err` after reporting problems.
fn resolve_properties(declaration: &Declared, scope: &Scope<'_>, diags: &Diagnostics) -> Result<Option<Node>, ()> {
    let Some(properties) = &declaration.properties else {
        return Ok(None);
    };
    let path = format!("Resources.{}.Properties", declaration.logical_id);
    let Some(map) = properties.as_map() else {
        diags.error(Problem::new(
            &path,
            properties.line,
            format!("Properties must be a mapping, got {}", properties.kind()),
        ));
        return Err(());
    };
    if map.as_intrinsic().is_some() {
        diags.error(Problem::new(&path, properties.line, "Properties must be a mapping, not an intrinsic function"));
        return Err(());
    }
    scope.eval_reporting(properties, &path)
}

fn resolve_outputs(section: Option<&Node>, scope: &Scope<'_>, diags: &Diagnostics) -> Vec<OutputValue> {
    let mut outputs = Vec::new();
    let Some(section) = section else {
        return outputs;
    };
    let Some(section) = section.as_map() else {
        diags.error(Problem::new(
            "Outputs",
            section.line,
            format!("Outputs must be a mapping, got {}", section.kind()),
        ));
        return outputs;
    };
    for entry in &section.entries {
        let path = format!("Outputs.{}", entry.key);
        let line = entry.key_line.or(entry.value.line);
        let Some(definition) = entry.value.as_map() else {
            diags.error(Problem::new(&path, line, "an output must be a mapping with a Value"));
            continue;
        };
        for key in definition.keys() {
            if !["Value", "Description", "Export", "Condition"].contains(&key) {
                diags.warn(&path, line, format_args!("unknown output attribute '{key}'; ignored"));
            }
        }
        if let Some(condition) = definition.get("Condition") {
            match condition.as_str().and_then(|name| scope.conditions.get(name)) {
                Some(true) => {}
                Some(false) => continue,
                None => {
                    diags.error(Problem::new(
                        format!("{path}.Condition"),
                        condition.line,
                        "Condition must name a condition of the Conditions section",
                    ));
                    continue;
                }
            }
        }
        let Some(value) = definition.get("Value") else {
            diags.error(Problem::new(&path, line, "Value is required"));
            continue;
        };
        let value_path = format!("{path}.Value");
        let value = match scope.eval(value, &value_path) {
            Ok(Some(resolved)) => match (&resolved.value, resolved.scalar_string()) {
                (_, Some(text)) => text,
                (crate::node::Value::List(items), None) => {
                    match items.iter().map(Node::scalar_string).collect::<Option<Vec<_>>>() {
                        Some(items) => items.join(","),
                        None => {
                            diags.error(Problem::new(
                                value_path,
                                value.line,
                                "Value must be a string or a list of strings",
                            ));
                            continue;
                        }
                    }
                }
                _ => {
                    diags.error(Problem::new(
                        value_path,
                        value.line,
                        format!("Value must be a string, got {}", resolved.kind()),
                    ));
                    continue;
                }
            },
            Ok(None) => {
                diags.error(Problem::new(value_path, value.line, "Value cannot be AWS::NoValue"));
                continue;
            }
            Err(problem) => {
                diags.error(problem);
                continue;
            }
        };
        let description = definition.get("Description").and_then(|node| {
            scope
                .eval_string(node, &format!("{path}.Description"), "Description")
                .map_err(|problem| diags.error(problem))
                .ok()
        });
        let export_name =
            definition.get("Export").and_then(Node::as_map).and_then(|export| export.get("Name")).and_then(|node| {
                scope
                    .eval_string(node, &format!("{path}.Export.Name"), "Export.Name")
                    .map_err(|problem| diags.error(problem))
                    .ok()
            });
        outputs.push(OutputValue { logical_id: entry.key.clone(), value, description, export_name });
    }
    outputs
}
