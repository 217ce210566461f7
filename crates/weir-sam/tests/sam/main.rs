//! Integration tests of weir-sam through its public API: plans loaded from fixture templates
//! (snapshots, and equality across YAML short form, long form and JSON), every validation rule
//! with its message, and template errors.

mod errors;
mod plans;
mod robustness;
mod validation;

use std::path::{Path, PathBuf};

use weir_sam::{DeployContext, Plan, Problem, TemplateError, load_template_str};

/// Where relative code paths of string templates resolve to.
pub const BASE_DIR: &str = "/srv/app";

pub fn ctx() -> DeployContext {
    DeployContext::new("eu-central-1", "111122223333", "jobs", "http://127.0.0.1:9000")
}

pub fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixture_path(name)).expect("fixture exists")
}

pub fn load(text: &str) -> Result<Plan, TemplateError> {
    load_with(text, &[], &ctx())
}

pub fn load_with(text: &str, overrides: &[(&str, &str)], ctx: &DeployContext) -> Result<Plan, TemplateError> {
    let overrides: Vec<(String, String)> =
        overrides.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())).collect();
    load_template_str(text, Path::new(BASE_DIR), &overrides, ctx)
}

/// The problems of a template that must not load.
pub fn problems(text: &str) -> Vec<Problem> {
    problems_with(text, &ctx())
}

pub fn problems_with(text: &str, ctx: &DeployContext) -> Vec<Problem> {
    match load_with(text, &[], ctx) {
        Ok(plan) => panic!("the template loaded, expected problems; plan: {plan:#?}"),
        Err(error) => {
            assert!(!error.problems().is_empty(), "expected problems, got {error}");
            error.problems().to_vec()
        }
    }
}

/// The single problem of a template, checked to be the only one.
pub fn only_problem(text: &str) -> Problem {
    let mut found = problems(text);
    assert_eq!(found.len(), 1, "expected exactly one problem, got {found:#?}");
    found.remove(0)
}
