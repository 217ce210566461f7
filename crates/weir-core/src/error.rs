//! Configuration errors with AWS's error types and wording.
//!
//! The core validates every configuration change the way Lambda's control
//! plane does and answers with the exception type botocore maps to a class
//! (`InvalidParameterValueException`, …) and Lambda's message text.

use std::fmt;

/// The AWS exception type of a rejected change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigErrorKind {
    /// `InvalidParameterValueException` (HTTP 400).
    InvalidParameterValue,
    /// `ResourceNotFoundException` (HTTP 404).
    ResourceNotFound,
    /// `ResourceConflictException` (HTTP 409).
    ResourceConflict,
}

impl ConfigErrorKind {
    pub fn aws_code(self) -> &'static str {
        match self {
            ConfigErrorKind::InvalidParameterValue => "InvalidParameterValueException",
            ConfigErrorKind::ResourceNotFound => "ResourceNotFoundException",
            ConfigErrorKind::ResourceConflict => "ResourceConflictException",
        }
    }
}

/// A configuration change the core refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub kind: ConfigErrorKind,
    pub message: String,
}

impl ConfigError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        ConfigError { kind: ConfigErrorKind::InvalidParameterValue, message: message.into() }
    }
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        ConfigError { kind: ConfigErrorKind::ResourceNotFound, message: message.into() }
    }
    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        ConfigError { kind: ConfigErrorKind::ResourceConflict, message: message.into() }
    }

    /// Lambda's error when a reservation would shrink the unreserved pool
    /// below its minimum.
    pub(crate) fn unreserved_below_minimum(setting: &str, minimum: u32) -> Self {
        ConfigError::invalid(format!(
            "Specified {setting} for function decreases account's UnreservedConcurrentExecution below its minimum value of [{minimum}]."
        ))
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.aws_code(), self.message)
    }
}

impl std::error::Error for ConfigError {}
