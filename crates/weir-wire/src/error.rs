//! AWS errors: the exception type botocore maps to a class, the HTTP status,
//! the message, and the modelled extra members (a throttle's `Reason` and
//! `Retry-After`).
//!
//! Rendering follows each protocol: Lambda's REST-JSON puts the type in the
//! `x-amzn-ErrorType` header and the members in the body, using the member
//! names of the service model (`Message` for some exceptions, `message` for
//! others). JSON 1.0 (SQS) puts `__type` in the body.

use serde_json::{Map, Value};

/// An error as AWS returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsError {
    /// The exception name, e.g. `ResourceNotFoundException`.
    pub code: &'static str,
    pub status: u16,
    pub message: String,
    /// `TooManyRequestsException.Reason`.
    pub reason: Option<&'static str>,
    /// Seconds for the `Retry-After` header.
    pub retry_after_seconds: Option<u64>,
    /// `Type`: `User` for client errors, `Service` for ours.
    pub fault: Fault,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    User,
    Service,
}

/// What goes on the wire: status, headers, body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorBody {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl AwsError {
    pub fn new(code: &'static str, status: u16, message: impl Into<String>) -> Self {
        let fault = if status >= 500 { Fault::Service } else { Fault::User };
        AwsError { code, status, message: message.into(), reason: None, retry_after_seconds: None, fault }
    }

    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        AwsError::new("InvalidParameterValueException", 400, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        AwsError::new("ResourceNotFoundException", 404, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        AwsError::new("ResourceConflictException", 409, message)
    }

    pub fn invalid_request_content(message: impl Into<String>) -> Self {
        AwsError::new("InvalidRequestContentException", 400, message)
    }

    pub fn request_too_large(message: impl Into<String>) -> Self {
        AwsError::new("RequestTooLargeException", 413, message)
    }

    pub fn service(message: impl Into<String>) -> Self {
        AwsError::new("ServiceException", 500, message)
    }

    /// `TooManyRequestsException` with Lambda's `Reason` and `Retry-After`.
    pub fn throttled(reason: &'static str, message: impl Into<String>, retry_after_seconds: u64) -> Self {
        AwsError {
            reason: Some(reason),
            retry_after_seconds: Some(retry_after_seconds),
            ..AwsError::new("TooManyRequestsException", 429, message)
        }
    }

    /// The member name Lambda's model gives the message of this exception.
    fn lambda_message_member(&self) -> &'static str {
        match self.code {
            "ResourceNotFoundException"
            | "ServiceException"
            | "InvalidZipFileException"
            | "ResourceInUseException"
            | "InvalidRuntimeException"
            | "EC2AccessDeniedException"
            | "KMSNotFoundException" => "Message",
            _ => "message",
        }
    }

    /// Lambda's REST-JSON rendering.
    pub fn to_rest_json(&self) -> ErrorBody {
        let mut body = Map::new();
        body.insert("Type".into(), Value::from(if self.fault == Fault::User { "User" } else { "Service" }));
        body.insert(self.lambda_message_member().into(), Value::from(self.message.clone()));
        if let Some(reason) = self.reason {
            body.insert("Reason".into(), Value::from(reason));
        }
        let mut headers =
            vec![("x-amzn-ErrorType", self.code.to_string()), ("content-type", "application/json".into())];
        if let Some(seconds) = self.retry_after_seconds {
            headers.push(("Retry-After", seconds.to_string()));
        }
        ErrorBody { status: self.status, headers, body: Value::Object(body).to_string() }
    }

    /// The JSON 1.0 rendering (SQS). `query_code` is the legacy query
    /// protocol code that `awsQueryCompatible` services send in
    /// `x-amzn-query-error` (e.g. `AWS.SimpleQueueService.NonExistentQueue`).
    pub fn to_json10(&self, namespace: &str, query_code: Option<&str>) -> ErrorBody {
        let mut body = Map::new();
        body.insert("__type".into(), Value::from(format!("{namespace}#{}", self.code)));
        body.insert("message".into(), Value::from(self.message.clone()));
        let mut headers = vec![("content-type", "application/x-amz-json-1.0".into())];
        if let Some(code) = query_code {
            let fault = if self.fault == Fault::User { "Sender" } else { "Receiver" };
            headers.push(("x-amzn-query-error", format!("{code};{fault}")));
        }
        ErrorBody { status: self.status, headers, body: Value::Object(body).to_string() }
    }
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for AwsError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttles_carry_reason_and_retry_after_like_lambda() {
        let err = AwsError::throttled("ReservedFunctionConcurrentInvocationLimitExceeded", "Rate Exceeded.", 1);
        let wire = err.to_rest_json();
        assert_eq!(wire.status, 429);
        assert!(wire.headers.contains(&("x-amzn-ErrorType", "TooManyRequestsException".into())));
        assert!(wire.headers.contains(&("Retry-After", "1".into())));
        let body: Value = serde_json::from_str(&wire.body).unwrap();
        assert_eq!(body["Reason"], "ReservedFunctionConcurrentInvocationLimitExceeded");
        assert_eq!(body["message"], "Rate Exceeded.");
        assert_eq!(body["Type"], "User");
    }

    #[test]
    fn message_member_follows_the_service_model() {
        let body: Value = serde_json::from_str(&AwsError::not_found("Function not found").to_rest_json().body).unwrap();
        assert_eq!(body["Message"], "Function not found");
        let body: Value = serde_json::from_str(&AwsError::conflict("exists").to_rest_json().body).unwrap();
        assert_eq!(body["message"], "exists");
    }

    #[test]
    fn json10_errors_name_the_namespace_and_the_query_code() {
        let err = AwsError::new("QueueDoesNotExist", 400, "The specified queue does not exist.");
        let wire = err.to_json10("com.amazonaws.sqs", Some("AWS.SimpleQueueService.NonExistentQueue"));
        let body: Value = serde_json::from_str(&wire.body).unwrap();
        assert_eq!(body["__type"], "com.amazonaws.sqs#QueueDoesNotExist");
        assert!(
            wire.headers.contains(&("x-amzn-query-error", "AWS.SimpleQueueService.NonExistentQueue;Sender".into()))
        );
    }
}
