//! Plans of whole templates: snapshots, and the same plan from every syntax.

use std::path::Path;

use weir_sam::{CodeSource, DeployContext, Plan, PlanStep, load_template};

use crate::{ctx, fixture, load, load_with};

fn without_warnings(mut plan: Plan) -> Plan {
    plan.warnings.clear();
    plan
}

#[test]
fn sam_template_plan() {
    let plan = load(&fixture("sam_short.yaml")).unwrap();
    insta::assert_yaml_snapshot!(plan);
}

#[test]
fn short_forms_long_forms_and_json_give_the_same_plan() {
    let short = load(&fixture("sam_short.yaml")).unwrap();
    let long = load(&fixture("sam_long.yaml")).unwrap();
    let json = load(&fixture("sam.json")).unwrap();
    // Warnings carry line numbers, which differ between the files.
    assert_eq!(short.warnings.len(), long.warnings.len());
    assert_eq!(without_warnings(short.clone()), without_warnings(long));
    assert_eq!(without_warnings(short), without_warnings(json));
}

#[test]
fn parameter_overrides_switch_conditions_and_mappings() {
    let plan = load_with(&fixture("sam_short.yaml"), &[("Stage", "prod"), ("WorkerMemory", "1024")], &ctx()).unwrap();
    let worker = plan.functions.iter().find(|function| function.logical_id == "Worker").unwrap();
    assert_eq!(worker.memory_mb, 1024);
    assert_eq!(worker.reserved_concurrency, Some(50));
    assert_eq!(worker.provisioned_concurrency, Some(10));
    let alias = plan.aliases.iter().find(|alias| alias.logical_id == "WorkerAliaslive").unwrap();
    assert_eq!(alias.provisioned_concurrency, Some(10));
    assert_eq!(plan.event_source_mappings[0].batch_size, 10, "FindInMap took the prod row");
    assert!(plan.queues.iter().any(|queue| queue.logical_id == "ProdOnly"), "conditional queue exists in prod");
    let api = plan.function("jobs-api").unwrap();
    assert_eq!(
        api.environment.get("PROD_QUEUE").map(String::as_str),
        Some("http://127.0.0.1:9000/111122223333/ProdOnly")
    );
    assert_eq!(plan.output("ProdQueue").unwrap().value, "ProdOnly");
    insta::assert_yaml_snapshot!(plan);
}

#[test]
fn globals_merge_into_every_serverless_function() {
    let plan = load(&fixture("sam_short.yaml")).unwrap();
    let api = plan.function("jobs-api").unwrap();
    let worker = plan.function("Worker").unwrap();
    // Environment.Variables merge key by key; the function's value wins.
    assert_eq!(api.environment.get("STAGE").map(String::as_str), Some("dev"));
    assert_eq!(api.environment.get("SHARED").map(String::as_str), Some("from-function"));
    assert_eq!(worker.environment.get("SHARED").map(String::as_str), Some("from-globals"));
    // Scalars: the global applies unless the function sets its own.
    assert_eq!((api.timeout_s, worker.timeout_s), (20, 30));
    assert_eq!((api.runtime.as_str(), worker.runtime.as_str()), ("python3.12", "python3.12"));
    // In dev the conditional variable is removed by AWS::NoValue.
    assert!(!api.environment.contains_key("PROD_QUEUE"));
}

#[test]
fn cloudformation_template_plan() {
    let plan = load(&fixture("cloudformation.yaml")).unwrap();
    insta::assert_yaml_snapshot!(plan);
}

#[test]
fn apply_order_creates_what_each_step_needs_first() {
    let plan = load(&fixture("sam_short.yaml")).unwrap();
    let steps = plan.apply_order();
    let position = |wanted: &dyn Fn(&PlanStep<'_>) -> bool| steps.iter().position(wanted).unwrap();
    let dlq = position(&|step| matches!(step, PlanStep::Queue(queue) if queue.logical_id == "DeadLetters"));
    let jobs = position(&|step| matches!(step, PlanStep::Queue(queue) if queue.logical_id == "Jobs"));
    let worker = position(&|step| matches!(step, PlanStep::Function(function) if function.logical_id == "Worker"));
    let version = position(&|step| matches!(step, PlanStep::Version(_)));
    let alias = position(&|step| matches!(step, PlanStep::Alias(_)));
    let mapping = position(&|step| matches!(step, PlanStep::EventSourceMapping(_)));
    assert!(dlq < jobs && jobs < worker && worker < version && version < alias && alias < mapping, "{steps:#?}");
}

#[test]
fn dead_letter_queues_come_first_even_when_declared_last() {
    let plan = load(
        "Resources:\n\
         \x20 Main:\n    Type: AWS::SQS::Queue\n    Properties:\n      RedrivePolicy:\n\
         \x20       deadLetterTargetArn: arn:aws:sqs:eu-central-1:111122223333:Spare\n        maxReceiveCount: 3\n\
         \x20 Spare:\n    Type: AWS::SQS::Queue\n",
    )
    .unwrap();
    let names: Vec<&str> = plan.queues.iter().map(|queue| queue.queue_name.as_str()).collect();
    assert_eq!(names, ["Spare", "Main"]);
}

#[test]
fn orders_example_plan() {
    let repository = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let template = repository.join("examples/orders/template.yaml");
    let plan = load_template(&template, &[], &ctx()).unwrap();
    assert!(plan.warnings.is_empty(), "{:#?}", plan.warnings);
    // The code folders the template names exist next to it, as absolute paths.
    let examples = std::fs::canonicalize(repository.join("examples/orders")).unwrap();
    let mut relative = plan.clone();
    for function in &mut relative.functions {
        let CodeSource::Dir(path) = &function.code else { panic!("{} should deploy a folder", function.logical_id) };
        assert!(path.is_absolute() && path.join("app.py").is_file(), "{}", path.display());
        let inside = path.strip_prefix(&examples).expect("code is inside the example").to_owned();
        function.code = CodeSource::Dir(inside);
    }
    insta::assert_yaml_snapshot!(relative);
}

#[test]
fn handler_patterns_example_loads_cleanly() {
    let template = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/handlers/template.yaml");
    let plan = load_template(&template, &[], &ctx()).unwrap();
    assert!(plan.warnings.is_empty(), "{:#?}", plan.warnings);
    assert_eq!(plan.functions.len(), 4);
    assert_eq!(plan.event_source_mappings.len(), 2);
}

#[test]
fn load_template_resolves_code_against_the_template_folder() {
    let folder = tempfile::tempdir().unwrap();
    let template = folder.path().join("template.yaml");
    std::fs::write(
        &template,
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n    Type: AWS::Serverless::Function\n\
         \x20   Properties: {CodeUri: ./src/../code, Handler: app.handler, Runtime: python3.12}\n",
    )
    .unwrap();
    let plan = load_template(&template, &[], &ctx()).unwrap();
    assert_eq!(plan.functions[0].code, CodeSource::Dir(folder.path().join("code")));

    let missing = load_template(&folder.path().join("nope.yaml"), &[], &ctx()).unwrap_err();
    assert!(missing.to_string().starts_with("cannot read template "), "{missing}");
}

#[test]
fn deploy_context_sets_names_arns_and_urls() {
    let ctx = DeployContext::new("ap-south-1", "000000000000", "shop", "http://localhost:4000/");
    let plan = load_with(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Q:\n    Type: AWS::SQS::Queue\n\
         \x20 F:\n    Type: AWS::Serverless::Function\n    Properties: {InlineCode: x, Handler: index.handler, Runtime: python3.12}\n\
         Outputs:\n  Where: {Value: !Sub '${AWS::Region}/${AWS::AccountId}/${AWS::StackName}/${F.Arn}/${Q}'}\n",
        &[],
        &ctx,
    )
    .unwrap();
    assert_eq!(plan.queues[0].queue_url, "http://localhost:4000/000000000000/Q");
    assert_eq!(plan.queues[0].queue_arn, "arn:aws:sqs:ap-south-1:000000000000:Q");
    assert_eq!(plan.functions[0].function_arn, "arn:aws:lambda:ap-south-1:000000000000:function:F");
    assert_eq!(
        plan.output("Where").unwrap().value,
        "ap-south-1/000000000000/shop/arn:aws:lambda:ap-south-1:000000000000:function:F/http://localhost:4000/000000000000/Q"
    );
}

#[test]
fn sam_creates_a_queue_for_an_sqs_destination_without_an_arn() {
    let plan = load(
        "Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: x
      Handler: index.handler
      Runtime: python3.12
      AutoPublishAlias: live
      EventInvokeConfig:
        DestinationConfig:
          OnFailure: {Type: SQS}
Outputs:
  Failures: {Value: !GetAtt FnEventInvokeConfigOnFailureQueue.Arn}
",
    )
    .unwrap();
    let queue = &plan.queues[0];
    assert_eq!(
        (queue.logical_id.as_str(), queue.generated_by.as_deref()),
        ("FnEventInvokeConfigOnFailureQueue", Some("Fn"))
    );
    let settings = plan.functions[0].event_invoke.as_ref().unwrap();
    assert_eq!(settings.qualifier, "live", "SAM configures the alias when AutoPublishAlias is set");
    assert_eq!(settings.on_failure.as_ref().unwrap().arn, queue.queue_arn);
    assert_eq!(plan.output("Failures").unwrap().value, queue.queue_arn);
}

#[test]
fn excluded_resources_are_neither_deployed_nor_listed() {
    let plan = load(
        "Conditions:\n  Never: !Equals [a, b]\nResources:\n  Kept: {Type: AWS::SQS::Queue}\n\
         \x20 Skipped: {Type: AWS::SQS::Queue, Condition: Never}\n  Topic: {Type: AWS::SNS::Topic, Condition: Never}\n",
    )
    .unwrap();
    assert_eq!(plan.queues.len(), 1);
    assert!(plan.not_deployed.is_empty());
}

#[test]
fn deployed_versions_replace_the_numbering_of_a_new_function() {
    let fresh = load(&fixture("sam_short.yaml")).unwrap();
    assert_eq!(fresh.output("WorkerVersion").unwrap().value, "1");
    let mut deployed = ctx();
    deployed.deployed_versions.insert("WorkerVersion".to_owned(), 7);
    let plan = load_with(&fixture("sam_short.yaml"), &[], &deployed).unwrap();
    assert_eq!(plan.output("WorkerVersion").unwrap().value, "7");
    let version = plan.versions.iter().find(|version| version.logical_id == "WorkerVersion").unwrap();
    assert_eq!(version.expected_version, 7);
    let alias = plan.aliases.iter().find(|alias| alias.logical_id == "WorkerAliaslive").unwrap();
    assert_eq!((alias.function_version.as_str(), alias.version_logical_id.as_deref()), ("7", Some("WorkerVersion")));
}

#[test]
fn a_sam_function_event_invoke_config_is_a_generated_resource() {
    let plan = load(&fixture("sam_short.yaml")).unwrap();
    let generated: Vec<(&str, Option<&str>, &str)> = plan
        .event_invoke_configs
        .iter()
        .map(|config| (config.logical_id.as_str(), config.generated_by.as_deref(), config.function_name.as_str()))
        .collect();
    assert_eq!(generated, [("ApiEventInvokeConfig", Some("Api"), "jobs-api")]);
    let api = plan.function("jobs-api").unwrap();
    assert_eq!(api.event_invoke.as_ref(), Some(&plan.event_invoke_configs[0].settings));
}
