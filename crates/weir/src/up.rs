//! `weir up`: start a node and deploy a SAM / CloudFormation template into
//! it, then keep it in step with the template and the code (`--watch`).
//!
//! The template becomes a validated `weir_sam::Plan`; each step is applied
//! through the node's own control plane (functions, versions, aliases,
//! concurrency, event-invoke settings, mappings) and its SQS API (queues),
//! converging on what already exists in the data directory.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Args;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use weir_node::Node;
use weir_node::code::{CodeInfo, CodeStore};
use weir_node::control::NewFunction;
use weir_node::esm::MappingRequest;
use weir_sam::{CodeSource, DeployContext, OutputValue, Plan, PlanStep};
use weir_wire::lambda as wire;

use crate::serve::{ServeArgs, announce, init_tracing, wait_for_signal};

#[derive(Args, Debug)]
pub struct UpArgs {
    /// The SAM or CloudFormation template (YAML or JSON).
    #[arg(default_value = "template.yaml")]
    pub template: PathBuf,
    /// Template parameters: `Name=Value` (several allowed).
    #[arg(long, num_args = 1.., value_name = "K=V")]
    pub parameter_overrides: Vec<String>,
    /// Apply code and template changes while running.
    #[arg(long)]
    pub watch: bool,
    #[command(flatten)]
    pub serve: ServeArgs,
}

pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    init_tracing();
    let overrides = weir_sam::parse_parameter_overrides(&args.parameter_overrides).map_err(anyhow::Error::msg)?;
    let mut running = weir_node::start(args.serve.node_config()).await?;
    let node = running.node.clone();
    let deployer = Deployer { node: node.clone(), template: args.template.clone(), overrides };
    let loaded = match deployer.plan() {
        Ok(loaded) => loaded,
        Err(err) => {
            eprintln!("{err:#}");
            running.shutdown().await;
            bail!("the template cannot be deployed");
        }
    };
    let mut state = DeployState::default();
    if let Err(err) = deployer.apply(&loaded.plan, &mut state).await {
        eprintln!("deploy failed: {err:#}");
        running.shutdown().await;
        bail!("deploy failed");
    }
    // Announced once the application is deployed, so scripts that wait for
    // this line can use it at once.
    announce(running.addr);
    let outputs = deployer.outputs(&loaded, &state);
    print_summary(&node, &loaded.plan, &outputs);
    if args.watch {
        let watcher = tokio::spawn(watch(deployer, loaded, state, outputs));
        wait_for_signal(&mut running).await;
        watcher.abort();
    } else {
        wait_for_signal(&mut running).await;
    }
    running.shutdown().await;
    Ok(())
}

struct Deployer {
    node: Arc<Node>,
    template: PathBuf,
    overrides: Vec<(String, String)>,
}

/// A plan and the template text it was loaded from (to resolve it again against what was
/// deployed).
struct Loaded {
    plan: Plan,
    text: String,
}

/// What this `weir up` deployed, to remove what leaves the template.
#[derive(Default)]
struct DeployState {
    functions: BTreeSet<String>,
    queues: BTreeSet<String>,
    mappings: BTreeSet<(String, String)>,
    /// (function, alias).
    aliases: BTreeSet<(String, String)>,
    /// (function, qualifier) with provisioned concurrency.
    provisioned: BTreeSet<(String, String)>,
    /// (function, qualifier) with an event invoke config.
    event_invoke: BTreeSet<(String, String)>,
    /// Code fingerprint of each function deployed from a folder.
    code: BTreeMap<String, (PathBuf, String)>,
    /// The version each of the plan's versions was published as (logical id → number).
    versions: BTreeMap<String, String>,
}

/// The SQS attributes a template manages; one it does not set gets SQS's default back
/// (`settings::default_value`), or is removed (the policies).
const QUEUE_ATTRIBUTES: &[&str] = &[
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "RedrivePolicy",
    "RedriveAllowPolicy",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
];
const FIFO_ONLY_ATTRIBUTES: &[&str] = &["ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"];

impl Deployer {
    fn context(&self) -> DeployContext {
        let node = &self.node;
        let stack = self
            .template
            .canonicalize()
            .ok()
            .and_then(|p| p.parent().and_then(|d| d.file_name()).map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "weir".into());
        let mut ctx = DeployContext::new(
            node.ctx.region.clone(),
            node.ctx.account_id.clone(),
            stack,
            node.control.endpoint_url.clone(),
        );
        ctx.account_concurrency_limit = node.config.core.account.concurrency_limit;
        ctx.minimum_unreserved = node.config.core.account.minimum_unreserved;
        ctx
    }

    fn base_dir(&self) -> PathBuf {
        std::path::absolute(&self.template)
            .ok()
            .and_then(|path| path.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("/"))
    }

    fn plan(&self) -> anyhow::Result<Loaded> {
        let text = std::fs::read_to_string(&self.template)
            .with_context(|| format!("cannot read template {}", self.template.display()))?;
        let loaded = weir_sam::load_template_str(&text, &self.base_dir(), &self.overrides, &self.context());
        // Shown for a template with problems too: a warning can explain a problem.
        let (warnings, not_deployed) = match &loaded {
            Ok(plan) => (&plan.warnings[..], &plan.not_deployed[..]),
            Err(err) => (err.warnings(), err.not_deployed()),
        };
        for warning in warnings {
            eprintln!("warning: {warning}");
        }
        if !not_deployed.is_empty() {
            eprintln!("not deployed (weir does not run these resource types yet):");
            for r in not_deployed {
                eprintln!("  {} ({})", r.logical_id, r.resource_type);
            }
        }
        let plan = loaded.with_context(|| format!("template {}", self.template.display()))?;
        Ok(Loaded { plan, text })
    }

    /// The template's outputs resolved against what was deployed: `!Ref Fn.Version`,
    /// `!GetAtt V.Version` and the like name the versions actually published, which differ from
    /// the plan's numbering (1, 2, … per function) once a data directory has older versions or
    /// `--watch` published new ones.
    fn outputs(&self, loaded: &Loaded, state: &DeployState) -> Vec<OutputValue> {
        let mut ctx = self.context();
        ctx.deployed_versions =
            state.versions.iter().filter_map(|(id, version)| Some((id.clone(), version.parse().ok()?))).collect();
        let as_planned =
            loaded.plan.versions.iter().all(|v| ctx.deployed_versions.get(&v.logical_id) == Some(&v.expected_version));
        if as_planned {
            return loaded.plan.outputs.clone();
        }
        match weir_sam::load_template_str(&loaded.text, &self.base_dir(), &self.overrides, &ctx) {
            Ok(deployed) => deployed.outputs,
            Err(_) => loaded.plan.outputs.clone(),
        }
    }

    async fn apply(&self, plan: &Plan, state: &mut DeployState) -> anyhow::Result<()> {
        for step in plan.apply_order() {
            match step {
                PlanStep::Queue(q) => {
                    self.queue(q).await.with_context(|| format!("queue {}", q.logical_id))?;
                    state.queues.insert(q.queue_name.clone());
                }
                PlanStep::Function(f) => {
                    let code = self.function(f).await.with_context(|| format!("function {}", f.logical_id))?;
                    state.functions.insert(f.function_name.clone());
                    if let CodeSource::Dir(dir) = &f.code {
                        state.code.insert(f.function_name.clone(), (dir.clone(), code.sha256));
                    }
                }
                PlanStep::Version(v) => {
                    let req = wire::PublishVersionRequest { description: v.description.clone(), ..Default::default() };
                    let published = self
                        .node
                        .control
                        .publish_version(&v.function_name, req)
                        .await
                        .with_context(|| format!("version {}", v.logical_id))?;
                    self.provisioned(&v.function_name, &published.version, v.provisioned_concurrency, state)
                        .await
                        .with_context(|| format!("version {}", v.logical_id))?;
                    state.versions.insert(v.logical_id.clone(), published.version);
                }
                PlanStep::Alias(a) => {
                    let version = a
                        .version_logical_id
                        .as_ref()
                        .and_then(|id| state.versions.get(id).cloned())
                        .unwrap_or_else(|| a.function_version.clone());
                    self.alias(a, &version).await.with_context(|| format!("alias {}", a.logical_id))?;
                    state.aliases.insert((a.function_name.clone(), a.alias_name.clone()));
                    self.provisioned(&a.function_name, &a.alias_name, a.provisioned_concurrency, state)
                        .await
                        .with_context(|| format!("alias {}", a.logical_id))?;
                }
                PlanStep::EventInvokeConfig(c) => {
                    let s = &c.settings;
                    let target = |d: &Option<weir_sam::Destination>| {
                        d.as_ref().map(|d| wire::DestinationTarget { destination: Some(d.arn.clone()) })
                    };
                    let req = wire::EventInvokeConfigRequest {
                        maximum_retry_attempts: s.maximum_retry_attempts.map(i64::from),
                        maximum_event_age_in_seconds: s.maximum_event_age_s.map(i64::from),
                        destination_config: Some(wire::DestinationConfig {
                            on_success: target(&s.on_success),
                            on_failure: target(&s.on_failure),
                        }),
                    };
                    let qualifier = (s.qualifier != "$LATEST").then_some(s.qualifier.as_str());
                    self.node
                        .control
                        .put_event_invoke(&c.function_name, qualifier, req, weir_node::event_invoke::Mode::Put)
                        .await
                        .with_context(|| format!("event invoke config {}", c.logical_id))?;
                    state.event_invoke.insert((c.function_name.clone(), s.qualifier.clone()));
                }
                PlanStep::EventSourceMapping(m) => {
                    self.mapping(m).await.with_context(|| format!("event source mapping {}", m.logical_id))?;
                    state.mappings.insert((m.event_source_arn.clone(), m.function_name.clone()));
                }
            }
        }
        Ok(())
    }

    /// Provisioned concurrency of `function:qualifier` as the plan has it: allocated, or removed
    /// when the plan has none (left over from an earlier run on the same data directory).
    async fn provisioned(
        &self,
        function: &str,
        qualifier: &str,
        amount: Option<u32>,
        state: &mut DeployState,
    ) -> anyhow::Result<()> {
        let control = &self.node.control;
        match amount {
            Some(n) => {
                control.put_provisioned(function, Some(qualifier), Some(i64::from(n))).await?;
                state.provisioned.insert((function.to_owned(), qualifier.to_owned()));
            }
            None => {
                if control.get_provisioned(function, qualifier).is_ok() {
                    control.delete_provisioned(function, qualifier).await?;
                    println!("removed provisioned concurrency of {function}:{qualifier}");
                }
            }
        }
        Ok(())
    }

    /// Creates the queue, or converges an existing one on the template: attributes the template
    /// sets get its values, the others SQS's defaults (a removed `RedrivePolicy` is removed).
    async fn queue(&self, q: &weir_sam::QueuePlan) -> anyhow::Result<()> {
        let mut body = json!({ "QueueName": q.queue_name, "Attributes": q.attributes });
        if !q.tags.is_empty() {
            body["tags"] = json!(q.tags);
        }
        let (status, created) = sqs(&self.node, "CreateQueue", body).await?;
        let exists = status == 400 && created["__type"].as_str().is_some_and(|t| t.ends_with("QueueNameExists"));
        if status != 200 && !exists {
            bail!("CreateQueue: {created}");
        }
        let (status, current) =
            sqs(&self.node, "GetQueueAttributes", json!({ "QueueUrl": q.queue_url, "AttributeNames": ["All"] }))
                .await?;
        if status != 200 {
            bail!("GetQueueAttributes: {current}");
        }
        let mut changes = serde_json::Map::new();
        for name in QUEUE_ATTRIBUTES {
            if !q.fifo && FIFO_ONLY_ATTRIBUTES.contains(name) {
                continue;
            }
            let wanted = q
                .attributes
                .get(*name)
                .map(String::as_str)
                .or_else(|| weir_node::sqs::settings::default_value(name, q.fifo));
            let actual = current["Attributes"][*name].as_str();
            if !same_attribute(wanted, actual) {
                changes.insert((*name).to_owned(), json!(wanted.unwrap_or_default()));
            }
        }
        if !changes.is_empty() {
            let (status, answer) =
                sqs(&self.node, "SetQueueAttributes", json!({ "QueueUrl": q.queue_url, "Attributes": changes }))
                    .await?;
            if status != 200 {
                bail!("SetQueueAttributes: {answer}");
            }
        }
        Ok(())
    }

    fn code(&self, f: &weir_sam::FunctionPlan) -> anyhow::Result<CodeInfo> {
        Ok(match &f.code {
            CodeSource::Dir(dir) => CodeStore::local_dir(dir)?,
            CodeSource::ZipFile(path) => {
                let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
                self.node.control.code.store_zip(&bytes)?
            }
            CodeSource::Inline(source) => {
                let dir = self.node.config.data_dir.join("inline").join(&f.function_name);
                std::fs::create_dir_all(&dir)?;
                let file = if f.runtime.starts_with("python") { "index.py" } else { "index" };
                std::fs::write(dir.join(file), source)?;
                CodeStore::local_dir(&dir)?
            }
        })
    }

    async fn function(&self, f: &weir_sam::FunctionPlan) -> anyhow::Result<CodeInfo> {
        let control = &self.node.control;
        let code = self.code(f)?;
        let dlq = f.dead_letter.as_ref().map(|d| d.target_arn.clone());
        match control.registry.get(&f.function_name) {
            None => {
                control
                    .create_function(NewFunction {
                        name: f.function_name.clone(),
                        runtime: f.runtime.clone(),
                        handler: f.handler.clone(),
                        role: None,
                        description: f.description.clone().unwrap_or_default(),
                        memory_mb: Some(i64::from(f.memory_mb)),
                        timeout_s: Some(i64::from(f.timeout_s)),
                        environment: f.environment.clone(),
                        code: code.clone(),
                        dead_letter_target_arn: dlq,
                        tags: BTreeMap::new(),
                        publish: false,
                    })
                    .await?;
            }
            Some(existing) => {
                if existing.record.latest.code != code {
                    control.update_code(&f.function_name, code.clone(), false, None).await?;
                }
                let req = wire::UpdateFunctionConfigurationRequest {
                    runtime: Some(f.runtime.clone()),
                    handler: Some(f.handler.clone()),
                    description: Some(f.description.clone().unwrap_or_default()),
                    timeout: Some(i64::from(f.timeout_s)),
                    memory_size: Some(i64::from(f.memory_mb)),
                    environment: Some(wire::Environment { variables: f.environment.clone() }),
                    dead_letter_config: Some(wire::DeadLetterConfig { target_arn: Some(dlq.unwrap_or_default()) }),
                    ..Default::default()
                };
                let latest = &existing.record.latest;
                let unchanged = latest.runtime == f.runtime
                    && latest.handler == f.handler
                    && latest.description == f.description.clone().unwrap_or_default()
                    && latest.timeout_s == f.timeout_s
                    && latest.memory_mb == f.memory_mb
                    && latest.environment == f.environment
                    && latest.dead_letter_target_arn == f.dead_letter.as_ref().map(|d| d.target_arn.clone());
                if !unchanged {
                    control.update_configuration(&f.function_name, req).await?;
                }
            }
        }
        match f.reserved_concurrency {
            Some(reserved) => {
                control.put_concurrency(&f.function_name, Some(i64::from(reserved))).await?;
            }
            None => {
                if control.get_concurrency(&f.function_name)?.is_some() {
                    control.delete_concurrency(&f.function_name).await?;
                }
            }
        }
        Ok(code)
    }

    async fn alias(&self, a: &weir_sam::AliasPlan, version: &str) -> anyhow::Result<()> {
        let control = &self.node.control;
        if control.get_alias(&a.function_name, &a.alias_name).is_ok() {
            let req = wire::UpdateAliasRequest {
                function_version: Some(version.into()),
                description: Some(a.description.clone().unwrap_or_default()),
                ..Default::default()
            };
            control.update_alias(&a.function_name, &a.alias_name, req).await?;
        } else {
            let req = wire::CreateAliasRequest {
                name: a.alias_name.clone(),
                function_version: version.into(),
                description: a.description.clone(),
                routing_config: None,
            };
            control.create_alias(&a.function_name, req).await?;
        }
        Ok(())
    }

    async fn mapping(&self, m: &weir_sam::EventSourceMappingPlan) -> anyhow::Result<()> {
        let function_name = match &m.qualifier {
            Some(q) => format!("{}:{q}", m.function_name),
            None => m.function_name.clone(),
        };
        let req = MappingRequest {
            event_source_arn: Some(m.event_source_arn.clone()),
            function_name: Some(function_name),
            enabled: Some(m.enabled),
            batch_size: Some(i64::from(m.batch_size)),
            maximum_batching_window_in_seconds: Some(i64::from(m.maximum_batching_window_s)),
            scaling_config: Some(weir_node::esm::ScalingConfigShape {
                maximum_concurrency: m.maximum_concurrency.map(i64::from),
            }),
            function_response_types: Some(m.function_response_types.clone()),
            // `{}` clears a FilterCriteria the template no longer has.
            filter_criteria: Some(m.filter_criteria.clone().unwrap_or_else(|| json!({}))),
            starting_position: None,
        };
        let existing = self
            .node
            .mappings
            .all()
            .into_iter()
            .find(|r| r.event_source_arn == m.event_source_arn && r.function_name == m.function_name);
        match existing {
            Some(record) => self.node.mappings.update(&self.node, &record.uuid, req).await?,
            None => self.node.mappings.create(&self.node, req).await?,
        };
        Ok(())
    }

    /// `--watch` saw the code of `function` change: `$LATEST` gets it and, as `sam sync` does
    /// for a function with `AutoPublishAlias`, a new version is published and the aliases that
    /// followed the generated version (the `AutoPublishAlias` one, and any alias of the template
    /// that references it) move to the new version, with their provisioned concurrency and the
    /// event source mappings that invoke them. Returns what happened, for the log line.
    async fn code_changed(
        &self,
        plan: &Plan,
        function: &str,
        code: CodeInfo,
        versions: &mut BTreeMap<String, String>,
    ) -> anyhow::Result<String> {
        let control = &self.node.control;
        control.update_code(function, code, false, None).await?;
        let generated = plan.function(function).and_then(|f| {
            f.auto_publish_alias.as_ref()?;
            plan.versions.iter().find(|v| v.generated_by.as_deref() == Some(f.logical_id.as_str()))
        });
        let Some(version) = generated else {
            return Ok("new environments use it".into());
        };
        let req = wire::PublishVersionRequest { description: version.description.clone(), ..Default::default() };
        let published = control.publish_version(function, req).await.context("publishing a version")?.version;
        versions.insert(version.logical_id.clone(), published.clone());
        let mut moved = Vec::new();
        for alias in plan.aliases.iter().filter(|a| a.version_logical_id.as_ref() == Some(&version.logical_id)) {
            let req = wire::UpdateAliasRequest { function_version: Some(published.clone()), ..Default::default() };
            control
                .update_alias(&alias.function_name, &alias.alias_name, req)
                .await
                .with_context(|| format!("moving alias {}", alias.alias_name))?;
            moved.push(alias.alias_name.as_str());
        }
        Ok(format!("published version {published}; alias {} now runs it", moved.join(", ")))
    }

    /// Removes what an earlier plan deployed and the new one no longer has: mappings, event
    /// invoke configs, provisioned concurrency, aliases, functions and queues. (Settings of what
    /// stays — reserved concurrency, queue attributes, mapping filters — were converged on the new
    /// plan by [`Deployer::apply`]. Published versions stay, as SAM retains them.)
    async fn remove_dropped(&self, old: &DeployState, new: &DeployState) {
        let control = &self.node.control;
        for (source, function) in old.mappings.difference(&new.mappings) {
            if let Some(record) = self
                .node
                .mappings
                .all()
                .into_iter()
                .find(|r| &r.event_source_arn == source && &r.function_name == function)
            {
                let _ = self.node.mappings.delete(&self.node, &record.uuid).await;
                println!("removed mapping {source} -> {function}");
            }
        }
        let kept = |function: &String| new.functions.contains(function);
        for (function, qualifier) in old.event_invoke.difference(&new.event_invoke).filter(|(f, _)| kept(f)) {
            let explicit = (qualifier != "$LATEST").then_some(qualifier.as_str());
            if control.delete_event_invoke(function, explicit).await.is_ok() {
                println!("removed event invoke config of {function}:{qualifier}");
            }
        }
        for (function, qualifier) in old.provisioned.difference(&new.provisioned).filter(|(f, _)| kept(f)) {
            if control.get_provisioned(function, qualifier).is_ok()
                && control.delete_provisioned(function, qualifier).await.is_ok()
            {
                println!("removed provisioned concurrency of {function}:{qualifier}");
            }
        }
        for (function, alias) in old.aliases.difference(&new.aliases).filter(|(f, _)| kept(f)) {
            if control.get_alias(function, alias).is_ok() && control.delete_alias(function, alias).await.is_ok() {
                println!("removed alias {function}:{alias}");
            }
        }
        for function in old.functions.difference(&new.functions) {
            if control.delete_function(function, None).await.is_ok() {
                self.node.async_invoker.function_deleted(&self.node, function).await;
                self.node.mappings.function_deleted(&self.node, function).await;
                println!("removed function {function}");
            }
        }
        for queue in old.queues.difference(&new.queues) {
            let url = format!("{}/{}/{queue}", control.endpoint_url, self.node.ctx.account_id);
            let _ = sqs(&self.node, "DeleteQueue", json!({ "QueueUrl": url })).await;
            println!("removed queue {queue}");
        }
    }
}

/// Whether an SQS attribute has the value wanted (`None`: absent); policies compare as JSON.
fn same_attribute(wanted: Option<&str>, actual: Option<&str>) -> bool {
    match (wanted, actual) {
        (None, None) => true,
        (Some(wanted), Some(actual)) => {
            wanted == actual
                || matches!(
                    (serde_json::from_str::<Value>(wanted), serde_json::from_str::<Value>(actual)),
                    (Ok(a @ Value::Object(_)), Ok(b)) if a == b
                )
        }
        (Some(wanted), None) => wanted.is_empty(),
        (None, Some(actual)) => actual.is_empty(),
    }
}

/// One SQS JSON 1.0 call to this node's own endpoint: (status, body).
async fn sqs(node: &Node, operation: &str, body: Value) -> anyhow::Result<(u16, Value)> {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let request = hyper::Request::post(format!("{}/", node.control.endpoint_url))
        .header("x-amz-target", format!("AmazonSQS.{operation}"))
        .header("content-type", "application/x-amz-json-1.0")
        .body(Full::new(Bytes::from(body.to_string())))?;
    let response = client.request(request).await?;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await?.to_bytes();
    let value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
    Ok((status, value))
}

fn print_summary(node: &Node, plan: &Plan, outputs: &[OutputValue]) {
    let endpoint = &node.control.endpoint_url;
    println!();
    println!("Functions:");
    for f in &plan.functions {
        let mut settings = vec![format!("{} MB", f.memory_mb), format!("timeout {} s", f.timeout_s)];
        if let Some(r) = f.reserved_concurrency {
            settings.push(format!("reserved concurrency {r}"));
        }
        if let (Some(alias), Some(n)) = (&f.auto_publish_alias, f.provisioned_concurrency) {
            settings.push(format!("provisioned concurrency {n} on alias {alias}"));
        }
        println!("  {:<24} {:<14} {}", f.function_name, f.runtime, settings.join(", "));
    }
    if !plan.queues.is_empty() {
        println!("Queues:");
        for q in &plan.queues {
            let dlq = q
                .dead_letter_target_arn
                .as_deref()
                .map(|a| format!(" (dead-letter queue {})", a.rsplit(':').next().unwrap_or(a)));
            println!("  {:<24} {}{}", q.queue_name, q.queue_url, dlq.unwrap_or_default());
        }
    }
    if !plan.event_source_mappings.is_empty() {
        println!("Event source mappings:");
        for m in &plan.event_source_mappings {
            let queue = m.event_source_arn.rsplit(':').next().unwrap_or(&m.event_source_arn);
            let mut settings = vec![format!("batch size {}", m.batch_size)];
            if let Some(max) = m.maximum_concurrency {
                settings.push(format!("maximum concurrency {max}"));
            }
            if m.function_response_types.iter().any(|t| t == "ReportBatchItemFailures") {
                settings.push("partial batch responses".into());
            }
            println!("  {queue} -> {} ({})", m.function_name, settings.join(", "));
        }
    }
    if !outputs.is_empty() {
        println!("Outputs:");
        print_outputs(outputs);
    }
    println!();
    println!("Try it:  aws --endpoint-url {endpoint} lambda list-functions");
    println!("         weir invoke FUNCTION --endpoint {endpoint} --payload '{{}}'");
}

fn print_outputs(outputs: &[OutputValue]) {
    for o in outputs {
        println!(
            "  {:<24} {}{}",
            o.logical_id,
            o.value,
            o.description.as_deref().map(|d| format!("  ({d})")).unwrap_or_default()
        );
    }
}

/// `--watch`: re-deploys a function's folder when its files change, and the
/// whole plan when the template changes.
async fn watch(deployer: Deployer, mut loaded: Loaded, mut state: DeployState, mut outputs: Vec<OutputValue>) {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut template_modified = modified(&deployer.template);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now_modified = modified(&deployer.template);
        if now_modified != template_modified {
            template_modified = now_modified;
            match deployer.plan() {
                Ok(new_loaded) => {
                    let mut new_state = DeployState::default();
                    match deployer.apply(&new_loaded.plan, &mut new_state).await {
                        Ok(()) => {
                            deployer.remove_dropped(&state, &new_state).await;
                            println!("template changed: applied");
                            outputs = deployer.outputs(&new_loaded, &new_state);
                            print_summary(&deployer.node, &new_loaded.plan, &outputs);
                            loaded = new_loaded;
                            state = new_state;
                        }
                        Err(err) => eprintln!("template changed but could not be applied: {err:#}"),
                    }
                }
                Err(err) => eprintln!("template changed but is not valid: {err:#}"),
            }
            continue;
        }
        let DeployState { code, versions, .. } = &mut state;
        let mut published = false;
        for (function, (dir, fingerprint)) in code.iter_mut() {
            let Ok(code) = CodeStore::local_dir(dir) else { continue };
            if &code.sha256 != fingerprint {
                let previous = versions.clone();
                match deployer.code_changed(&loaded.plan, function, code.clone(), versions).await {
                    Ok(message) => {
                        println!("code of {function} changed: {message}");
                        *fingerprint = code.sha256;
                        published |= *versions != previous;
                    }
                    Err(err) => eprintln!("updating {function}: {err:#}"),
                }
            }
        }
        if published {
            // Outputs naming the published versions changed with them.
            let now = deployer.outputs(&loaded, &state);
            let changed: Vec<OutputValue> = now.iter().filter(|o| !outputs.contains(o)).cloned().collect();
            if !changed.is_empty() {
                println!("Outputs:");
                print_outputs(&changed);
            }
            outputs = now;
        }
    }
}
