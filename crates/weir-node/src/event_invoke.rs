//! `PutFunctionEventInvokeConfig` and friends: the retry limits and
//! destinations of asynchronous invocations, per qualifier.

use weir_core::Version;
use weir_wire::AwsError;
use weir_wire::lambda::{self as wire, DestinationTarget};

use crate::control::Control;
use crate::destinations::Target;
use crate::registry::EventInvokeRecord;

/// Which of Put (replace) and Update (merge) is asked for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Put,
    Update,
}

/// Destinations: a function, queue, topic or bus; a bucket for failures
/// only (as on Lambda).
fn validate_destination(arn: &str, on_failure: bool) -> Result<(), AwsError> {
    match Target::parse(arn) {
        None => Err(AwsError::invalid_parameter(format!("The destination ARN {arn} is invalid."))),
        Some(Target::Bucket { .. }) if !on_failure => Err(AwsError::invalid_parameter(format!(
            "The destination ARN {arn} is invalid: an Amazon S3 bucket can only be an OnFailure destination."
        ))),
        Some(_) => Ok(()),
    }
}

impl Control {
    fn qualifier_exists(&self, name: &str, qualifier: &str) -> Result<(), AwsError> {
        let entry = self
            .registry
            .get(name)
            .ok_or_else(|| AwsError::not_found(format!("Function not found: {}", self.ctx.function_arn(name))))?;
        match Version::parse(qualifier) {
            Some(Version::Latest) => Ok(()),
            Some(Version::Published(n)) if entry.record.versions.contains_key(&n) => Ok(()),
            None if entry.record.aliases.contains_key(qualifier) => Ok(()),
            _ => Err(AwsError::not_found(format!("Function not found: {}", self.ctx.qualified_arn(name, qualifier)))),
        }
    }

    fn event_invoke_shape(&self, name: &str, qualifier: &str, record: &EventInvokeRecord) -> wire::EventInvokeConfig {
        let target = |arn: &Option<String>| Some(DestinationTarget { destination: arn.clone() });
        wire::EventInvokeConfig {
            last_modified: record.last_modified_ms as f64 / 1000.0,
            function_arn: self.ctx.qualified_arn(name, qualifier),
            maximum_retry_attempts: record.max_retry_attempts,
            maximum_event_age_in_seconds: record.max_event_age_s,
            destination_config: wire::DestinationConfig {
                on_success: target(&record.on_success),
                on_failure: target(&record.on_failure),
            },
        }
    }

    pub async fn put_event_invoke(
        &self,
        name: &str,
        qualifier: Option<&str>,
        req: wire::EventInvokeConfigRequest,
        mode: Mode,
    ) -> Result<wire::EventInvokeConfig, AwsError> {
        let qualifier = qualifier.unwrap_or("$LATEST");
        self.qualifier_exists(name, qualifier)?;
        let entry = self.registry.get(name).expect("checked above");
        let mut record = entry.record.clone();
        let current = record.event_invoke.get(qualifier).cloned();
        if mode == Mode::Update && current.is_none() {
            return Err(AwsError::not_found(format!(
                "The function {} doesn't have an EventInvokeConfig",
                self.ctx.qualified_arn(name, qualifier)
            )));
        }
        let mut config = match mode {
            Mode::Put => EventInvokeRecord::default(),
            Mode::Update => current.unwrap_or_default(),
        };
        if let Some(attempts) = req.maximum_retry_attempts {
            if !(0..=2).contains(&attempts) {
                return Err(AwsError::invalid_parameter(format!(
                    "1 validation error detected: Value '{attempts}' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value less than or equal to 2"
                )));
            }
            config.max_retry_attempts = Some(attempts as u32);
        }
        if let Some(age) = req.maximum_event_age_in_seconds {
            if !(60..=21_600).contains(&age) {
                return Err(AwsError::invalid_parameter(format!(
                    "1 validation error detected: Value '{age}' at 'maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value between 60 and 21600"
                )));
            }
            config.max_event_age_s = Some(age as u32);
        }
        if let Some(destinations) = req.destination_config {
            if let Some(on_success) = destinations.on_success {
                config.on_success = on_success.destination.filter(|d| !d.is_empty());
            }
            if let Some(on_failure) = destinations.on_failure {
                config.on_failure = on_failure.destination.filter(|d| !d.is_empty());
            }
        }
        if let Some(arn) = &config.on_success {
            validate_destination(arn, false)?;
        }
        if let Some(arn) = &config.on_failure {
            validate_destination(arn, true)?;
        }
        config.last_modified_ms = self.clock.epoch_ms();
        record.event_invoke.insert(qualifier.to_string(), config.clone());
        self.persist_record(&record).await?;
        self.registry.put(crate::registry::FunctionEntry { id: entry.id, record });
        Ok(self.event_invoke_shape(name, qualifier, &config))
    }

    pub fn get_event_invoke(&self, name: &str, qualifier: Option<&str>) -> Result<wire::EventInvokeConfig, AwsError> {
        let qualifier = qualifier.unwrap_or("$LATEST");
        self.qualifier_exists(name, qualifier)?;
        let entry = self.registry.get(name).expect("checked above");
        let config = entry.record.event_invoke.get(qualifier).ok_or_else(|| {
            AwsError::not_found(format!(
                "The function {} doesn't have an EventInvokeConfig",
                self.ctx.qualified_arn(name, qualifier)
            ))
        })?;
        Ok(self.event_invoke_shape(name, qualifier, config))
    }

    pub fn list_event_invoke(&self, name: &str) -> Result<Vec<wire::EventInvokeConfig>, AwsError> {
        let entry = self
            .registry
            .get(name)
            .ok_or_else(|| AwsError::not_found(format!("Function not found: {}", self.ctx.function_arn(name))))?;
        Ok(entry.record.event_invoke.iter().map(|(q, c)| self.event_invoke_shape(name, q, c)).collect())
    }

    pub async fn delete_event_invoke(&self, name: &str, qualifier: Option<&str>) -> Result<(), AwsError> {
        let qualifier = qualifier.unwrap_or("$LATEST");
        self.get_event_invoke(name, Some(qualifier))?;
        let entry = self.registry.get(name).expect("checked above");
        let mut record = entry.record.clone();
        record.event_invoke.remove(qualifier);
        self.persist_record(&record).await?;
        self.registry.put(crate::registry::FunctionEntry { id: entry.id, record });
        Ok(())
    }
}
