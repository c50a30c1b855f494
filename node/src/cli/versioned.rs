//! What `vexil flags`, `vexil segments`, `vexil projects` and `vexil envs`
//! share: all are versioned documents of the API.

use std::path::Path;

use reqwest::Method;
use serde_json::{Value, json};

use super::client::encode;
use super::output::{self, Format, outln};
use super::{CliError, Ctx};

/// Flags, segments, projects or environments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Flag,
    Segment,
    Project,
    /// Named `project/environment`.
    Environment,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Flag => "flag",
            Kind::Segment => "segment",
            Kind::Project => "project",
            Kind::Environment => "environment",
        }
    }

    /// `/v1/flags`, `/v1/segments` or `/v1/projects`, also the list's
    /// JSON field (environments are listed under their project).
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Flag => "flags",
            Kind::Segment => "segments",
            Kind::Project => "projects",
            Kind::Environment => "environments",
        }
    }

    pub fn path(self, key: &str) -> String {
        match (self, key.split_once('/')) {
            (Kind::Environment, Some((project, env))) => format!(
                "/v1/projects/{}/environments/{}",
                encode(project),
                encode(env)
            ),
            _ => format!("/v1/{}/{}", self.plural(), encode(key)),
        }
    }
}

/// Reads a JSON or YAML document (by extension; `-` is stdin, JSON or YAML).
pub fn read_document(file: &Path) -> Result<Value, CliError> {
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| CliError::local("stdin", e))?
    } else {
        std::fs::read_to_string(file).map_err(|e| CliError::input(file, &e))?
    };
    if text.trim().is_empty() {
        return Err(CliError::Usage(format!(
            "{} is empty: expected one flag or segment (JSON or YAML)",
            file.display()
        )));
    }
    crate::apply::file::parse_value(&text, file)
}

/// Prints a list as a table of `columns` or as JSON.
pub fn print_list(ctx: &Ctx, items: Vec<Value>, columns: &[&str]) -> Result<(), CliError> {
    match ctx.format {
        Format::Json => output::json(&Value::Array(items)),
        Format::Table => output::table(columns, &output::rows(&items, columns)),
    }
}

/// Prints the result of a change: the document as JSON, or one line.
pub fn print_one(ctx: &Ctx, v: &Value, what: &str) -> Result<(), CliError> {
    match ctx.format {
        Format::Json => output::json(v),
        Format::Table => outln!("{what}"),
    }
}

/// Prints one document: its fields, one a line, or as JSON.
pub fn get(ctx: &Ctx, kind: Kind, key: &str) -> Result<(), CliError> {
    let v = ctx.client.get(&ctx.path(kind, key))?;
    match ctx.format {
        Format::Json => output::json(&v),
        Format::Table => output::record(&v),
    }
}

pub fn create(ctx: &Ctx, kind: Kind, doc: Value) -> Result<(), CliError> {
    let path = match kind {
        Kind::Flag => ctx.project_flag_path(None),
        _ => ctx.list_path(kind),
    };
    let v = ctx.client.post(&path, &doc)?;
    print_one(
        ctx,
        &v,
        &format!("created {} {}", kind.name(), output::cell(v.get("key"))),
    )
}

/// Replaces a document: the file's `version` if it has one, else the
/// current version (the file's content wins).
pub fn update(ctx: &Ctx, kind: Kind, file: &Path) -> Result<(), CliError> {
    let doc = read_document(file)?;
    let key = doc
        .get("key")
        .and_then(Value::as_str)
        .ok_or_else(|| CliError::Usage(format!("{}: no `key`", file.display())))?
        .to_owned();
    let version = match doc
        .get("version")
        .and_then(Value::as_u64)
        .filter(|v| *v > 0)
    {
        Some(v) => v,
        None => ctx.client.get(&ctx.path(kind, &key))?["version"]
            .as_u64()
            .unwrap_or(0),
    };
    let v = ctx.client.call(
        Method::PUT,
        &ctx.path(kind, &key),
        Some(&doc),
        &[("If-Match", format!("\"{version}\""))],
    )?;
    print_one(
        ctx,
        &v,
        &format!(
            "updated {} {key} to version {}",
            kind.name(),
            output::cell(v.get("version"))
        ),
    )
}

pub fn delete(ctx: &Ctx, kind: Kind, key: &str) -> Result<(), CliError> {
    let path = match kind {
        Kind::Flag => ctx.project_flag_path(Some(key)),
        _ => ctx.path(kind, key),
    };
    let v = ctx.client.delete(&path)?;
    match ctx.format {
        Format::Json => output::json(&v),
        Format::Table => outln!("deleted {} {key}", kind.name()),
    }
}

pub fn rollback(ctx: &Ctx, kind: Kind, key: &str, version: u64) -> Result<(), CliError> {
    let path = format!("{}/rollback", ctx.path(kind, key));
    let v = ctx.client.post(&path, &json!({ "version": version }))?;
    print_one(
        ctx,
        &v,
        &format!(
            "{} {key} is now version {} (as version {version} was)",
            kind.name(),
            output::cell(v.get("version"))
        ),
    )
}

pub fn history(ctx: &Ctx, kind: Kind, key: &str, limit: usize) -> Result<(), CliError> {
    let path = format!("{}/versions?limit={limit}", ctx.path(kind, key));
    let page = ctx.client.get(&path)?;
    let items = page["versions"].as_array().cloned().unwrap_or_default();
    print_list(ctx, items, &["version", "at", "actor", "action", "index"])
}
