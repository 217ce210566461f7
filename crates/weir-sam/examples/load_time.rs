//! Measures how long `load_template_str` takes for a generated SAM template of N functions,
//! each with its own queue, dead-letter queue and SQS event.
//!
//! cargo run --release -p weir-sam --example load_time -- 10 100 1000

use std::path::Path;
use std::time::Instant;

use weir_sam::{DeployContext, load_template_str};

fn template(functions: usize) -> String {
    let mut text = String::from(
        "Transform: AWS::Serverless-2016-10-31\nGlobals:\n  Function:\n    Runtime: python3.12\n    Timeout: 10\nResources:\n",
    );
    for index in 0..functions {
        text.push_str(&format!(
            "  Dlq{index}:\n    Type: AWS::SQS::Queue\n\
             \x20 Queue{index}:\n    Type: AWS::SQS::Queue\n    Properties:\n      VisibilityTimeout: 60\n\
             \x20     RedrivePolicy: {{deadLetterTargetArn: !GetAtt Dlq{index}.Arn, maxReceiveCount: 5}}\n\
             \x20 Worker{index}:\n    Type: AWS::Serverless::Function\n    Properties:\n\
             \x20     CodeUri: worker/\n      Handler: app.handler\n      ReservedConcurrentExecutions: 0\n\
             \x20     Environment: {{Variables: {{QUEUE: !Ref Queue{index}}}}}\n\
             \x20     Events:\n        Jobs: {{Type: SQS, Properties: {{Queue: !GetAtt Queue{index}.Arn, BatchSize: 10}}}}\n"
        ));
    }
    text
}

fn main() {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|size| size.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![10, 100, 1000] } else { sizes };
    let ctx = DeployContext::new("us-east-1", "000000000000", "bench", "http://127.0.0.1:9000");
    for functions in sizes {
        let text = template(functions);
        let iterations = (2000 / functions).max(3);
        let started = Instant::now();
        for _ in 0..iterations {
            let plan = load_template_str(&text, Path::new("/app"), &[], &ctx).expect("template loads");
            assert_eq!(plan.functions.len(), functions);
        }
        let each = started.elapsed() / iterations as u32;
        println!(
            "{functions:>5} functions ({} resources, {} KiB): {:.2} ms per load ({iterations} loads)",
            functions * 3,
            text.len() / 1024,
            each.as_secs_f64() * 1000.0
        );
    }
}
