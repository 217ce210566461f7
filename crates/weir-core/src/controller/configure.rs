//! Configuration changes, validated and applied the way Lambda's control
//! plane does, while invocations run: running invocations always finish;
//! new requests see the new limits at once.

use super::Controller;
use crate::api::{ConfigChange, ConfigOutcome, StopReason};
use crate::config::{AccountLimits, RuntimeSettings};
use crate::error::ConfigError;
use crate::ids::{EnvId, FunctionId, Version};
use crate::model::{Alias, EnvState, Function, Pool, ProvisionedConfig};
use crate::time::Instant;

impl Controller {
    pub fn handle_config(&mut self, now: Instant, change: ConfigChange) -> Result<ConfigOutcome, ConfigError> {
        let result = self.apply_config(change);
        self.after_input(now);
        result
    }

    /// Shorthand for [`ConfigChange::CreateFunction`].
    pub fn create_function(
        &mut self,
        now: Instant,
        name: &str,
        settings: RuntimeSettings,
    ) -> Result<FunctionId, ConfigError> {
        match self.handle_config(now, ConfigChange::CreateFunction { name: name.to_owned(), settings })? {
            ConfigOutcome::Created(id) => Ok(id),
            ConfigOutcome::Done => unreachable!("CreateFunction answers Created"),
        }
    }

    fn apply_config(&mut self, change: ConfigChange) -> Result<ConfigOutcome, ConfigError> {
        match change {
            ConfigChange::CreateFunction { name, settings } => self.create(name, settings),
            ConfigChange::UpdateFunction { function, settings } => self.update_latest(function, settings),
            ConfigChange::DeleteFunction { function } => self.delete_function(function),
            ConfigChange::PublishVersion { function, version } => self.publish(function, version),
            ConfigChange::DeleteVersion { function, version } => self.delete_version(function, version),
            ConfigChange::PutAlias { function, name, version } => self.put_alias(function, name, version),
            ConfigChange::DeleteAlias { function, name } => self.delete_alias(function, &name),
            ConfigChange::PutReservedConcurrency { function, reserved } => self.set_reserved(function, Some(reserved)),
            ConfigChange::DeleteReservedConcurrency { function } => self.set_reserved(function, None),
            ConfigChange::PutProvisionedConcurrency { function, qualifier, count } => {
                self.put_provisioned(function, qualifier, count)
            }
            ConfigChange::DeleteProvisionedConcurrency { function, qualifier } => {
                self.delete_provisioned(function, &qualifier)
            }
            ConfigChange::SetAccountLimits(limits) => self.set_account_limits(limits),
        }
        .map(|created| created.map_or(ConfigOutcome::Done, ConfigOutcome::Created))
    }

    fn function_mut(&mut self, function: FunctionId) -> Result<&mut Function, ConfigError> {
        self.functions
            .get_mut(function.index())
            .filter(|f| !f.deleted)
            .ok_or_else(|| ConfigError::not_found("Function not found"))
    }

    fn create(&mut self, name: String, settings: RuntimeSettings) -> Result<Option<FunctionId>, ConfigError> {
        validate_settings(&settings)?;
        if self.names.contains_key(&name) {
            return Err(ConfigError::conflict(format!("Function already exist: {name}")));
        }
        let id = FunctionId(u32::try_from(self.functions.len()).expect("fewer than 2^32 functions"));
        self.functions.push(Function::new(name.clone(), settings));
        self.names.insert(name, id);
        Ok(Some(id))
    }

    fn update_latest(
        &mut self,
        function: FunctionId,
        settings: RuntimeSettings,
    ) -> Result<Option<FunctionId>, ConfigError> {
        validate_settings(&settings)?;
        let f = self.function_mut(function)?;
        let pool = &mut f.pools[0];
        pool.settings = settings;
        pool.generation += 1;
        let idle: Vec<EnvId> = pool.available.clone();
        for env in idle {
            self.stop_env(env, StopReason::Stale);
        }
        // Partly busy environments of the old generation retire when idle.
        Ok(None)
    }

    fn delete_function(&mut self, function: FunctionId) -> Result<Option<FunctionId>, ConfigError> {
        self.function_mut(function)?;
        // Its in-flight invocations finish, now outside any reservation.
        self.reaccount(function, |f| {
            f.deleted = true;
            f.provisioned.clear();
            for pool in &mut f.pools {
                pool.provisioned_target = 0;
            }
        });
        let name = self.functions[function.index()].name.clone();
        self.names.remove(&name);
        self.retire_envs(function, None, StopReason::FunctionDeleted);
        self.watchers.retain(|&w| w != function);
        self.wake_watchers(None, true);
        Ok(None)
    }

    fn publish(&mut self, function: FunctionId, version: u32) -> Result<Option<FunctionId>, ConfigError> {
        let f = self.function_mut(function)?;
        if version == 0 {
            return Err(ConfigError::invalid("Version numbers start at 1"));
        }
        if f.pool_index(Version::Published(version)).is_some() {
            return Err(ConfigError::conflict(format!("Version {version} already exists")));
        }
        let settings = f.pools[0].settings;
        f.pools.push(Pool::new(Version::Published(version), settings));
        Ok(None)
    }

    fn delete_version(&mut self, function: FunctionId, version: u32) -> Result<Option<FunctionId>, ConfigError> {
        let f = self.function_mut(function)?;
        let version = Version::Published(version);
        let Some(index) = f.pool_index(version) else {
            return Err(ConfigError::not_found(format!("Function not found: {}:{version}", f.name)));
        };
        let referencing: Vec<&str> =
            f.aliases.iter().filter(|a| a.version == version).map(|a| a.name.as_str()).collect();
        if !referencing.is_empty() {
            return Err(ConfigError::conflict(format!(
                "Unable to delete version because the following aliases reference it: [{}]",
                referencing.join(", ")
            )));
        }
        let _ = index;
        self.reaccount(function, |f| {
            f.provisioned.retain(|p| p.version != version);
            let index = f.pool_index(version).expect("checked above");
            f.pools[index].provisioned_target = 0;
        });
        self.retire_envs(function, Some(version), StopReason::Stale);
        let f = &mut self.functions[function.index()];
        let index = f.pool_index(version).expect("still there");
        // Busy environments of the version find no pool and retire when done.
        f.pools.remove(index);
        self.wake_watchers(None, true);
        Ok(None)
    }

    fn put_alias(
        &mut self,
        function: FunctionId,
        name: String,
        version: Version,
    ) -> Result<Option<FunctionId>, ConfigError> {
        let f = self.function_mut(function)?;
        if Version::parse(&name).is_some() {
            return Err(ConfigError::invalid(format!("Alias name {name} is a version, not a valid alias name")));
        }
        if f.pool_index(version).is_none() {
            return Err(ConfigError::not_found(format!("Function not found: {}:{version}", f.name)));
        }
        let moving_provisioned = f.provisioned.iter().position(|p| p.qualifier == name);
        if let Some(at) = moving_provisioned {
            let old_version = f.provisioned[at].version;
            if old_version != version {
                if f.provisioned.iter().any(|p| p.version == version) {
                    return Err(ConfigError::conflict(
                        "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version",
                    ));
                }
                if version == Version::Latest {
                    return Err(ConfigError::invalid(
                        "Provisioned Concurrency Configs cannot be applied to unpublished function versions.",
                    ));
                }
                let count = f.provisioned[at].requested;
                f.provisioned[at].version = version;
                let old = f.pool_index(old_version).expect("provisioned versions exist");
                f.pools[old].provisioned_target -= count;
                let new = f.pool_index(version).expect("checked above");
                f.pools[new].provisioned_target += count;
                f.pools[new].provisioned_init_failures = 0;
                self.provisioned_dirty = true;
                self.trim_provisioned(function, old_version);
            }
        }
        let f = &mut self.functions[function.index()];
        match f.aliases.iter_mut().find(|a| a.name == name) {
            Some(alias) => alias.version = version,
            None => f.aliases.push(Alias { name, version }),
        }
        Ok(None)
    }

    fn delete_alias(&mut self, function: FunctionId, name: &str) -> Result<Option<FunctionId>, ConfigError> {
        let f = self.function_mut(function)?;
        let Some(at) = f.aliases.iter().position(|a| a.name == name) else {
            return Err(ConfigError::not_found(format!("Alias not found: {}:{name}", f.name)));
        };
        f.aliases.remove(at);
        if f.provisioned.iter().any(|p| p.qualifier == name) {
            self.delete_provisioned(function, name)?;
        }
        Ok(None)
    }

    fn set_reserved(&mut self, function: FunctionId, reserved: Option<u32>) -> Result<Option<FunctionId>, ConfigError> {
        let limits = self.config.account;
        let held_total = self.held;
        let f = self.function_mut(function)?;
        if let Some(r) = reserved {
            if r < f.provisioned_total() {
                return Err(ConfigError::invalid(format!(
                    "ReservedConcurrentExecutions {r} should not be lower than function's total provisioned concurrency [{}].",
                    f.provisioned_total()
                )));
            }
            let held_after = held_total - f.held() + r;
            if held_after > limits.concurrency_limit.saturating_sub(limits.minimum_unreserved) {
                return Err(ConfigError::unreserved_below_minimum(
                    "ReservedConcurrentExecutions",
                    limits.minimum_unreserved,
                ));
            }
        }
        self.reaccount(function, |f| f.reserved = reserved);
        self.wake_watchers(None, true);
        Ok(None)
    }

    fn put_provisioned(
        &mut self,
        function: FunctionId,
        qualifier: String,
        count: u32,
    ) -> Result<Option<FunctionId>, ConfigError> {
        let limits = self.config.account;
        let held_total = self.held;
        let f = self.function_mut(function)?;
        if count == 0 {
            return Err(ConfigError::invalid(
                "1 validation error detected: Value '0' at 'provisionedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 1",
            ));
        }
        if qualifier == Version::LATEST_NAME {
            return Err(ConfigError::invalid(
                "Provisioned Concurrency Configs cannot be applied to unpublished function versions.",
            ));
        }
        let (version, via_alias) = match Version::parse(&qualifier) {
            Some(v) if f.pool_index(v).is_some() => (v, false),
            Some(_) => return Err(ConfigError::not_found(format!("Function not found: {}:{qualifier}", f.name))),
            None => match f.resolve_alias(&qualifier) {
                Some(v) => (v, true),
                None => return Err(ConfigError::not_found(format!("Alias not found: {}:{qualifier}", f.name))),
            },
        };
        if version == Version::Latest {
            return Err(ConfigError::invalid(
                "Provisioned Concurrency Configs cannot be applied to unpublished function versions.",
            ));
        }
        let other = f.provisioned.iter().find(|p| p.qualifier != qualifier && p.version == version);
        if other.is_some() {
            return Err(ConfigError::conflict(if via_alias {
                "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version"
            } else {
                "Version is pointed by a Provisioned Concurrency alias"
            }));
        }
        let existing = f.provisioned.iter().find(|p| p.qualifier == qualifier).map(|p| p.requested).unwrap_or(0);
        let total_after = f.provisioned_total() - existing + count;
        match f.reserved {
            Some(reserved) if total_after > reserved => {
                return Err(ConfigError::invalid(
                    "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function",
                ));
            }
            Some(_) => {}
            None => {
                let held_after = held_total - f.held() + total_after;
                if held_after > limits.concurrency_limit.saturating_sub(limits.minimum_unreserved) {
                    return Err(ConfigError::unreserved_below_minimum(
                        "ConcurrentExecutions",
                        limits.minimum_unreserved,
                    ));
                }
            }
        }
        self.reaccount(function, |f| {
            match f.provisioned.iter_mut().find(|p| p.qualifier == qualifier) {
                Some(config) => config.requested = count,
                None => f.provisioned.push(ProvisionedConfig { qualifier, version, requested: count }),
            }
            let pool_index = f.pool_index(version).expect("resolved above");
            let pool = &mut f.pools[pool_index];
            pool.provisioned_target = pool.provisioned_target - existing + count;
            pool.provisioned_init_failures = 0;
        });
        self.provisioned_dirty = true;
        self.trim_provisioned(function, version);
        Ok(None)
    }

    fn delete_provisioned(&mut self, function: FunctionId, qualifier: &str) -> Result<Option<FunctionId>, ConfigError> {
        let f = self.function_mut(function)?;
        let Some(at) = f.provisioned.iter().position(|p| p.qualifier == qualifier) else {
            return Err(ConfigError::not_found("No Provisioned Concurrency Config found for this function"));
        };
        let config = f.provisioned[at].clone();
        self.reaccount(function, |f| {
            f.provisioned.remove(at);
            let pool_index = f.pool_index(config.version).expect("provisioned versions exist");
            f.pools[pool_index].provisioned_target -= config.requested;
        });
        self.trim_provisioned(function, config.version);
        self.wake_watchers(None, true);
        Ok(None)
    }

    fn set_account_limits(&mut self, limits: AccountLimits) -> Result<Option<FunctionId>, ConfigError> {
        if self.held > limits.concurrency_limit.saturating_sub(limits.minimum_unreserved) {
            return Err(ConfigError::invalid(format!(
                "Account concurrency limit {} leaves fewer than the minimum unreserved [{}] once reserved and provisioned concurrency ({}) is held.",
                limits.concurrency_limit, limits.minimum_unreserved, self.held
            )));
        }
        self.config.account = limits;
        self.wake_watchers(None, true);
        Ok(None)
    }

    /// Applies a change to a function and keeps the account-wide sums (what
    /// functions hold, what draws on the unreserved pool) in step with it.
    fn reaccount(&mut self, function: FunctionId, change: impl FnOnce(&mut Function)) {
        let f = &mut self.functions[function.index()];
        let (held_before, unreserved_before) = (f.held(), f.unreserved_use());
        change(f);
        let (held_after, unreserved_after) = (f.held(), f.unreserved_use());
        self.held = self.held - held_before + held_after;
        self.unreserved_busy = self.unreserved_busy - unreserved_before + unreserved_after;
    }

    /// Stops provisioned environments of a version beyond its target:
    /// initialising and idle ones now, busy ones when they finish.
    fn trim_provisioned(&mut self, function: FunctionId, version: Version) {
        let f = &self.functions[function.index()];
        let Some(i) = f.pool_index(version) else { return };
        let pool = &f.pools[i];
        let mut surplus = pool.provisioned_alive.saturating_sub(pool.provisioned_target);
        if surplus == 0 {
            return;
        }
        let mut victims: Vec<EnvId> = self
            .envs
            .iter()
            .filter(|(_, e)| {
                e.function == function
                    && e.version == version
                    && e.is_provisioned()
                    && e.state == EnvState::Initializing
            })
            .map(|(key, _)| EnvId(key))
            .collect();
        victims.extend(
            pool.provisioned_available
                .iter()
                .rev()
                .copied()
                .filter(|env| self.envs.get(env.0).is_some_and(|e| e.running.is_empty())),
        );
        for env in victims {
            if surplus == 0 {
                break;
            }
            self.stop_env(env, StopReason::ProvisionedReduced);
            surplus -= 1;
        }
    }

    /// Stops every idle or initialising environment of a function (or of
    /// one version); busy ones retire when their invocations finish.
    fn retire_envs(&mut self, function: FunctionId, version: Option<Version>, reason: StopReason) {
        let victims: Vec<EnvId> = self
            .envs
            .iter()
            .filter(|(_, e)| {
                e.function == function
                    && version.is_none_or(|v| v == e.version)
                    && e.state != EnvState::ShuttingDown
                    && e.running.is_empty()
                    && e.bound.is_none()
            })
            .map(|(key, _)| EnvId(key))
            .collect();
        for env in victims {
            self.stop_env(env, reason);
        }
    }
}

fn validate_settings(settings: &RuntimeSettings) -> Result<(), ConfigError> {
    if !(128..=10_240).contains(&settings.memory_mb) {
        return Err(ConfigError::invalid(format!(
            "1 validation error detected: Value '{}' at 'memorySize' failed to satisfy constraint: Member must have value between 128 and 10240",
            settings.memory_mb
        )));
    }
    if settings.timeout.is_zero() {
        return Err(ConfigError::invalid("Timeout must be at least 1 second"));
    }
    if settings.per_environment_concurrency == 0 {
        return Err(ConfigError::invalid("Per-environment concurrency must be at least 1"));
    }
    Ok(())
}
