//! weir-wire: the AWS wire protocols weir speaks, as data. One module per
//! protocol; every error knows its AWS code and HTTP status; no IO and no
//! business rules.
//!
//! - [`error`]: AWS errors and their rendering for Lambda's REST-JSON
//!   protocol and the JSON 1.0 protocol (SQS).
//! - [`lambda`]: Lambda REST request and response shapes, as botocore sends
//!   and parses them, plus ARN and function-name parsing.

pub mod error;
pub mod lambda;
pub mod sqs;

pub use error::{AwsError, ErrorBody};
