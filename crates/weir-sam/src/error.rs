//! Errors a template can have, and the collector that gathers them while a template is read.
//!
//! Owns: [`TemplateError`], [`Problem`] (one finding, naming where in the template it is) and
//! `Diagnostics` (problems plus warnings, collected rather than stopping at the first).
//! Never: decides what is a problem; the loader, resources and validation do.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::plan::NotDeployed;

/// Why a template could not become a plan.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The template file could not be read.
    #[error("cannot read template {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The text is not valid YAML / JSON.
    #[error("{format} syntax error{}: {message}", position(*line, *column))]
    Syntax { format: &'static str, line: Option<u32>, column: Option<u32>, message: String },
    /// The template parsed but is not deployable; every problem found is listed (the message
    /// lists the problems; the warnings and the resources weir would not deploy are kept so they
    /// can be shown too, as for a template that loads).
    #[error("{}", list_problems(problems))]
    Invalid { problems: Vec<Problem>, warnings: Vec<String>, not_deployed: Vec<NotDeployed> },
}

impl TemplateError {
    /// The problems of an [`TemplateError::Invalid`] template (empty for the other kinds).
    pub fn problems(&self) -> &[Problem] {
        match self {
            Self::Invalid { problems, .. } => problems,
            Self::Read { .. } | Self::Syntax { .. } => &[],
        }
    }

    /// The warnings found before loading stopped ([`crate::Plan::warnings`] of a template that
    /// loads).
    pub fn warnings(&self) -> &[String] {
        match self {
            Self::Invalid { warnings, .. } => warnings,
            Self::Read { .. } | Self::Syntax { .. } => &[],
        }
    }

    /// The resources (and SAM events) weir would not deploy, as far as loading got
    /// ([`crate::Plan::not_deployed`] of a template that loads).
    pub fn not_deployed(&self) -> &[NotDeployed] {
        match self {
            Self::Invalid { not_deployed, .. } => not_deployed,
            Self::Read { .. } | Self::Syntax { .. } => &[],
        }
    }
}

fn position(line: Option<u32>, column: Option<u32>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!(" at line {line}, column {column}"),
        (Some(line), None) => format!(" at line {line}"),
        _ => String::new(),
    }
}

fn list_problems(problems: &[Problem]) -> String {
    let mut text = match problems.len() {
        1 => "the template has 1 problem:".to_owned(),
        count => format!("the template has {count} problems:"),
    };
    for problem in problems {
        text.push_str("\n  - ");
        text.push_str(&problem.to_string());
    }
    text
}

/// One finding, located by its path in the template (`Resources.Worker.Properties.Timeout`)
/// and, where the format gives it, the line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Dotted path: section, logical id, `Properties`, property names.
    pub path: String,
    /// 1-based line in the template file.
    pub line: Option<u32>,
    pub message: String,
}

impl Problem {
    pub(crate) fn new(path: impl Into<String>, line: Option<u32>, message: impl Into<String>) -> Self {
        Self { path: path.into(), line, message: message.into() }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(formatter, "{} (line {line}): {}", self.path, self.message),
            None => write!(formatter, "{}: {}", self.path, self.message),
        }
    }
}

/// Problems and warnings found so far, plus the line of every property path that was read (so
/// checks that run on the finished plan can still point at the template line).
#[derive(Debug, Default)]
pub(crate) struct Diagnostics {
    problems: RefCell<Vec<Problem>>,
    warnings: RefCell<Vec<String>>,
    lines: RefCell<HashMap<String, u32>>,
}

impl Diagnostics {
    pub fn error(&self, problem: Problem) {
        self.problems.borrow_mut().push(problem);
    }

    pub fn error_at(&self, path: &str, message: impl Into<String>) {
        let line = self.line_of(path);
        self.error(Problem::new(path, line, message));
    }

    pub fn warn(&self, path: &str, line: Option<u32>, message: impl fmt::Display) {
        let text = match line {
            Some(line) => format!("{path} (line {line}): {message}"),
            None => format!("{path}: {message}"),
        };
        let mut warnings = self.warnings.borrow_mut();
        if !warnings.contains(&text) {
            warnings.push(text);
        }
    }

    pub fn record_line(&self, path: &str, line: Option<u32>) {
        if let Some(line) = line {
            self.lines.borrow_mut().entry(path.to_owned()).or_insert(line);
        }
    }

    /// The line recorded for `path`, or for its nearest recorded parent path.
    pub fn line_of(&self, path: &str) -> Option<u32> {
        let lines = self.lines.borrow();
        let mut candidate = path;
        loop {
            if let Some(line) = lines.get(candidate) {
                return Some(*line);
            }
            candidate = &candidate[..candidate.rfind('.')?];
        }
    }

    pub fn has_errors(&self) -> bool {
        !self.problems.borrow().is_empty()
    }

    /// Whether a problem was found at `path` or inside it (`Resources.Q.Properties` covers
    /// `Resources.Q.Properties.VisibilityTimeout`), so checks on the built plan can skip values
    /// that are only defaults standing in for a refused one.
    pub fn has_problem_at(&self, path: &str) -> bool {
        self.problems
            .borrow()
            .iter()
            .any(|problem| problem.path.strip_prefix(path).is_some_and(|rest| rest.is_empty() || rest.starts_with('.')))
    }

    /// `Err` with every problem found so far, if there is any.
    pub fn check(&self) -> Result<(), TemplateError> {
        self.check_with(&[])
    }

    /// [`Diagnostics::check`], the error also listing what would not be deployed.
    pub fn check_with(&self, not_deployed: &[NotDeployed]) -> Result<(), TemplateError> {
        if self.has_errors() {
            Err(TemplateError::Invalid {
                problems: self.problems.borrow().clone(),
                warnings: self.warnings.borrow().clone(),
                not_deployed: not_deployed.to_vec(),
            })
        } else {
            Ok(())
        }
    }

    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut self.warnings.borrow_mut())
    }
}
