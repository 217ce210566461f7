//! The function catalog: every function with its `$LATEST` configuration,
//! published versions, aliases, concurrency settings and tags, as the node
//! persists them (one JSON document per function in the store's catalog).
//!
//! Plain data plus lookups; the rules of changing it live in `control`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use weir_core::{FunctionId, RuntimeSettings, Version};

use crate::code::CodeInfo;

/// Catalog kind under which functions are stored.
pub const CATALOG_KIND: &str = "function";

/// One version's configuration (`$LATEST`'s, or a published snapshot).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionConfig {
    pub runtime: String,
    pub handler: String,
    pub role: String,
    pub description: String,
    pub memory_mb: u32,
    pub timeout_s: u32,
    pub environment: BTreeMap<String, String>,
    pub code: CodeInfo,
    pub revision_id: String,
    pub last_modified_ms: u64,
    #[serde(default)]
    pub dead_letter_target_arn: Option<String>,
}

impl FunctionConfig {
    pub fn settings(&self) -> RuntimeSettings {
        RuntimeSettings {
            memory_mb: self.memory_mb,
            timeout: std::time::Duration::from_secs(u64::from(self.timeout_s)),
            per_environment_concurrency: 1,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasRecord {
    pub name: String,
    /// `$LATEST` or a version number.
    pub version: String,
    pub description: String,
    pub revision_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionedRecord {
    pub requested: u32,
    pub last_modified_ms: u64,
}

/// Everything persisted about one function.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionRecord {
    pub name: String,
    pub latest: FunctionConfig,
    pub versions: BTreeMap<u32, FunctionConfig>,
    /// The last version number handed out (versions are never renumbered).
    pub last_version: u32,
    pub aliases: BTreeMap<String, AliasRecord>,
    pub reserved: Option<u32>,
    pub provisioned: BTreeMap<String, ProvisionedRecord>,
    pub tags: BTreeMap<String, String>,
    /// Asynchronous invocation settings per qualifier (`$LATEST`, version, alias).
    #[serde(default)]
    pub event_invoke: BTreeMap<String, EventInvokeRecord>,
}

/// `PutFunctionEventInvokeConfig` settings of one qualifier.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventInvokeRecord {
    pub max_retry_attempts: Option<u32>,
    pub max_event_age_s: Option<u32>,
    pub on_success: Option<String>,
    pub on_failure: Option<String>,
    pub last_modified_ms: u64,
}

impl EventInvokeRecord {
    pub fn policy(&self) -> weir_core::async_retry::AsyncRetryPolicy {
        let default = weir_core::async_retry::AsyncRetryPolicy::default();
        weir_core::async_retry::AsyncRetryPolicy {
            max_retry_attempts: self.max_retry_attempts.unwrap_or(default.max_retry_attempts),
            max_event_age: self
                .max_event_age_s
                .map_or(default.max_event_age, |s| std::time::Duration::from_secs(u64::from(s))),
        }
    }
}

impl FunctionRecord {
    /// The asynchronous settings that apply to an invocation of `qualifier`
    /// (an unqualified invocation uses `$LATEST`'s).
    pub fn event_invoke_for(&self, qualifier: Option<&str>) -> EventInvokeRecord {
        self.event_invoke.get(qualifier.unwrap_or("$LATEST")).cloned().unwrap_or_default()
    }

    pub fn config(&self, version: Version) -> Option<&FunctionConfig> {
        match version {
            Version::Latest => Some(&self.latest),
            Version::Published(n) => self.versions.get(&n),
        }
    }
}

/// A function as the node holds it: its record and its id in the core.
#[derive(Clone, Debug)]
pub struct FunctionEntry {
    pub id: FunctionId,
    pub record: FunctionRecord,
}

/// The in-memory catalog, read on every invocation and environment start.
#[derive(Default)]
pub struct Registry {
    inner: RwLock<Maps>,
}

#[derive(Default)]
struct Maps {
    by_name: HashMap<String, Arc<FunctionEntry>>,
    by_id: HashMap<FunctionId, Arc<FunctionEntry>>,
}

impl Registry {
    pub fn get(&self, name: &str) -> Option<Arc<FunctionEntry>> {
        self.inner.read().expect("registry lock").by_name.get(name).cloned()
    }

    pub fn by_id(&self, id: FunctionId) -> Option<Arc<FunctionEntry>> {
        self.inner.read().expect("registry lock").by_id.get(&id).cloned()
    }

    pub fn put(&self, entry: FunctionEntry) {
        let entry = Arc::new(entry);
        let mut maps = self.inner.write().expect("registry lock");
        maps.by_id.insert(entry.id, entry.clone());
        maps.by_name.insert(entry.record.name.clone(), entry);
    }

    pub fn remove(&self, name: &str) -> Option<Arc<FunctionEntry>> {
        let mut maps = self.inner.write().expect("registry lock");
        let entry = maps.by_name.remove(name)?;
        maps.by_id.remove(&entry.id);
        Some(entry)
    }

    /// All functions, ordered by name.
    pub fn list(&self) -> Vec<Arc<FunctionEntry>> {
        let maps = self.inner.read().expect("registry lock");
        let mut all: Vec<_> = maps.by_name.values().cloned().collect();
        all.sort_by(|a, b| a.record.name.cmp(&b.record.name));
        all
    }

    pub fn len(&self) -> usize {
        self.inner.read().expect("registry lock").by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
