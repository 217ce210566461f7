//! SAM `Globals.Function`: merging the global function properties into each
//! `AWS::Serverless::Function` the way SAM does.
//!
//! Owns: the merge rules: mappings merge key by key (the resource wins, recursively, so
//! `Environment.Variables` combine), lists concatenate (globals first), and any other value
//! (scalars, intrinsic functions) set on the resource replaces the global one.
//! Never: evaluates intrinsics (the merge runs on the template as written, as SAM's does).

use crate::node::{Map, Node, Value};

/// `local` (the resource's `Properties`) merged over `global` (`Globals.Function`).
pub(crate) fn merge_globals(global: &Node, local: &Node) -> Node {
    match (&global.value, &local.value) {
        (Value::Map(global_map), Value::Map(local_map))
            if global_map.as_intrinsic().is_none() && local_map.as_intrinsic().is_none() =>
        {
            let mut merged = Map { entries: global_map.entries.clone() };
            for entry in &local_map.entries {
                let value = match global_map.get(&entry.key) {
                    Some(global_value) => merge_globals(global_value, &entry.value),
                    None => entry.value.clone(),
                };
                match merged.get_mut(&entry.key) {
                    Some(slot) => *slot = value,
                    None => merged.insert(entry.key.clone(), entry.key_line, value),
                }
            }
            Node::new(Value::Map(merged), local.line.or(global.line))
        }
        (Value::List(global_items), Value::List(local_items)) => {
            let mut items = global_items.clone();
            items.extend(local_items.iter().cloned());
            Node::new(Value::List(items), local.line)
        }
        _ => local.clone(),
    }
}

/// Properties SAM accepts in `Globals.Function` (others are an error in SAM).
pub(crate) const GLOBAL_FUNCTION_PROPERTIES: &[&str] = &[
    "Handler",
    "Runtime",
    "CodeUri",
    "DeadLetterQueue",
    "Description",
    "MemorySize",
    "Timeout",
    "VpcConfig",
    "Environment",
    "Tags",
    "PropagateTags",
    "Tracing",
    "KmsKeyArn",
    "Layers",
    "AutoPublishAlias",
    "AutoPublishAliasAllProperties",
    "DeploymentPreference",
    "PermissionsBoundary",
    "ReservedConcurrentExecutions",
    "ProvisionedConcurrencyConfig",
    "AssumeRolePolicyDocument",
    "EventInvokeConfig",
    "Architectures",
    "EphemeralStorage",
    "SnapStart",
    "RuntimeManagementConfig",
    "LoggingConfig",
    "RecursiveLoop",
    "SourceKMSKeyArn",
    "CodeSigningConfigArn",
    "FunctionUrlConfig",
    "FileSystemConfigs",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::parse_template_text;

    fn merged(global: &str, local: &str) -> serde_json::Value {
        let global = parse_template_text(global).unwrap();
        let local = parse_template_text(local).unwrap();
        merge_globals(&global, &local).to_json()
    }

    #[test]
    fn maps_merge_lists_concatenate_scalars_override() {
        assert_eq!(
            merged(
                "Timeout: 10\nRuntime: python3.12\nEnvironment: {Variables: {A: global, B: global}}\nLayers: [g]\n",
                "Timeout: 30\nEnvironment: {Variables: {B: local, C: local}}\nLayers: [l]\n",
            ),
            serde_json::json!({
                "Timeout": 30,
                "Runtime": "python3.12",
                "Environment": {"Variables": {"A": "global", "B": "local", "C": "local"}},
                "Layers": ["g", "l"],
            })
        );
    }

    #[test]
    fn intrinsic_functions_are_values_not_maps() {
        assert_eq!(
            merged("CodeUri: {Ref: GlobalCode}\n", "CodeUri: {Fn::Sub: 'src/${X}'}\n"),
            serde_json::json!({"CodeUri": {"Fn::Sub": "src/${X}"}})
        );
    }
}
