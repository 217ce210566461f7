//! The `Conditions` section: each named condition evaluated once to true or false.
//!
//! Owns: `Fn::Equals`, `Fn::Not`, `Fn::And`, `Fn::Or` and `Condition` references between named
//! conditions (a cycle is a problem naming the conditions in it).
//! Never: evaluates resources (conditions may only use parameters, pseudo parameters and
//! mappings, so they are all known before any resource is resolved).

use std::collections::HashMap;

use crate::error::{Diagnostics, Problem};
use crate::intrinsics::Scope;
use crate::node::{Map, Node, Value};

/// Evaluates every named condition. Problems go to `diags`; a condition with a problem is
/// left out of the result.
pub(crate) fn evaluate_conditions(
    section: Option<&Node>,
    scope: &Scope<'_>,
    diags: &Diagnostics,
) -> HashMap<String, bool> {
    let empty = Map::default();
    let definitions = match section {
        None => &empty,
        Some(node) => match node.as_map() {
            Some(map) => map,
            None => {
                diags.error(Problem::new(
                    "Conditions",
                    node.line,
                    format!("must be a mapping of condition names, got {}", node.kind()),
                ));
                &empty
            }
        },
    };
    let mut evaluator = ConditionEvaluator { definitions, scope, values: HashMap::new(), in_progress: Vec::new() };
    for entry in &definitions.entries {
        let path = format!("Conditions.{}", entry.key);
        diags.record_line(&path, entry.key_line);
        if let Err(problem) = evaluator.condition(&entry.key, entry.key_line, &path) {
            diags.error(problem);
        }
    }
    evaluator.values
}

struct ConditionEvaluator<'a> {
    definitions: &'a Map,
    scope: &'a Scope<'a>,
    values: HashMap<String, bool>,
    in_progress: Vec<String>,
}

impl ConditionEvaluator<'_> {
    fn condition(&mut self, name: &str, line: Option<u32>, path: &str) -> Result<bool, Problem> {
        if let Some(value) = self.values.get(name) {
            return Ok(*value);
        }
        if let Some(start) = self.in_progress.iter().position(|pending| pending == name) {
            let mut cycle = self.in_progress[start..].to_vec();
            cycle.push(name.to_owned());
            return Err(Problem::new(
                path,
                line,
                format!("circular dependency between conditions: {}", cycle.join(" -> ")),
            ));
        }
        let Some(definition) = self.definitions.get(name) else {
            return Err(Problem::new(
                path,
                line,
                format!("condition '{name}' is not defined in the Conditions section"),
            ));
        };
        self.in_progress.push(name.to_owned());
        let result = self.expression(definition, &format!("Conditions.{name}"));
        self.in_progress.pop();
        let value = result?;
        self.values.insert(name.to_owned(), value);
        Ok(value)
    }

    fn expression(&mut self, node: &Node, path: &str) -> Result<bool, Problem> {
        let fail = |message: String| Err(Problem::new(path, node.line, message));
        let Some(map) = node.as_map() else {
            return fail(format!(
                "expected a condition function (Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition), got {}",
                node.kind()
            ));
        };
        if let [entry] = map.entries.as_slice()
            && entry.key == "Condition"
        {
            let Some(name) = entry.value.as_str() else {
                return fail("Condition takes a condition name".to_owned());
            };
            return self.condition(name, node.line, path);
        }
        let Some((function, argument)) = map.as_intrinsic() else {
            return fail(
                "expected a condition function (Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition), got a mapping"
                    .to_owned(),
            );
        };
        let items = argument.as_list().unwrap_or_default();
        match function {
            "Fn::Equals" => {
                let [left, right] = items else {
                    return fail(format!("Fn::Equals takes 2 values, got {}", describe(argument)));
                };
                let left = comparable(self.scope.eval(left, path)?);
                let right = comparable(self.scope.eval(right, path)?);
                Ok(left == right)
            }
            "Fn::Not" => {
                let [inner] = items else {
                    return fail(format!("Fn::Not takes a list of 1 condition, got {}", describe(argument)));
                };
                Ok(!self.expression(inner, path)?)
            }
            "Fn::And" | "Fn::Or" => {
                if !(2..=10).contains(&items.len()) {
                    return fail(format!("{function} takes 2 to 10 conditions, got {}", describe(argument)));
                }
                let mut values = Vec::with_capacity(items.len());
                for item in items {
                    values.push(self.expression(item, path)?);
                }
                Ok(if function == "Fn::And" {
                    values.iter().all(|value| *value)
                } else {
                    values.iter().any(|value| *value)
                })
            }
            _ => fail(format!(
                "{function} is not a condition function (Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition)"
            )),
        }
    }
}

fn describe(argument: &Node) -> String {
    match argument.as_list() {
        Some(items) => format!("{} items", items.len()),
        None => argument.kind().to_owned(),
    }
}

/// Values compare as CloudFormation compares them: as strings (`5` equals `'5'`).
fn comparable(value: Option<Node>) -> Option<Vec<String>> {
    let value = value?;
    match &value.value {
        Value::List(items) => Some(items.iter().map(|item| item.scalar_string().unwrap_or_default()).collect()),
        _ => Some(vec![value.scalar_string().unwrap_or_default()]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::DeployContext;
    use crate::node::parse_template_text;
    use crate::parameters::{Parameters, resolve_parameters};
    use crate::refs::ResourceTable;

    fn evaluate(parameters_yaml: &str, conditions_yaml: &str) -> (HashMap<String, bool>, Vec<Problem>) {
        let diags = Diagnostics::default();
        let parameters_node = parse_template_text(parameters_yaml).unwrap();
        let parameters: Parameters = resolve_parameters(Some(&parameters_node), &[], &diags);
        let ctx = DeployContext::new("us-east-1", "000000000000", "stack", "http://localhost:9000");
        let resources = ResourceTable::default();
        let no_conditions = HashMap::new();
        let scope = Scope {
            ctx: &ctx,
            parameters: &parameters,
            mappings: None,
            conditions: &no_conditions,
            resources: &resources,
            diags: &diags,
        };
        let section = parse_template_text(conditions_yaml).unwrap();
        let values = evaluate_conditions(Some(&section), &scope, &diags);
        let problems = diags.check().err().map(|error| error.problems().to_vec()).unwrap_or_default();
        (values, problems)
    }

    #[test]
    fn equals_not_and_or_and_condition_references() {
        let (values, problems) = evaluate(
            "Stage: {Type: String, Default: prod}\nSize: {Type: Number, Default: 5}\n",
            "IsProd: !Equals [!Ref Stage, prod]\n\
             IsDev: !Not [!Condition IsProd]\n\
             FiveAsNumber: !Equals [!Ref Size, 5]\n\
             Both: !And [!Condition IsProd, {Condition: FiveAsNumber}]\n\
             Either: {Fn::Or: [{Condition: IsDev}, {Fn::Equals: [!Ref AWS::Region, us-east-1]}]}\n\
             Neither: !And [!Condition IsDev, !Condition IsProd]\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert!(values["IsProd"]);
        assert!(!values["IsDev"]);
        assert!(values["FiveAsNumber"]);
        assert!(values["Both"]);
        assert!(values["Either"]);
        assert!(!values["Neither"]);
    }

    #[test]
    fn a_cycle_names_the_conditions() {
        let (_, problems) = evaluate("{}", "A: !Not [!Condition B]\nB: !Not [!Condition A]\n");
        assert_eq!(problems[0].message, "circular dependency between conditions: A -> B -> A");
        // Reported where the cycle closes: B's reference to A.
        assert_eq!((problems[0].path.as_str(), problems[0].line), ("Conditions.B", Some(2)));
    }

    #[test]
    fn malformed_conditions_are_problems() {
        let (_, problems) = evaluate("{}", "A: !Equals [a]\nB: !Condition Missing\nC: !And [!Equals [a, a]]\nD: yes\n");
        let messages: Vec<&str> = problems.iter().map(|problem| problem.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "Fn::Equals takes 2 values, got 1 items",
                "condition 'Missing' is not defined in the Conditions section",
                "Fn::And takes 2 to 10 conditions, got 1 items",
                "expected a condition function (Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition), got a string",
            ]
        );
    }
}
