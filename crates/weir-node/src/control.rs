//! The control plane: Lambda's function-management API (functions,
//! versions, aliases, concurrency, provisioned concurrency, account
//! settings) over the registry, the core and the store.
//!
//! Each change is serialised by one lock, validated (the core validates
//! every concurrency rule), applied to the core, persisted, and only then
//! acknowledged. Restart replays the persisted records into a fresh core.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use weir_core::{ConfigChange, ConfigError, ConfigErrorKind, ConfigOutcome, FunctionId, ProvisionedStatus, Version};
use weir_store::{CatalogOp, CatalogStore, Expect};
use weir_store_sqlite::SqliteStore;
use weir_wire::AwsError;
use weir_wire::lambda::{self as wire, ArnContext, FunctionConfiguration};

use crate::clock::Clock;
use crate::code::{CodeInfo, CodeStore};
use crate::engine::Engine;
use crate::logs::LogStore;
use crate::registry::{
    AliasRecord, CATALOG_KIND, FunctionConfig, FunctionEntry, FunctionRecord, ProvisionedRecord, Registry,
};

/// Runtimes weir runs.
pub fn runtime_supported(runtime: &str) -> bool {
    matches!(runtime, "provided" | "provided.al2" | "provided.al2023")
        || runtime
            .strip_prefix("python3.")
            .is_some_and(|minor| !minor.is_empty() && minor.bytes().all(|b| b.is_ascii_digit()))
}

/// Lambda's limit on the total size of environment variables.
const MAX_ENVIRONMENT_BYTES: usize = 4 * 1024;

pub struct Control {
    pub registry: Arc<Registry>,
    pub engine: Arc<Engine>,
    pub store: SqliteStore,
    pub code: CodeStore,
    pub logs: Arc<LogStore>,
    pub ctx: ArnContext,
    pub clock: Arc<Clock>,
    pub endpoint_url: String,
    lock: tokio::sync::Mutex<()>,
}

/// A new `$LATEST` configuration from the parts a request may set.
pub struct NewFunction {
    pub name: String,
    pub runtime: String,
    pub handler: String,
    pub role: Option<String>,
    pub description: String,
    pub memory_mb: Option<i64>,
    pub timeout_s: Option<i64>,
    pub environment: BTreeMap<String, String>,
    pub code: CodeInfo,
    pub dead_letter_target_arn: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub publish: bool,
}

pub fn core_error(err: ConfigError) -> AwsError {
    match err.kind {
        ConfigErrorKind::InvalidParameterValue => AwsError::invalid_parameter(err.message),
        ConfigErrorKind::ResourceNotFound => AwsError::not_found(err.message),
        ConfigErrorKind::ResourceConflict => AwsError::conflict(err.message),
    }
}

fn validate_memory(memory: Option<i64>) -> Result<Option<u32>, AwsError> {
    match memory {
        None => Ok(None),
        Some(m) if (128..=10_240).contains(&m) => Ok(Some(m as u32)),
        Some(m) => Err(AwsError::invalid_parameter(format!(
            "1 validation error detected: Value '{m}' at 'memorySize' failed to satisfy constraint: Member must have value less than or equal to 10240 and greater than or equal to 128"
        ))),
    }
}

fn validate_timeout(timeout: Option<i64>) -> Result<Option<u32>, AwsError> {
    match timeout {
        None => Ok(None),
        Some(t) if (1..=900).contains(&t) => Ok(Some(t as u32)),
        Some(t) => Err(AwsError::invalid_parameter(format!(
            "1 validation error detected: Value '{t}' at 'timeout' failed to satisfy constraint: Member must have value less than or equal to 900 and greater than or equal to 1"
        ))),
    }
}

fn validate_runtime(runtime: &str) -> Result<(), AwsError> {
    if runtime_supported(runtime) {
        return Ok(());
    }
    Err(AwsError::invalid_parameter(format!(
        "Runtime {runtime} is not supported by weir; use python3.x, provided, provided.al2 or provided.al2023"
    )))
}

/// A function's dead-letter queue is an SQS queue or an SNS topic.
fn validate_dead_letter_target(arn: &str) -> Result<(), AwsError> {
    match crate::destinations::Target::parse(arn) {
        Some(crate::destinations::Target::Queue { .. } | crate::destinations::Target::Topic { .. }) => Ok(()),
        _ => Err(AwsError::invalid_parameter(format!(
            "The dead-letter target {arn} is invalid: it must be the ARN of an Amazon SQS queue or an Amazon SNS topic."
        ))),
    }
}

fn validate_environment(variables: &BTreeMap<String, String>) -> Result<(), AwsError> {
    let reserved: Vec<&str> =
        variables.keys().map(String::as_str).filter(|k| wire::RESERVED_ENVIRONMENT_VARIABLES.contains(k)).collect();
    if !reserved.is_empty() {
        return Err(AwsError::invalid_parameter(format!(
            "Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: {}",
            reserved.join(", ")
        )));
    }
    let size: usize = variables.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_ENVIRONMENT_BYTES {
        return Err(AwsError::invalid_parameter(
            "Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit.",
        ));
    }
    Ok(())
}

fn validate_handler(runtime: &str, handler: &str) -> Result<(), AwsError> {
    if handler.is_empty() || handler.len() > 128 {
        return Err(AwsError::invalid_parameter(
            "1 validation error detected: Value at 'handler' failed to satisfy constraint: Member must have length between 1 and 128",
        ));
    }
    if runtime.starts_with("python") && !handler.contains('.') {
        return Err(AwsError::invalid_parameter(format!(
            "Handler '{handler}' must be 'module.function' for runtime {runtime}"
        )));
    }
    Ok(())
}

fn new_revision() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Two configurations that would run the same way (Lambda publishes a new
/// version only when code or configuration changed).
fn same_content(a: &FunctionConfig, b: &FunctionConfig) -> bool {
    a.runtime == b.runtime
        && a.handler == b.handler
        && a.memory_mb == b.memory_mb
        && a.timeout_s == b.timeout_s
        && a.environment == b.environment
        && a.code.sha256 == b.code.sha256
        && a.role == b.role
        && a.dead_letter_target_arn == b.dead_letter_target_arn
}

impl Control {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        registry: Arc<Registry>,
        engine: Arc<Engine>,
        store: SqliteStore,
        code: CodeStore,
        logs: Arc<LogStore>,
        ctx: ArnContext,
        clock: Arc<Clock>,
        endpoint_url: String,
    ) -> Self {
        Control { registry, engine, store, code, logs, ctx, clock, endpoint_url, lock: tokio::sync::Mutex::new(()) }
    }

    fn function(&self, name: &str) -> Result<Arc<FunctionEntry>, AwsError> {
        self.registry
            .get(name)
            .ok_or_else(|| AwsError::not_found(format!("Function not found: {}", self.ctx.function_arn(name))))
    }

    fn apply(&self, change: ConfigChange) -> Result<ConfigOutcome, AwsError> {
        self.engine.apply_config(change).map_err(core_error)
    }

    /// Persists a function record (for sibling modules of the control plane).
    pub(crate) async fn persist_record(&self, record: &FunctionRecord) -> Result<(), AwsError> {
        self.persist(record).await
    }

    async fn persist(&self, record: &FunctionRecord) -> Result<(), AwsError> {
        let value = Bytes::from(serde_json::to_vec(record).expect("records serialise"));
        let op = CatalogOp::Put { kind: CATALOG_KIND.into(), key: record.name.clone(), value, expect: Expect::Any };
        self.store.catalog_apply(vec![op]).await.map_err(|e| AwsError::service(format!("storing function: {e}")))?;
        Ok(())
    }

    fn save(&self, id: FunctionId, record: FunctionRecord) {
        self.registry.put(FunctionEntry { id, record });
    }

    // ---- shapes ------------------------------------------------------------

    pub fn configuration(&self, record: &FunctionRecord, version: Version) -> Option<FunctionConfiguration> {
        let config = record.config(version)?;
        let arn = match version {
            Version::Latest => self.ctx.function_arn(&record.name),
            Version::Published(n) => self.ctx.qualified_arn(&record.name, &n.to_string()),
        };
        Some(self.configuration_with_arn(record, config, version, arn))
    }

    fn configuration_with_arn(
        &self,
        record: &FunctionRecord,
        config: &FunctionConfig,
        version: Version,
        function_arn: String,
    ) -> FunctionConfiguration {
        FunctionConfiguration {
            function_name: record.name.clone(),
            function_arn,
            runtime: config.runtime.clone(),
            role: config.role.clone(),
            handler: config.handler.clone(),
            code_size: config.code.size,
            description: config.description.clone(),
            timeout: config.timeout_s,
            memory_size: config.memory_mb,
            last_modified: wire::format_last_modified(config.last_modified_ms),
            code_sha256: config.code.sha256.clone(),
            version: version.to_string(),
            environment: (!config.environment.is_empty())
                .then(|| wire::EnvironmentResponse { variables: config.environment.clone() }),
            dead_letter_config: config
                .dead_letter_target_arn
                .clone()
                .map(|arn| wire::DeadLetterConfig { target_arn: Some(arn) }),
            tracing_config: wire::TracingConfig { mode: "PassThrough".into() },
            revision_id: config.revision_id.clone(),
            state: "Active".into(),
            last_update_status: "Successful".into(),
            package_type: "Zip".into(),
            architectures: vec![std::env::consts::ARCH.replace("aarch64", "arm64")],
            ephemeral_storage: wire::EphemeralStorage { size: 512 },
            logging_config: wire::LoggingConfig {
                log_format: "Text".into(),
                log_group: format!("/aws/lambda/{}", record.name),
            },
        }
    }

    fn alias_configuration(&self, record: &FunctionRecord, alias: &AliasRecord) -> wire::AliasConfiguration {
        wire::AliasConfiguration {
            alias_arn: self.ctx.qualified_arn(&record.name, &alias.name),
            name: alias.name.clone(),
            function_version: alias.version.clone(),
            description: alias.description.clone(),
            revision_id: alias.revision_id.clone(),
        }
    }

    /// Resolves a qualifier to the version it runs, as the core sees it.
    pub fn resolve(&self, entry: &FunctionEntry, qualifier: Option<&str>) -> Result<Version, AwsError> {
        self.engine.read(|core| core.resolve(entry.id, qualifier)).ok_or_else(|| {
            let arn = match qualifier {
                Some(q) => self.ctx.qualified_arn(&entry.record.name, q),
                None => self.ctx.function_arn(&entry.record.name),
            };
            AwsError::not_found(format!("Function not found: {arn}"))
        })
    }

    // ---- functions -------------------------------------------------------

    pub async fn create_function(&self, new: NewFunction) -> Result<FunctionConfiguration, AwsError> {
        let _guard = self.lock.lock().await;
        validate_runtime(&new.runtime)?;
        validate_handler(&new.runtime, &new.handler)?;
        validate_environment(&new.environment)?;
        if let Some(arn) = &new.dead_letter_target_arn {
            validate_dead_letter_target(arn)?;
        }
        let memory_mb = validate_memory(new.memory_mb)?.unwrap_or(128);
        let timeout_s = validate_timeout(new.timeout_s)?.unwrap_or(3);
        if self.registry.get(&new.name).is_some() {
            return Err(AwsError::conflict(format!("Function already exist: {}", new.name)));
        }
        let latest = FunctionConfig {
            runtime: new.runtime,
            handler: new.handler,
            role: new.role.unwrap_or_else(|| format!("arn:aws:iam::{}:role/weir-function", self.ctx.account_id)),
            description: new.description,
            memory_mb,
            timeout_s,
            environment: new.environment,
            code: new.code,
            revision_id: new_revision(),
            last_modified_ms: self.clock.epoch_ms(),
            dead_letter_target_arn: new.dead_letter_target_arn,
        };
        let ConfigOutcome::Created(id) =
            self.apply(ConfigChange::CreateFunction { name: new.name.clone(), settings: latest.settings() })?
        else {
            unreachable!("create answers Created")
        };
        let mut record = FunctionRecord {
            name: new.name,
            latest,
            versions: BTreeMap::new(),
            last_version: 0,
            aliases: BTreeMap::new(),
            reserved: None,
            provisioned: BTreeMap::new(),
            tags: new.tags,
            event_invoke: BTreeMap::new(),
        };
        // With Publish, Lambda answers with the new version's configuration.
        let answered =
            if new.publish { Version::Published(self.publish_into(id, &mut record, None)?) } else { Version::Latest };
        self.persist(&record).await.inspect_err(|_| {
            let _ = self.apply(ConfigChange::DeleteFunction { function: id });
        })?;
        let configuration = self.configuration(&record, answered).expect("answered version exists");
        self.save(id, record);
        Ok(configuration)
    }

    pub fn get_function(&self, name: &str, qualifier: Option<&str>) -> Result<wire::GetFunctionResponse, AwsError> {
        let entry = self.function(name)?;
        let version = self.resolve(&entry, qualifier)?;
        let record = &entry.record;
        let config = record.config(version).expect("resolved versions exist");
        let arn = match qualifier {
            Some(q) => self.ctx.qualified_arn(name, q),
            None => self.ctx.function_arn(name),
        };
        Ok(wire::GetFunctionResponse {
            configuration: self.configuration_with_arn(record, config, version, arn),
            code: wire::FunctionCodeLocation {
                repository_type: "S3".into(),
                location: format!("file://{}", config.code.dir.display()),
            },
            tags: (!record.tags.is_empty()).then(|| record.tags.clone()),
            concurrency: record.reserved.map(|r| wire::Concurrency { reserved_concurrent_executions: r }),
        })
    }

    pub fn get_configuration(&self, name: &str, qualifier: Option<&str>) -> Result<FunctionConfiguration, AwsError> {
        Ok(self.get_function(name, qualifier)?.configuration)
    }

    pub fn list_functions(&self) -> Vec<FunctionConfiguration> {
        self.registry
            .list()
            .iter()
            .map(|entry| {
                let arn = self.ctx.function_arn(&entry.record.name);
                self.configuration_with_arn(&entry.record, &entry.record.latest, Version::Latest, arn)
            })
            .collect()
    }

    pub async fn update_code(
        &self,
        name: &str,
        code: CodeInfo,
        publish: bool,
        revision: Option<&str>,
    ) -> Result<FunctionConfiguration, AwsError> {
        let _guard = self.lock.lock().await;
        let entry = self.function(name)?;
        check_revision(revision, &entry.record.latest)?;
        let mut record = entry.record.clone();
        record.latest.code = code;
        record.latest.revision_id = new_revision();
        record.latest.last_modified_ms = self.clock.epoch_ms();
        self.apply(ConfigChange::UpdateFunction { function: entry.id, settings: record.latest.settings() })?;
        let answered =
            if publish { Version::Published(self.publish_into(entry.id, &mut record, None)?) } else { Version::Latest };
        self.persist(&record).await?;
        let configuration = self.configuration(&record, answered).expect("answered version exists");
        self.save(entry.id, record);
        Ok(configuration)
    }

    pub async fn update_configuration(
        &self,
        name: &str,
        req: wire::UpdateFunctionConfigurationRequest,
    ) -> Result<FunctionConfiguration, AwsError> {
        let _guard = self.lock.lock().await;
        let entry = self.function(name)?;
        check_revision(req.revision_id.as_deref(), &entry.record.latest)?;
        let mut record = entry.record.clone();
        let latest = &mut record.latest;
        if let Some(runtime) = req.runtime {
            validate_runtime(&runtime)?;
            latest.runtime = runtime;
        }
        if let Some(handler) = req.handler {
            latest.handler = handler;
        }
        validate_handler(&latest.runtime, &latest.handler)?;
        if let Some(memory) = validate_memory(req.memory_size)? {
            latest.memory_mb = memory;
        }
        if let Some(timeout) = validate_timeout(req.timeout)? {
            latest.timeout_s = timeout;
        }
        if let Some(environment) = req.environment {
            validate_environment(&environment.variables)?;
            latest.environment = environment.variables;
        }
        if let Some(description) = req.description {
            latest.description = description;
        }
        if let Some(role) = req.role {
            latest.role = role;
        }
        if let Some(dlq) = req.dead_letter_config {
            let target = dlq.target_arn.filter(|a| !a.is_empty());
            if let Some(arn) = &target {
                validate_dead_letter_target(arn)?;
            }
            latest.dead_letter_target_arn = target;
        }
        latest.revision_id = new_revision();
        latest.last_modified_ms = self.clock.epoch_ms();
        self.apply(ConfigChange::UpdateFunction { function: entry.id, settings: record.latest.settings() })?;
        self.persist(&record).await?;
        let configuration = self.configuration(&record, Version::Latest).expect("latest exists");
        self.save(entry.id, record);
        Ok(configuration)
    }

    pub async fn delete_function(&self, name: &str, qualifier: Option<&str>) -> Result<(), AwsError> {
        let _guard = self.lock.lock().await;
        let entry = self.function(name)?;
        match qualifier {
            None => {
                self.apply(ConfigChange::DeleteFunction { function: entry.id })?;
                let op = CatalogOp::Delete { kind: CATALOG_KIND.into(), key: name.into(), expect: Expect::Any };
                self.store.catalog_apply(vec![op]).await.map_err(|e| AwsError::service(e.to_string()))?;
                self.registry.remove(name);
                self.logs.forget(name);
                Ok(())
            }
            Some("$LATEST") => {
                Err(AwsError::invalid_parameter("$LATEST version cannot be deleted without deleting the function."))
            }
            Some(q) => {
                let Some(Version::Published(n)) = Version::parse(q) else {
                    return Err(AwsError::invalid_parameter(
                        "Deletion of aliases is not supported by DeleteFunction; use DeleteAlias.",
                    ));
                };
                if !entry.record.versions.contains_key(&n) {
                    return Err(AwsError::not_found(format!(
                        "Function not found: {}",
                        self.ctx.qualified_arn(name, q)
                    )));
                }
                self.apply(ConfigChange::DeleteVersion { function: entry.id, version: n })?;
                let mut record = entry.record.clone();
                record.versions.remove(&n);
                record.provisioned.remove(q);
                self.persist(&record).await?;
                self.save(entry.id, record);
                Ok(())
            }
        }
    }

    // ---- versions --------------------------------------------------------

    /// Publishes `$LATEST` into `record` (or returns the last version if
    /// nothing changed since it was published).
    fn publish_into(
        &self,
        id: FunctionId,
        record: &mut FunctionRecord,
        description: Option<String>,
    ) -> Result<u32, AwsError> {
        if let Some((&last, config)) = record.versions.last_key_value()
            && same_content(config, &record.latest)
        {
            return Ok(last);
        }
        let code = self.code.snapshot(&record.latest.code)?;
        let version = record.last_version + 1;
        self.apply(ConfigChange::PublishVersion { function: id, version })?;
        let mut config = record.latest.clone();
        config.code = code;
        if let Some(description) = description {
            config.description = description;
        }
        config.revision_id = new_revision();
        record.versions.insert(version, config);
        record.last_version = version;
        Ok(version)
    }

    pub async fn publish_version(
        &self,
        name: &str,
        req: wire::PublishVersionRequest,
    ) -> Result<FunctionConfiguration, AwsError> {
        let _guard = self.lock.lock().await;
        let entry = self.function(name)?;
        check_revision(req.revision_id.as_deref(), &entry.record.latest)?;
        if let Some(sha) = &req.code_sha256
            && sha != &entry.record.latest.code.sha256
        {
            return Err(AwsError::invalid_parameter(format!(
                "CodeSHA256 ({sha}) is different from current CodeSHA256 in $LATEST ({}). Please try again with the CodeSHA256 in $LATEST.",
                entry.record.latest.code.sha256
            )));
        }
        let mut record = entry.record.clone();
        let version = self.publish_into(entry.id, &mut record, req.description)?;
        self.persist(&record).await?;
        let configuration = self.configuration(&record, Version::Published(version)).expect("published");
        self.save(entry.id, record);
        Ok(configuration)
    }

    pub fn list_versions(&self, name: &str) -> Result<Vec<FunctionConfiguration>, AwsError> {
        let entry = self.function(name)?;
        let record = &entry.record;
        let mut versions = vec![self.configuration(record, Version::Latest).expect("latest")];
        versions.extend(record.versions.keys().filter_map(|&n| self.configuration(record, Version::Published(n))));
        Ok(versions)
    }

    // ---- aliases -----------------------------------------------------------

    fn parse_alias_version(&self, record: &FunctionRecord, text: &str) -> Result<Version, AwsError> {
        match Version::parse(text) {
            Some(Version::Latest) => Ok(Version::Latest),
            Some(Version::Published(n)) if record.versions.contains_key(&n) => Ok(Version::Published(n)),
            _ => {
                Err(AwsError::not_found(format!("Function not found: {}", self.ctx.qualified_arn(&record.name, text))))
            }
        }
    }

    pub async fn create_alias(
        &self,
        name: &str,
        req: wire::CreateAliasRequest,
    ) -> Result<wire::AliasConfiguration, AwsError> {
        let _guard = self.lock.lock().await;
        let entry = self.function(name)?;
        if entry.record.aliases.contains_key(&req.name) {
            return Err(AwsError::conflict(format!(
                "Alias already exists: {}",
                self.ctx.qualified_arn(name, &req.name)
            )));
        }
        if req.name.is_empty()
            || req.name.len() > 128
            || Version::parse(&req.name).is_some()
            || !req.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(AwsError::invalid_parameter(format!("Invalid alias name: {}", req.name)));
        }
        let version = self.parse_alias_version(&entry.record, &req.function_version)?;
        self.apply(ConfigChange::PutAlias { function: entry.id, name: req.name.clone(), version })?;
        let mut record = entry.record.clone();
        let alias = AliasRecord {
            name: req.name.clone(),
            version: version.to_string(),
            description: req.description.unwrap_or_default(),
            revision_id: new_revision(),
        };
        record.aliases.insert(req.name, alias.clone());
        self.persist(&record).await?;
        let out = self.alias_configuration(&record, &alias);
        self.save(entry.id, record);
        Ok(out)
    }

    pub fn get_alias(&self, name: &str, alias: &str) -> Result<wire::AliasConfiguration, AwsError> {
        let entry = self.function(name)?;
        let record = &entry.record;
        let found = record
            .aliases
            .get(alias)
            .ok_or_else(|| AwsError::not_found(format!("Alias not found: {}", self.ctx.qualified_arn(name, alias))))?;
        Ok(self.alias_configuration(record, found))
    }

    pub fn list_aliases(&self, name: &str) -> Result<Vec<wire::AliasConfiguration>, AwsError> {
        let entry = self.function(name)?;
        Ok(entry.record.aliases.values().map(|a| self.alias_configuration(&entry.record, a)).collect())
    }

    pub async fn update_alias(
        &self,
        name: &str,
        alias: &str,
        req: wire::UpdateAliasRequest,
    ) -> Result<wire::AliasConfiguration, AwsError> {
        let _guard = self.lock.lock().await;
        let entry = self.function(name)?;
        let mut record = entry.record.clone();
        let current =
            record.aliases.get(alias).cloned().ok_or_else(|| {
                AwsError::not_found(format!("Alias not found: {}", self.ctx.qualified_arn(name, alias)))
            })?;
        if let Some(rev) = &req.revision_id
            && rev != &current.revision_id
        {
            return Err(AwsError::new(
                "PreconditionFailedException",
                412,
                "The Revision Id provided does not match the latest Revision Id. Call the GetAlias API to retrieve the latest Revision Id",
            ));
        }
        let mut updated = current.clone();
        if let Some(text) = &req.function_version {
            let version = self.parse_alias_version(&record, text)?;
            self.apply(ConfigChange::PutAlias { function: entry.id, name: alias.to_string(), version })?;
            updated.version = version.to_string();
        }
        if let Some(description) = req.description {
            updated.description = description;
        }
        updated.revision_id = new_revision();
        record.aliases.insert(alias.to_string(), updated.clone());
        self.persist(&record).await?;
        let out = self.alias_configuration(&record, &updated);
        self.save(entry.id, record);
        Ok(out)
    }

    pub async fn delete_alias(&self, name: &str, alias: &str) -> Result<(), AwsError> {
        let _guard = self.lock.lock().await;
        let entry = self.function(name)?;
        if !entry.record.aliases.contains_key(alias) {
            return Ok(()); // Lambda answers 204 for an alias that is already gone
        }
        self.apply(ConfigChange::DeleteAlias { function: entry.id, name: alias.to_string() })?;
        let mut record = entry.record.clone();
        record.aliases.remove(alias);
        record.provisioned.remove(alias);
        record.event_invoke.remove(alias);
        self.persist(&record).await?;
        self.save(entry.id, record);
        Ok(())
    }

    // ---- concurrency -----------------------------------------------------

    pub async fn put_concurrency(&self, name: &str, reserved: Option<i64>) -> Result<u32, AwsError> {
        let _guard = self.lock.lock().await;
        let entry = self.function(name)?;
        let reserved = match reserved {
            Some(r) if r >= 0 && r <= i64::from(u32::MAX) => r as u32,
            Some(r) => {
                return Err(AwsError::invalid_parameter(format!(
                    "1 validation error detected: Value '{r}' at 'reservedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 0"
                )));
            }
            None => return Err(AwsError::invalid_parameter("ReservedConcurrentExecutions is required")),
        };
        self.apply(ConfigChange::PutReservedConcurrency { function: entry.id, reserved })?;
        let mut record = entry.record.clone();
        record.reserved = Some(reserved);
        self.persist(&record).await?;
        self.save(entry.id, record);
        Ok(reserved)
    }

    pub fn get_concurrency(&self, name: &str) -> Result<Option<u32>, AwsError> {
        Ok(self.function(name)?.record.reserved)
    }

    pub async fn delete_concurrency(&self, name: &str) -> Result<(), AwsError> {
        let _guard = self.lock.lock().await;
        let entry = self.function(name)?;
        self.apply(ConfigChange::DeleteReservedConcurrency { function: entry.id })?;
        let mut record = entry.record.clone();
        record.reserved = None;
        self.persist(&record).await?;
        self.save(entry.id, record);
        Ok(())
    }

    fn provisioned_shape(
        &self,
        record: &FunctionRecord,
        qualifier: &str,
        status: ProvisionedStatus,
    ) -> wire::ProvisionedConcurrencyConfig {
        let last_modified = record.provisioned.get(qualifier).map_or(0, |p| p.last_modified_ms);
        wire::ProvisionedConcurrencyConfig {
            function_arn: Some(self.ctx.qualified_arn(&record.name, qualifier)),
            requested_provisioned_concurrent_executions: status.requested,
            available_provisioned_concurrent_executions: status.allocated,
            allocated_provisioned_concurrent_executions: status.allocated,
            status: status.state.as_str().into(),
            status_reason: (status.state == weir_core::ProvisionedState::Failed)
                .then(|| "FUNCTION_ERROR_INIT_FAILURE: the function failed to initialise".to_string()),
            last_modified: wire::format_last_modified(last_modified),
        }
    }

    pub async fn put_provisioned(
        &self,
        name: &str,
        qualifier: Option<&str>,
        count: Option<i64>,
    ) -> Result<wire::ProvisionedConcurrencyConfig, AwsError> {
        let _guard = self.lock.lock().await;
        let entry = self.function(name)?;
        let qualifier = qualifier
            .ok_or_else(|| AwsError::invalid_parameter("Qualifier is required for provisioned concurrency"))?;
        let count = match count {
            Some(c) if c >= 1 && c <= i64::from(u32::MAX) => c as u32,
            other => {
                return Err(AwsError::invalid_parameter(format!(
                    "1 validation error detected: Value '{}' at 'provisionedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 1",
                    other.unwrap_or(0)
                )));
            }
        };
        self.apply(ConfigChange::PutProvisionedConcurrency { function: entry.id, qualifier: qualifier.into(), count })?;
        let mut record = entry.record.clone();
        record
            .provisioned
            .insert(qualifier.into(), ProvisionedRecord { requested: count, last_modified_ms: self.clock.epoch_ms() });
        self.persist(&record).await?;
        let status = self.engine.read(|core| core.provisioned_status(entry.id, qualifier)).expect("just configured");
        let mut shape = self.provisioned_shape(&record, qualifier, status);
        shape.function_arn = None;
        self.save(entry.id, record);
        Ok(shape)
    }

    pub fn get_provisioned(&self, name: &str, qualifier: &str) -> Result<wire::ProvisionedConcurrencyConfig, AwsError> {
        let entry = self.function(name)?;
        let status =
            self.engine.read(|core| core.provisioned_status(entry.id, qualifier)).ok_or_else(provisioned_not_found)?;
        let mut shape = self.provisioned_shape(&entry.record, qualifier, status);
        shape.function_arn = None;
        Ok(shape)
    }

    pub fn list_provisioned(&self, name: &str) -> Result<Vec<wire::ProvisionedConcurrencyConfig>, AwsError> {
        let entry = self.function(name)?;
        let qualifiers = self.engine.read(|core| core.provisioned_qualifiers(entry.id));
        Ok(qualifiers
            .iter()
            .filter_map(|q| {
                let status = self.engine.read(|core| core.provisioned_status(entry.id, q))?;
                Some(self.provisioned_shape(&entry.record, q, status))
            })
            .collect())
    }

    pub async fn delete_provisioned(&self, name: &str, qualifier: &str) -> Result<(), AwsError> {
        let _guard = self.lock.lock().await;
        let entry = self.function(name)?;
        self.engine
            .apply_config(ConfigChange::DeleteProvisionedConcurrency {
                function: entry.id,
                qualifier: qualifier.into(),
            })
            .map_err(|e| {
                if e.kind == ConfigErrorKind::ResourceNotFound { provisioned_not_found() } else { core_error(e) }
            })?;
        let mut record = entry.record.clone();
        record.provisioned.remove(qualifier);
        self.persist(&record).await?;
        self.save(entry.id, record);
        Ok(())
    }

    pub fn account_settings(&self) -> wire::GetAccountSettingsResponse {
        let account = self.engine.read(|core| core.account_stats());
        let functions = self.registry.list();
        let total_code: u64 = functions
            .iter()
            .map(|f| f.record.latest.code.size + f.record.versions.values().map(|v| v.code.size).sum::<u64>())
            .sum();
        wire::GetAccountSettingsResponse {
            account_limit: wire::AccountLimit {
                total_code_size: 80_530_636_800,
                code_size_unzipped: 262_144_000,
                code_size_zipped: 52_428_800,
                concurrent_executions: account.concurrency_limit,
                unreserved_concurrent_executions: account.unreserved_limit,
            },
            account_usage: wire::AccountUsage { total_code_size: total_code, function_count: functions.len() as u64 },
        }
    }

    // ---- restart ---------------------------------------------------------

    /// Replays every persisted function into the core (at startup).
    pub async fn load(&self) -> Result<usize, AwsError> {
        let entries = self
            .store
            .catalog_list(CATALOG_KIND, "")
            .await
            .map_err(|e| AwsError::service(format!("reading the catalog: {e}")))?;
        let mut loaded = 0;
        for entry in entries {
            let record: FunctionRecord = match serde_json::from_slice(&entry.value) {
                Ok(record) => record,
                Err(err) => {
                    tracing::error!(function = entry.key, error = %err, "unreadable function record skipped");
                    continue;
                }
            };
            match self.replay(&record) {
                Ok(id) => {
                    // Provisioned environments start as soon as their
                    // configuration is applied: the registry must know the
                    // function by then.
                    self.save(id, record.clone());
                    self.replay_provisioned(id, &record);
                    loaded += 1;
                }
                Err(err) => tracing::error!(function = record.name, error = %err, "function could not be restored"),
            }
        }
        Ok(loaded)
    }

    fn replay(&self, record: &FunctionRecord) -> Result<FunctionId, AwsError> {
        let mut latest_settings = record.latest.settings();
        let ConfigOutcome::Created(id) =
            self.apply(ConfigChange::CreateFunction { name: record.name.clone(), settings: latest_settings })?
        else {
            unreachable!()
        };
        // Versions were snapshots of $LATEST: replay them in order.
        for (&n, config) in &record.versions {
            if config.settings() != latest_settings {
                latest_settings = config.settings();
                self.apply(ConfigChange::UpdateFunction { function: id, settings: latest_settings })?;
            }
            self.apply(ConfigChange::PublishVersion { function: id, version: n })?;
        }
        if latest_settings != record.latest.settings() {
            self.apply(ConfigChange::UpdateFunction { function: id, settings: record.latest.settings() })?;
        }
        for alias in record.aliases.values() {
            let version = Version::parse(&alias.version).unwrap_or(Version::Latest);
            self.apply(ConfigChange::PutAlias { function: id, name: alias.name.clone(), version })?;
        }
        if let Some(reserved) = record.reserved
            && let Err(err) = self.apply(ConfigChange::PutReservedConcurrency { function: id, reserved })
        {
            tracing::warn!(function = record.name, error = %err, "reserved concurrency not restored");
        }
        Ok(id)
    }

    fn replay_provisioned(&self, id: FunctionId, record: &FunctionRecord) {
        for (qualifier, provisioned) in &record.provisioned {
            let change = ConfigChange::PutProvisionedConcurrency {
                function: id,
                qualifier: qualifier.clone(),
                count: provisioned.requested,
            };
            if let Err(err) = self.apply(change) {
                tracing::warn!(function = record.name, qualifier, error = %err, "provisioned concurrency not restored");
            }
        }
    }
}

fn provisioned_not_found() -> AwsError {
    AwsError::new(
        "ProvisionedConcurrencyConfigNotFoundException",
        404,
        "No Provisioned Concurrency Config found for this function",
    )
}

fn check_revision(expected: Option<&str>, latest: &FunctionConfig) -> Result<(), AwsError> {
    match expected {
        Some(rev) if rev != latest.revision_id => Err(AwsError::new(
            "PreconditionFailedException",
            412,
            "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
        )),
        _ => Ok(()),
    }
}
