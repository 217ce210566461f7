//! Every validation rule fires, naming resource, property and line, with the expected message.

use weir_sam::DeployContext;

use crate::{ctx, load, only_problem, problems, problems_with};

/// A queue (visibility `visibility_s`) and a worker function reading it; `function_extra` and
/// `event_extra` are YAML lines added to the function's and the SQS event's properties.
fn worker_template(visibility_s: u32, queue_extra: &str, function_extra: &str, event_extra: &str) -> String {
    format!(
        "Transform: AWS::Serverless-2016-10-31
Resources:
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: {visibility_s}
{queue_extra}
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: worker/
      Handler: app.handler
      Runtime: python3.12
{function_extra}
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
{event_extra}"
    )
}

fn indent(lines: &str, spaces: usize) -> String {
    lines.lines().map(|line| format!("{}{line}\n", " ".repeat(spaces))).collect()
}

fn worker(visibility_s: u32, function_extra: &str, event_extra: &str) -> String {
    worker_template(visibility_s, "", &indent(function_extra, 6), &indent(event_extra, 12))
}

/// Line of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> Option<u32> {
    text.lines().position(|line| line.contains(needle)).map(|index| index as u32 + 1)
}

#[test]
fn the_worker_template_itself_is_valid() {
    let plan = load(&worker(60, "Timeout: 10", "BatchSize: 10")).unwrap();
    assert_eq!(plan.event_source_mappings.len(), 1);
    assert!(plan.warnings.is_empty(), "{:#?}", plan.warnings);
}

#[test]
fn reservations_must_leave_the_minimum_unreserved() {
    let template = "Transform: AWS::Serverless-2016-10-31
Resources:
  Big:
    Type: AWS::Serverless::Function
    Properties: {InlineCode: x, Handler: index.handler, Runtime: python3.12, ReservedConcurrentExecutions: 500}
  Bigger:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: bigger
      InlineCode: x
      Handler: index.handler
      Runtime: python3.12
      ReservedConcurrentExecutions: 401
";
    let problem = only_problem(template);
    assert_eq!(problem.path, "Resources.Bigger.Properties.ReservedConcurrentExecutions");
    assert_eq!(problem.line, line_of(template, "ReservedConcurrentExecutions: 401"));
    assert!(
        problem.message.starts_with(
            "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution \
             below its minimum value of [100]. (function bigger reserves 401;"
        ),
        "{}",
        problem.message
    );
    // 500 + 400 leaves exactly 100: allowed.
    assert!(load(&template.replace("401", "400")).is_ok());
}

#[test]
fn reservations_use_the_contexts_limits() {
    let template = "Resources:
  Fn:
    Type: AWS::Lambda::Function
    Properties: {Code: {ZipFile: x}, Handler: index.handler, Runtime: python3.12, ReservedConcurrentExecutions: 60}
";
    let small_account = DeployContext { account_concurrency_limit: 100, minimum_unreserved: 50, ..ctx() };
    let found = problems_with(template, &small_account);
    assert!(found[0].message.contains("below its minimum value of [50]"), "{found:#?}");
    assert!(found[0].message.contains("leaving 40 unreserved"), "{found:#?}");
}

#[test]
fn provisioned_concurrency_without_reservation_counts_against_the_account() {
    let template = worker(
        6000,
        "Timeout: 10\nAutoPublishAlias: live\nProvisionedConcurrencyConfig:\n  ProvisionedConcurrentExecutions: 950",
        "",
    );
    let problem = only_problem(&template);
    assert_eq!(problem.path, "Resources.Worker.Properties.ProvisionedConcurrencyConfig");
    assert!(
        problem.message.contains("below its minimum value of [100]. (function Worker provisions 950;"),
        "{}",
        problem.message
    );
}

#[test]
fn provisioned_concurrency_needs_auto_publish_alias() {
    let template = worker(60, "Timeout: 10\nProvisionedConcurrencyConfig:\n  ProvisionedConcurrentExecutions: 2", "");
    let problem = only_problem(&template);
    assert_eq!(problem.path, "Resources.Worker.Properties.ProvisionedConcurrencyConfig");
    assert_eq!(problem.line, line_of(&template, "ProvisionedConcurrencyConfig"));
    assert!(
        problem.message.starts_with("ProvisionedConcurrencyConfig requires AutoPublishAlias"),
        "{}",
        problem.message
    );
    assert!(problem.message.contains("$LATEST"));
}

#[test]
fn provisioned_concurrency_on_a_plain_lambda_function_is_refused() {
    let problem = only_problem(
        "Resources:\n  Fn:\n    Type: AWS::Lambda::Function\n    Properties:\n      Code: {ZipFile: x}\n      Handler: index.handler\n\
         \x20     Runtime: python3.12\n      ProvisionedConcurrencyConfig: {ProvisionedConcurrentExecutions: 1}\n",
    );
    assert_eq!(problem.line, Some(8));
    assert!(
        problem.message.starts_with("AWS::Lambda::Function has no ProvisionedConcurrencyConfig"),
        "{}",
        problem.message
    );
}

#[test]
fn provisioned_concurrency_above_reserved_is_refused() {
    let template = worker(
        60,
        "Timeout: 10\nReservedConcurrentExecutions: 5\nAutoPublishAlias: live\nProvisionedConcurrencyConfig:\n  ProvisionedConcurrentExecutions: 6",
        "",
    );
    let problem = only_problem(&template);
    assert_eq!(problem.path, "Resources.Worker.Properties.ProvisionedConcurrencyConfig");
    assert_eq!(problem.line, line_of(&template, "ProvisionedConcurrencyConfig"));
    assert_eq!(
        problem.message,
        "provisioned concurrency 6 of function Worker is above its ReservedConcurrentExecutions 5; Lambda does not \
         allocate more provisioned concurrency than reserved concurrency"
    );
}

#[test]
fn provisioned_concurrency_of_explicit_aliases_counts_too() {
    let template = "Resources:
  Fn:
    Type: AWS::Lambda::Function
    Properties: {Code: {ZipFile: x}, Handler: index.handler, Runtime: python3.12, ReservedConcurrentExecutions: 3}
  V1:
    Type: AWS::Lambda::Version
    Properties: {FunctionName: !Ref Fn, ProvisionedConcurrencyConfig: {ProvisionedConcurrentExecutions: 2}}
  Live:
    Type: AWS::Lambda::Alias
    Properties:
      FunctionName: !Ref Fn
      FunctionVersion: !GetAtt V1.Version
      Name: live
      ProvisionedConcurrencyConfig: {ProvisionedConcurrentExecutions: 2}
";
    let problem = only_problem(template);
    assert!(
        problem
            .message
            .starts_with("provisioned concurrency 4 of function Fn is above its ReservedConcurrentExecutions 3"),
        "{}",
        problem.message
    );
}

#[test]
fn function_timeout_above_queue_visibility_is_refused() {
    let template = worker(30, "Timeout: 60", "");
    let problem = only_problem(&template);
    assert_eq!(problem.path, "Resources.Worker.Properties.Events.Jobs.Properties");
    assert_eq!(problem.line, line_of(&template, "          Properties:"));
    assert!(
        problem.message.starts_with(
            "Invalid request provided: Queue visibility timeout: 30 seconds is less than Function timeout: 60 seconds \
             (queue Jobs, function Worker)"
        ),
        "{}",
        problem.message
    );
    // Equal is allowed (with a warning recommending 6x).
    let plan = load(&worker(60, "Timeout: 60", "")).unwrap();
    assert!(
        plan.warnings.iter().any(|warning| warning.contains("AWS recommends at least 6 times")),
        "{:#?}",
        plan.warnings
    );
}

#[test]
fn the_default_visibility_timeout_is_thirty_seconds() {
    let template = "Transform: AWS::Serverless-2016-10-31
Resources:
  Jobs:
    Type: AWS::SQS::Queue
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: x
      Handler: index.handler
      Runtime: python3.12
      Timeout: 31
      Events:
        Jobs: {Type: SQS, Properties: {Queue: !GetAtt Jobs.Arn}}
";
    assert!(
        only_problem(template)
            .message
            .contains("Queue visibility timeout: 30 seconds is less than Function timeout: 31 seconds")
    );
}

#[test]
fn batch_size_above_ten_needs_a_batching_window() {
    let template = worker(600, "Timeout: 10", "BatchSize: 11");
    let problem = only_problem(&template);
    assert_eq!(problem.path, "Resources.Worker.Properties.Events.Jobs.Properties.BatchSize");
    assert_eq!(problem.line, line_of(&template, "BatchSize: 11"));
    assert_eq!(
        problem.message,
        "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10 \
         (BatchSize 11: set MaximumBatchingWindowInSeconds to at least 1)"
    );
    assert!(load(&worker(600, "Timeout: 10", "BatchSize: 11\nMaximumBatchingWindowInSeconds: 1")).is_ok());
}

#[test]
fn batch_size_above_ten_is_refused_on_fifo_queues() {
    let template = worker_template(
        600,
        "      FifoQueue: true\n",
        "      Timeout: 10\n",
        "            BatchSize: 20\n            MaximumBatchingWindowInSeconds: 5\n",
    );
    let problem = only_problem(&template);
    assert_eq!(problem.path, "Resources.Worker.Properties.Events.Jobs.Properties.BatchSize");
    assert_eq!(problem.message, "BatchSize 20 is above 10, the maximum for FIFO queue Jobs.fifo");
}

#[test]
fn batch_size_range() {
    let problem = only_problem(&worker(600, "", "BatchSize: 10001\nMaximumBatchingWindowInSeconds: 1"));
    assert_eq!(problem.message, "BatchSize must be between 1 and 10000, got 10001");
    let problem = only_problem(&worker(600, "", "BatchSize: 0"));
    assert_eq!(problem.message, "BatchSize must be between 1 and 10000, got 0");
}

#[test]
fn maximum_concurrency_range() {
    for value in [1, 1001] {
        let template = worker(60, "", &format!("ScalingConfig:\n  MaximumConcurrency: {value}"));
        let problem = only_problem(&template);
        assert_eq!(problem.path, "Resources.Worker.Properties.Events.Jobs.Properties.ScalingConfig.MaximumConcurrency");
        assert_eq!(problem.line, line_of(&template, "MaximumConcurrency"));
        assert_eq!(problem.message, format!("MaximumConcurrency must be between 2 and 1000, got {value}"));
    }
    assert!(load(&worker(60, "", "ScalingConfig:\n  MaximumConcurrency: 2")).is_ok());
}

#[test]
fn memory_range() {
    for value in [127, 10_241] {
        let template = worker(60, &format!("MemorySize: {value}"), "");
        let problem = only_problem(&template);
        assert_eq!(problem.path, "Resources.Worker.Properties.MemorySize");
        assert_eq!(problem.line, line_of(&template, "MemorySize"));
        assert_eq!(problem.message, format!("MemorySize must be between 128 and 10240 MB, got {value}"));
    }
    assert!(load(&worker(60, "MemorySize: 10240", "")).is_ok());
}

#[test]
fn timeout_range() {
    for value in [0, 901] {
        let template = worker(43_200, &format!("Timeout: {value}"), "");
        let problem = only_problem(&template);
        assert_eq!(problem.path, "Resources.Worker.Properties.Timeout");
        assert_eq!(problem.message, format!("Timeout must be between 1 and 900 seconds, got {value}"));
    }
}

#[test]
fn retry_attempts_and_event_age_ranges() {
    let template = "Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: x
      Handler: index.handler
      Runtime: python3.12
      EventInvokeConfig:
        MaximumRetryAttempts: 3
        MaximumEventAgeInSeconds: 59
";
    let found = problems(template);
    let messages: Vec<(&str, Option<u32>, &str)> =
        found.iter().map(|problem| (problem.path.as_str(), problem.line, problem.message.as_str())).collect();
    assert_eq!(
        messages,
        [
            (
                "Resources.Fn.Properties.EventInvokeConfig.MaximumRetryAttempts",
                Some(10),
                "MaximumRetryAttempts must be between 0 and 2, got 3"
            ),
            (
                "Resources.Fn.Properties.EventInvokeConfig.MaximumEventAgeInSeconds",
                Some(11),
                "MaximumEventAgeInSeconds must be between 60 and 21600 seconds, got 59"
            ),
        ]
    );
    let problem =
        only_problem(&template.replace("MaximumRetryAttempts: 3", "MaximumRetryAttempts: 2").replace("59", "21601"));
    assert_eq!(problem.message, "MaximumEventAgeInSeconds must be between 60 and 21600 seconds, got 21601");
}

#[test]
fn handler_and_runtime_are_required_for_zip_functions() {
    let template = "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: src/\n";
    let found = problems(template);
    let messages: Vec<&str> = found.iter().map(|problem| problem.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "Handler is required for zip-packaged functions",
            "Runtime is required for zip-packaged functions (e.g. python3.12)"
        ]
    );
    assert!(found.iter().all(|problem| problem.path == "Resources.Fn.Properties" && problem.line == Some(6)));
}

#[test]
fn an_sqs_event_needs_its_queue() {
    let template = "Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: x
      Handler: index.handler
      Runtime: python3.12
      Events:
        Jobs:
          Type: SQS
          Properties:
            BatchSize: 5
";
    let problem = only_problem(template);
    assert_eq!(problem.path, "Resources.Fn.Properties.Events.Jobs.Properties");
    assert_eq!(problem.line, Some(13));
    assert_eq!(problem.message, "Queue is required for an SQS event (the queue ARN, e.g. !GetAtt Queue.Arn)");
}

#[test]
fn a_queue_url_where_an_arn_belongs_is_explained() {
    let template = worker(60, "", "").replace("!GetAtt Jobs.Arn", "!Ref Jobs");
    let problem = only_problem(&template);
    assert_eq!(problem.path, "Resources.Worker.Properties.Events.Jobs.Properties.Queue");
    assert!(
        problem.message.contains("that is a queue URL, which !Ref of a queue returns; use !GetAtt Queue.Arn"),
        "{}",
        problem.message
    );
}

#[test]
fn wrong_types_name_the_property_and_line() {
    let template = worker(60, "MemorySize: [512]\nEnvironment:\n  Variables:\n    NESTED: {a: 1}", "Enabled: maybe");
    let found = problems(&template);
    let messages: Vec<(&str, Option<u32>, &str)> =
        found.iter().map(|problem| (problem.path.as_str(), problem.line, problem.message.as_str())).collect();
    assert_eq!(
        messages,
        [
            (
                "Resources.Worker.Properties.MemorySize",
                line_of(&template, "MemorySize"),
                "MemorySize must be an integer, got a list"
            ),
            (
                "Resources.Worker.Properties.Environment.Variables.NESTED",
                line_of(&template, "NESTED"),
                "NESTED must be a string, got a mapping"
            ),
            (
                "Resources.Worker.Properties.Events.Jobs.Properties.Enabled",
                line_of(&template, "Enabled"),
                "Enabled must be true or false, got 'maybe'"
            ),
        ]
    );
}

#[test]
fn unknown_ref_and_get_att_targets() {
    let template = worker(60, "Environment:\n  Variables:\n    A: !Ref Nowhere", "");
    let problem = only_problem(&template);
    assert_eq!(problem.path, "Resources.Worker.Properties.Environment.Variables.A");
    assert_eq!(problem.line, line_of(&template, "Nowhere"));
    assert_eq!(problem.message, "Ref target 'Nowhere' is not a parameter, a resource or a pseudo parameter");

    let template = worker(60, "Environment:\n  Variables:\n    A: !GetAtt Nowhere.Arn\n    B: !GetAtt Jobs.Size", "");
    let found = problems(&template);
    assert_eq!(found[0].message, "Fn::GetAtt target 'Nowhere' is not a resource of this template");
    // One problem per property: the first failing value of A stops A, B is reported too.
    assert_eq!(found[1].message, "AWS::SQS::Queue has no attribute 'Size' (supported: Arn, QueueName, QueueUrl)");
    assert_eq!(found[1].line, line_of(&template, "Jobs.Size"));
}

#[test]
fn a_reference_cycle_names_the_resources() {
    let template = "Resources:
  A:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub '${B.QueueName}-a'
  B:
    Type: AWS::SQS::Queue
    Properties:
      RedrivePolicy: {deadLetterTargetArn: !GetAtt C.Arn, maxReceiveCount: 3}
  C:
    Type: AWS::SQS::Queue
    DependsOn: A
";
    let problem = only_problem(template);
    assert_eq!(problem.message, "circular dependency between resources: A -> B -> C -> A");
    assert_eq!((problem.path.as_str(), problem.line), ("Resources.A", Some(2)));
}

#[test]
fn reserved_environment_variables_are_refused() {
    let problem = only_problem(&worker(60, "Environment:\n  Variables:\n    AWS_REGION: mars-1", ""));
    assert_eq!(problem.path, "Resources.Worker.Properties.Environment.Variables");
    assert!(problem.message.ends_with("Reserved keys used in this request: AWS_REGION"), "{}", problem.message);
}

#[test]
fn duplicate_function_names_are_refused() {
    let template = "Resources:
  A:
    Type: AWS::Lambda::Function
    Properties: {FunctionName: same, Code: {ZipFile: x}, Handler: index.handler, Runtime: python3.12}
  B:
    Type: AWS::Lambda::Function
    Properties: {FunctionName: same, Code: {ZipFile: x}, Handler: index.handler, Runtime: python3.12}
";
    let problem = only_problem(template);
    assert_eq!(
        (problem.path.as_str(), problem.message.as_str()),
        ("Resources.B.Properties", "function name 'same' is also used by A")
    );
}

#[test]
fn fifo_and_standard_queues_do_not_mix_in_redrive() {
    let template = "Resources:
  Dlq:
    Type: AWS::SQS::Queue
  Main:
    Type: AWS::SQS::Queue
    Properties:
      FifoQueue: true
      RedrivePolicy: {deadLetterTargetArn: !GetAtt Dlq.Arn, maxReceiveCount: 3}
";
    let problem = only_problem(template);
    assert_eq!(problem.path, "Resources.Main.Properties.RedrivePolicy");
    assert_eq!(
        problem.message,
        "the dead-letter queue of FIFO queue Main.fifo must be a FIFO queue too, but Dlq is standard"
    );
}

#[test]
fn s3_code_is_refused_with_a_clear_message() {
    let problem = only_problem(&worker(60, "", "").replace("CodeUri: worker/", "CodeUri: s3://bucket/key.zip"));
    assert_eq!(problem.path, "Resources.Worker.Properties.CodeUri");
    assert!(
        problem.message.starts_with("CodeUri 's3://bucket/key.zip' is a remote location; weir deploys local code"),
        "{}",
        problem.message
    );
    let problem = only_problem(&worker(60, "", "").replace("CodeUri: worker/", "CodeUri: {Bucket: b, Key: k}"));
    assert!(problem.message.starts_with("CodeUri is an S3 location (Bucket/Key)"), "{}", problem.message);
    let problem = only_problem(
        "Resources:\n  Fn:\n    Type: AWS::Lambda::Function\n    Properties:\n      Code: {S3Bucket: b, S3Key: k}\n      Handler: index.handler\n      Runtime: python3.12\n",
    );
    assert!(problem.message.starts_with("Code in S3 (S3Bucket/S3Key) is not supported"), "{}", problem.message);
}

#[test]
fn redrive_policy_as_a_json_string_is_checked_at_the_strings_line() {
    let template = "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      VisibilityTimeout: 30\n\
                    \x20     RedrivePolicy: '{\"deadLetterTargetArn\": \"arn:aws:sqs:eu-central-1:111122223333:d\", \"maxReceiveCount\": 0}'\n";
    let problem = only_problem(template);
    assert_eq!(problem.path, "Resources.Q.Properties.RedrivePolicy.maxReceiveCount");
    assert_eq!(problem.line, Some(6));
    assert_eq!(problem.message, "maxReceiveCount must be between 1 and 1000, got 0");
}

#[test]
fn provisioned_concurrency_on_an_alias_of_latest_is_refused() {
    let template = "Resources:
  Fn:
    Type: AWS::Lambda::Function
    Properties: {Code: {ZipFile: x}, Handler: index.handler, Runtime: python3.12}
  Live:
    Type: AWS::Lambda::Alias
    Properties:
      FunctionName: !Ref Fn
      FunctionVersion: $LATEST
      Name: live
      ProvisionedConcurrencyConfig: {ProvisionedConcurrentExecutions: 1}
";
    let problem = only_problem(template);
    assert_eq!(
        (problem.path.as_str(), problem.line),
        ("Resources.Live.Properties.ProvisionedConcurrencyConfig", Some(11))
    );
    assert!(problem.message.starts_with("provisioned concurrency cannot be allocated on an alias of $LATEST"));
}
