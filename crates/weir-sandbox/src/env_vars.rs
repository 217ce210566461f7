//! The environment variables of an execution environment (lambda-semantics §6.2). The child
//! starts from an empty environment: nothing of the weir process leaks into a function.
//!
//! Precedence, lowest to highest: unreserved defaults (`PATH`, `LANG`, `TZ`, ...) < the
//! function's own variables < reserved Lambda variables < platform variables from the node.
//! A function variable named like a reserved one is ignored (Lambda rejects such
//! configurations at create time; the node should too, using [`RESERVED_ENV_VARS`]).

use std::path::Path;

use crate::types::EnvSpec;

/// Variables a function's configuration cannot set (Lambda's reserved list).
pub use weir_wire::lambda::RESERVED_ENVIRONMENT_VARIABLES as RESERVED_ENV_VARS;

/// Dummy credentials: SDKs inside the function sign requests with them (weir's endpoints
/// accept them); they grant nothing anywhere else.
pub const DUMMY_ACCESS_KEY_ID: &str = "AKIAWEIRLOCALEXAMPLE";
pub const DUMMY_SECRET_ACCESS_KEY: &str = "weir/local/dummy/secret/access/key/EXAMPLE";
pub const DUMMY_SESSION_TOKEN: &str = "weir-local-session-token";

/// Paths the environment needs.
pub(crate) struct EnvPaths<'a> {
    pub runtime_api: &'a str,
    pub runtime_dir: &'a Path,
    pub tmp_dir: &'a Path,
    /// The absolute code directory (`LAMBDA_TASK_ROOT`).
    pub task_root: &'a Path,
    /// Directory of the Python interpreter, put first on `PATH` (python runtimes only).
    pub python_bin_dir: Option<&'a Path>,
}

pub(crate) fn is_python_runtime(runtime: &str) -> bool {
    runtime.starts_with("python3")
}

/// The complete environment, in the order it is applied (later entries win).
pub(crate) fn build(spec: &EnvSpec, paths: &EnvPaths<'_>) -> Vec<(String, String)> {
    let task_root = paths.task_root.display().to_string();
    let runtime_dir = paths.runtime_dir.display().to_string();
    let python = is_python_runtime(&spec.runtime);
    let mut path = String::new();
    if let Some(bin) = paths.python_bin_dir {
        path.push_str(&bin.display().to_string());
        path.push(':');
    }
    path.push_str("/usr/local/bin:/usr/bin/:/bin:/opt/bin");

    let mut vars: Vec<(String, String)> = Vec::with_capacity(32 + spec.user_environment.len());
    let mut set = |k: &str, v: String| vars.push((k.to_owned(), v));
    // Unreserved defaults.
    set("PATH", path);
    set("LANG", "en_US.UTF-8".into());
    set("TZ", ":UTC".into());
    set(
        "LD_LIBRARY_PATH",
        format!("/lib64:/usr/lib64:{runtime_dir}:{runtime_dir}/lib:{task_root}:{task_root}/lib:/opt/lib"),
    );
    set("TMPDIR", paths.tmp_dir.display().to_string());
    if python {
        set("PYTHONPATH", task_root.clone());
    }

    // The function's own variables.
    for (key, value) in &spec.user_environment {
        if RESERVED_ENV_VARS.contains(&key.as_str()) {
            tracing::warn!(function = %spec.function_name, variable = %key,
                "ignoring a reserved environment variable set by the function configuration");
            continue;
        }
        vars.push((key.clone(), value.clone()));
    }

    // Reserved Lambda variables.
    let mut set = |k: &str, v: String| vars.push((k.to_owned(), v));
    set("AWS_LAMBDA_RUNTIME_API", paths.runtime_api.to_owned());
    set("_HANDLER", spec.handler.clone());
    set("AWS_LAMBDA_FUNCTION_NAME", spec.function_name.clone());
    set("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", spec.memory_mb.to_string());
    set("AWS_LAMBDA_FUNCTION_VERSION", spec.function_version.clone());
    set("AWS_LAMBDA_INITIALIZATION_TYPE", spec.init_type.as_env_value().to_owned());
    set("AWS_LAMBDA_LOG_GROUP_NAME", spec.log_group_name.clone());
    set("AWS_LAMBDA_LOG_STREAM_NAME", spec.log_stream_name.clone());
    set("LAMBDA_TASK_ROOT", task_root);
    set("LAMBDA_RUNTIME_DIR", runtime_dir);
    set("AWS_REGION", spec.region.clone());
    set("AWS_DEFAULT_REGION", spec.region.clone());
    if python {
        set("AWS_EXECUTION_ENV", format!("AWS_Lambda_{}", spec.runtime));
    }
    set("AWS_ACCESS_KEY_ID", DUMMY_ACCESS_KEY_ID.into());
    set("AWS_SECRET_ACCESS_KEY", DUMMY_SECRET_ACCESS_KEY.into());
    set("AWS_SESSION_TOKEN", DUMMY_SESSION_TOKEN.into());

    // Platform variables win.
    vars.extend(spec.platform_environment.iter().cloned());
    vars
}
