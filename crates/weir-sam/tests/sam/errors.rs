//! Template errors as the user sees them, and warnings for what weir does not deploy.

use crate::{ctx, fixture, load, load_with, only_problem, problems};

#[test]
fn every_problem_of_a_template_is_listed_at_once() {
    let error = load(&fixture("invalid.yaml")).unwrap_err();
    insta::assert_snapshot!(error.to_string());
}

#[test]
fn yaml_syntax_errors_have_line_and_column() {
    let error = load("Resources:\n  Fn:\n    Type: [unclosed\n").unwrap_err();
    insta::assert_snapshot!(error.to_string(), @"YAML syntax error at line 4, column 1: while parsing a flow sequence, expected ',' or ']'");
    let error = load("Resources:\n  Fn: !Reff X\n").unwrap_err();
    assert!(error.to_string().starts_with("YAML syntax error at line 2: unknown tag !Reff"), "{error}");
}

#[test]
fn json_syntax_errors_have_line_and_column() {
    let error = load("{\n  \"Resources\": {\n    \"Q\": {\"Type\": \"AWS::SQS::Queue\",}\n  }\n}").unwrap_err();
    insta::assert_snapshot!(error.to_string(), @"JSON syntax error at line 3, column 37: trailing comma at line 3 column 37");
}

#[test]
fn parameter_values_are_checked() {
    let template = fixture("sam_short.yaml");
    let error = load_with(&template, &[("Stage", "test")], &ctx()).unwrap_err();
    insta::assert_snapshot!(error.to_string(), @r"
    the template has 1 problem:
      - Parameters.Stage (line 6): value 'test' is not one of the AllowedValues [dev, prod]
    ");
    let error = load_with(&template, &[("WorkerMemory", "64"), ("Nope", "1")], &ctx()).unwrap_err();
    insta::assert_snapshot!(error.to_string(), @r"
    the template has 2 problems:
      - --parameter-overrides Nope: the template declares no parameter 'Nope' (declared: Stage, WorkerMemory)
      - Parameters.WorkerMemory (line 10): value 64 is below MinValue 128
    ");
    let problem = only_problem("Parameters:\n  Size: {Type: Number}\nResources:\n  Q: {Type: AWS::SQS::Queue}\n");
    assert_eq!(problem.message, "has no Default and no value was given; pass --parameter-overrides Size=VALUE");
    let problem =
        only_problem("Parameters:\n  Size: {Type: Number, Default: lots}\nResources:\n  Q: {Type: AWS::SQS::Queue}\n");
    assert_eq!(problem.message, "value 'lots' is not a number");
}

#[test]
fn serverless_resources_need_the_transform() {
    let problem =
        only_problem("Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties: {InlineCode: x}\n");
    assert_eq!(problem.path, "Resources.Fn");
    assert_eq!(
        problem.message,
        "AWS::Serverless::Function needs `Transform: AWS::Serverless-2016-10-31` at the top of the template"
    );
}

#[test]
fn a_template_needs_resources() {
    let problem = only_problem("Description: nothing\n");
    assert_eq!(problem.message, "a template needs a Resources section with at least one resource");
}

#[test]
fn references_to_excluded_resources_are_problems() {
    let problem = only_problem(
        "Conditions:\n  Never: !Equals [a, b]\nResources:\n  Q:\n    Type: AWS::SQS::Queue\n    Condition: Never\n\
         Outputs:\n  Url: {Value: !Ref Q}\n",
    );
    assert_eq!(problem.path, "Outputs.Url.Value");
    assert_eq!(problem.message, "Ref Q: Q (AWS::SQS::Queue) is not created because condition Never is false");
}

#[test]
fn unknown_properties_and_undeployed_resources_are_warnings() {
    let plan = load(&fixture("cloudformation.yaml")).unwrap();
    insta::assert_yaml_snapshot!(plan.warnings);
    let not_deployed: Vec<(&str, &str)> =
        plan.not_deployed.iter().map(|entry| (entry.logical_id.as_str(), entry.resource_type.as_str())).collect();
    assert_eq!(
        not_deployed,
        [
            ("Table", "AWS::DynamoDB::Table"),
            ("Role", "AWS::IAM::Role"),
            ("StreamMapping", "AWS::Lambda::EventSourceMapping (dynamodb source)"),
        ]
    );
}

#[test]
fn sam_events_weir_does_not_deploy_are_listed() {
    let plan = load(&fixture("sam_short.yaml")).unwrap();
    let not_deployed: Vec<(&str, &str)> =
        plan.not_deployed.iter().map(|entry| (entry.logical_id.as_str(), entry.resource_type.as_str())).collect();
    assert_eq!(not_deployed, [("ApiHttp", "HttpApi event of Api")]);
}

#[test]
fn globals_outside_function_are_warned_and_bad_globals_refused() {
    let plan = load(
        "Transform: AWS::Serverless-2016-10-31\nGlobals:\n  Api: {Cors: '*'}\n  Function: {Timeout: 9}\n\
         Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties: {InlineCode: x, Handler: index.handler, Runtime: python3.12}\n",
    )
    .unwrap();
    assert_eq!(plan.functions[0].timeout_s, 9);
    assert_eq!(
        plan.warnings,
        ["Globals.Api (line 3): Globals.Api is not applied: weir deploys only functions from Globals"]
    );
    let found = problems(
        "Transform: AWS::Serverless-2016-10-31\nGlobals:\n  Function: {FunctionName: shared}\n\
         Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties: {InlineCode: x, Handler: index.handler, Runtime: python3.12}\n",
    );
    assert_eq!(found[0].message, "'FunctionName' is not a supported property of Globals.Function (SAM refuses it)");
}

/// A queue and a worker reading it, with `function` and `event` lines added (YAML, indented).
fn queue_and_worker(queue: &str, function: &str, event: &str) -> String {
    format!(
        "Transform: AWS::Serverless-2016-10-31
Resources:
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
{queue}
  Bucket:
    Type: AWS::S3::Bucket
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: worker/
      Handler: app.handler
      Runtime: python3.12
{function}
      Events:
        Http:
          Type: HttpApi
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
{event}"
    )
}

#[test]
fn checks_across_resources_run_with_problems_of_single_resources() {
    let template = queue_and_worker(
        "      VisibilityTimeout: 60",
        "      MemorySize: 99999\n      Timeout: 120\n      Colour: blue",
        "            BatchSize: 50",
    );
    let error = load(&template).unwrap_err();
    let found: Vec<(&str, &str)> =
        error.problems().iter().map(|problem| (problem.path.as_str(), problem.message.as_str())).collect();
    assert_eq!(found.len(), 3, "{error}");
    assert_eq!(
        found[0],
        ("Resources.Worker.Properties.MemorySize", "MemorySize must be between 128 and 10240 MB, got 99999")
    );
    assert_eq!(found[1].0, "Resources.Worker.Properties.Events.Jobs.Properties.BatchSize");
    assert!(found[1].1.starts_with("Maximum batch window in seconds must be greater than 0"), "{error}");
    assert_eq!(found[2].0, "Resources.Worker.Properties.Events.Jobs.Properties");
    assert!(found[2].1.contains("Queue visibility timeout: 60 seconds is less than Function timeout: 120 seconds"));
    assert!(error.to_string().starts_with("the template has 3 problems:"), "{error}");
    // What a loaded plan would list is kept for the user too.
    assert_eq!(
        error.warnings(),
        [
            "Resources.Worker.Properties.Colour (line 17): unknown property 'Colour' of AWS::Serverless::Function; ignored"
        ]
    );
    let not_deployed: Vec<(&str, &str)> =
        error.not_deployed().iter().map(|entry| (entry.logical_id.as_str(), entry.resource_type.as_str())).collect();
    assert_eq!(not_deployed, [("Bucket", "AWS::S3::Bucket"), ("WorkerHttp", "HttpApi event of Worker")]);
}

#[test]
fn a_refused_value_is_not_checked_again_as_its_default() {
    // VisibilityTimeout 50000 is refused; its default (30) must not be compared with Timeout 60.
    let template = queue_and_worker("      VisibilityTimeout: 50000", "      Timeout: 60", "");
    let found = problems(&template);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].path, "Resources.Jobs.Properties.VisibilityTimeout");
    // A refused batching window is not reported again as a missing one.
    let template = queue_and_worker(
        "      VisibilityTimeout: 60",
        "      Timeout: 5",
        "            BatchSize: 50\n            MaximumBatchingWindowInSeconds: 400",
    );
    let found = problems(&template);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].path, "Resources.Worker.Properties.Events.Jobs.Properties.MaximumBatchingWindowInSeconds");
}

#[test]
fn an_early_error_keeps_the_warnings_and_what_is_not_deployed() {
    let error = load(
        "Transform: AWS::Serverless-2016-10-31\nOops: 1\nResources:\n  Bucket:\n    Type: AWS::S3::Bucket\n  Bad-Id:\n    Type: AWS::SQS::Queue\n",
    )
    .unwrap_err();
    assert_eq!(error.problems().len(), 1, "{error}");
    assert_eq!(error.warnings(), ["Oops (line 2): unknown top-level section 'Oops'; ignored"]);
    assert_eq!(error.not_deployed().len(), 1);
    assert_eq!(error.not_deployed()[0].resource_type, "AWS::S3::Bucket");
}

/// A function with `extra` (YAML lines at property level) loaded on an x86_64 machine.
fn function_with(extra: &str) -> Result<weir_sam::Plan, weir_sam::TemplateError> {
    let mut context = ctx();
    context.architecture = "x86_64".to_owned();
    let template = format!(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      \
         InlineCode: x\n      Handler: index.handler\n      Runtime: python3.12\n{extra}"
    );
    load_with(&template, &[], &context)
}

#[test]
fn logging_architecture_and_storage_settings_that_change_behaviour_are_warned() {
    let plan = function_with(
        "      LoggingConfig:\n        LogFormat: JSON\n        ApplicationLogLevel: DEBUG\n        SystemLogLevel: WARN\n        LogGroup: /custom\n      \
         Architectures: [arm64]\n      EphemeralStorage: {Size: 2048}\n",
    )
    .unwrap();
    assert_eq!(
        plan.warnings,
        [
            "Resources.Fn.Properties.LoggingConfig.LogFormat (line 10): LogFormat JSON is not applied by weir: the \
             function logs as Text (Lambda's runtimes write logging calls as JSON objects and set \
             AWS_LAMBDA_LOG_FORMAT=JSON)",
            "Resources.Fn.Properties.LoggingConfig.ApplicationLogLevel (line 11): ApplicationLogLevel is not applied \
             by weir: log lines below DEBUG are kept (Lambda drops them and sets AWS_LAMBDA_LOG_LEVEL=DEBUG)",
            "Resources.Fn.Properties.LoggingConfig.SystemLogLevel (line 12): SystemLogLevel is not applied by weir: \
             the START, END and REPORT lines are always written",
            "Resources.Fn.Properties.Architectures (line 14): the function runs on this machine's x86_64, not arm64: \
             a binary (provided runtimes) or a native dependency built for arm64 will not load",
        ]
    );
    // What behaves the same here is accepted silently: Text logs, a log group, the machine's
    // architecture, any /tmp size (weir does not limit /tmp).
    let plan = function_with(
        "      LoggingConfig: {LogFormat: Text, LogGroup: /custom}\n      Architectures: [x86_64]\n      \
         EphemeralStorage: {Size: 10240}\n",
    )
    .unwrap();
    assert!(plan.warnings.is_empty(), "{:#?}", plan.warnings);
}

#[test]
fn logging_architecture_and_storage_settings_are_checked_like_lambda() {
    let error = function_with(
        "      LoggingConfig: {LogFormat: XML, ApplicationLogLevel: LOUD}\n      Architectures: [x86_64, arm64]\n      \
         EphemeralStorage: {Size: 100}\n",
    )
    .unwrap_err();
    let messages: Vec<&str> = error.problems().iter().map(|problem| problem.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "LogFormat must be one of Text, JSON, got 'XML'",
            "ApplicationLogLevel must be one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL, got 'LOUD'",
            "Architectures must list exactly one architecture (x86_64 or arm64)",
            "Size must be between 512 and 10240 MB, got 100",
        ]
    );
    let error = function_with("      Architectures: [sparc]\n").unwrap_err();
    assert_eq!(error.problems()[0].message, "Architectures must be x86_64 or arm64, got 'sparc'");
}
