//! What `Ref` and `Fn::GetAtt` of each resource return, as resources get resolved.
//!
//! Owns: [`ResourceTable`] (logical id → state and attribute values), the SAM-generated ids
//! (`FnAliaslive`, `Fn.Alias`, `FnVersion`, `Fn.Version`, `FnRole`, `FnSqsEvent`) and which
//! function owns them, and the return values CloudFormation documents for each type.
//! Never: evaluates templates; the loader fills the table in dependency order.

use std::collections::HashMap;

/// The state of one logical id.
#[derive(Debug, Clone)]
pub(crate) enum Slot {
    /// Declared, not resolved yet.
    Pending { resource_type: String },
    /// Its `Condition` is false, so it does not exist.
    Excluded { resource_type: String, condition: String },
    /// Resolved: its return values are known.
    Resolved(ReturnValues),
    /// A type weir does not deploy; references get placeholders and a warning.
    NotDeployed { resource_type: String },
    /// Building it failed (already reported); references resolve to a placeholder silently.
    Failed,
}

/// `Ref` and `Fn::GetAtt` values of a resolved resource.
#[derive(Debug, Clone)]
pub(crate) struct ReturnValues {
    pub resource_type: String,
    /// `Err(reason)` when the value only exists after deployment.
    pub reference: Result<String, String>,
    pub attributes: Vec<(&'static str, Result<String, String>)>,
}

impl ReturnValues {
    pub fn function(resource_type: &str, name: &str, arn: &str) -> Self {
        Self {
            resource_type: resource_type.to_owned(),
            reference: Ok(name.to_owned()),
            attributes: vec![("Arn", Ok(arn.to_owned()))],
        }
    }

    pub fn queue(name: &str, arn: &str, url: &str) -> Self {
        Self {
            resource_type: "AWS::SQS::Queue".to_owned(),
            reference: Ok(url.to_owned()),
            attributes: vec![
                ("Arn", Ok(arn.to_owned())),
                ("QueueName", Ok(name.to_owned())),
                ("QueueUrl", Ok(url.to_owned())),
            ],
        }
    }

    pub fn alias(alias_arn: &str) -> Self {
        Self {
            resource_type: "AWS::Lambda::Alias".to_owned(),
            reference: Ok(alias_arn.to_owned()),
            attributes: vec![("AliasArn", Ok(alias_arn.to_owned()))],
        }
    }

    pub fn version(version_arn: &str, version: u32) -> Self {
        Self {
            resource_type: "AWS::Lambda::Version".to_owned(),
            reference: Ok(version_arn.to_owned()),
            attributes: vec![("Version", Ok(version.to_string())), ("FunctionArn", Ok(version_arn.to_owned()))],
        }
    }

    pub fn event_source_mapping() -> Self {
        let reason = "an event source mapping's UUID is assigned when it is created; weir \
                      cannot put it into the template"
            .to_owned();
        Self {
            resource_type: "AWS::Lambda::EventSourceMapping".to_owned(),
            reference: Err(reason.clone()),
            attributes: vec![("Id", Err(reason.clone())), ("EventSourceMappingArn", Err(reason))],
        }
    }

    pub fn event_invoke_config() -> Self {
        Self {
            resource_type: "AWS::Lambda::EventInvokeConfig".to_owned(),
            reference: Err("AWS::Lambda::EventInvokeConfig has no Ref value in weir".to_owned()),
            attributes: Vec::new(),
        }
    }
}

/// Every logical id the template defines (declared and SAM-generated), with its state.
#[derive(Debug, Default)]
pub(crate) struct ResourceTable {
    slots: HashMap<String, Slot>,
    /// SAM referenceable properties: `Fn.Alias` → `FnAliaslive`, `Fn.Version` → `FnVersion`.
    reference_aliases: HashMap<String, String>,
    /// Generated logical id → the SAM function that generates it.
    owners: HashMap<String, String>,
}

impl ResourceTable {
    pub fn declare(&mut self, logical_id: &str, slot: Slot) {
        self.slots.insert(logical_id.to_owned(), slot);
    }

    /// A resource SAM generates from `owner` (and, optionally, the `Owner.Property` name SAM
    /// lets templates `Ref` it by).
    pub fn declare_generated(&mut self, logical_id: &str, owner: &str, referenceable_as: Option<&str>, slot: Slot) {
        self.slots.insert(logical_id.to_owned(), slot);
        self.owners.insert(logical_id.to_owned(), owner.to_owned());
        if let Some(name) = referenceable_as {
            self.reference_aliases.insert(name.to_owned(), logical_id.to_owned());
        }
    }

    pub fn resolve(&mut self, logical_id: &str, values: ReturnValues) {
        self.slots.insert(logical_id.to_owned(), Slot::Resolved(values));
    }

    pub fn fail(&mut self, logical_id: &str) {
        self.slots.insert(logical_id.to_owned(), Slot::Failed);
    }

    /// The slot for a logical id or a SAM referenceable name (`Fn.Alias`), with the logical id.
    pub fn lookup(&self, name: &str) -> Option<(&str, &Slot)> {
        let logical_id = self.reference_aliases.get(name).map_or(name, String::as_str);
        self.slots.get_key_value(logical_id).map(|(id, slot)| (id.as_str(), slot))
    }

    pub fn is_reference_alias(&self, name: &str) -> bool {
        self.reference_aliases.contains_key(name)
    }

    /// The logical id whose resolution produces `name` (generated ids → their SAM function).
    pub fn resolution_owner<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        let (logical_id, _) = self.lookup(name)?;
        Some(self.owners.get(logical_id).map_or(logical_id, String::as_str))
    }
}
