//! Projects and environments: the scopes flags live in.
//!
//! A **project** owns flags, segments and environments; an **environment**
//! (development, staging, production, …) is where a flag's configuration
//! applies. Both are versioned records like flags: every change is a new
//! version with an audit entry, and a deleted one can be restored.
//!
//! A fresh cluster has project [`DEFAULT_PROJECT`] with the environments of
//! [`default_environments`]. Every flag and segment made before projects
//! existed lives in [`DEFAULT_PROJECT`] / [`LEGACY_ENVIRONMENT`], and so do
//! the routes that name no scope (`/v1/flags`, `/v1/evaluate`, `/v1/stream`,
//! OFREP).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::limits::{MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS};
use crate::validate::{FieldError, code, validate_key};

/// The project every cluster starts with, and that the unscoped routes use.
pub const DEFAULT_PROJECT: &str = "default";

/// The environment of [`DEFAULT_PROJECT`] that holds the flags and segments
/// made before projects existed, and that the unscoped routes serve.
pub const LEGACY_ENVIRONMENT: &str = "production";

/// A project: a key, a name and a description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Project {
    /// 1–128 chars of `[A-Za-z0-9._-]`, unique in the cluster.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,128}$")]
    pub key: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Server-assigned: increments on every committed change.
    #[serde(default)]
    pub version: u64,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated_by: Option<String>,
}

/// An environment of a project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// 1–128 chars of `[A-Za-z0-9._-]`, unique in its project.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,128}$")]
    pub key: String,
    /// The project's key; filled from the path when absent.
    #[serde(default)]
    pub project: String,
    #[serde(default)]
    pub name: String,
    /// The UI's colour for it, `#rrggbb`; defaults to grey.
    #[serde(default = "default_color")]
    #[schema(pattern = "^#[0-9a-fA-F]{6}$")]
    pub color: String,
    /// Where it sorts among its project's environments (then by key).
    #[serde(default)]
    pub order: i32,
    /// A production environment: the UI asks for confirmation before a
    /// change there.
    #[serde(default)]
    pub production: bool,
    /// Server-assigned: increments on every committed change.
    #[serde(default)]
    pub version: u64,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated_by: Option<String>,
}

fn default_color() -> String {
    "#808080".into()
}

impl Environment {
    /// `project/key`: the environment's name in audit targets, version
    /// histories and tokens' scopes (`/` is not a key character).
    pub fn id(&self) -> String {
        env_id(&self.project, &self.key)
    }
}

/// `project/environment`.
pub fn env_id(project: &str, env: &str) -> String {
    format!("{project}/{env}")
}

/// The project and environment of an [`env_id`].
pub fn split_env_id(id: &str) -> Option<(&str, &str)> {
    id.split_once('/')
}

/// The project a fresh cluster has.
pub fn default_project() -> Project {
    Project {
        key: DEFAULT_PROJECT.into(),
        name: "Default".into(),
        description: String::new(),
        version: 0,
        created_at: None,
        updated_at: None,
        updated_by: None,
    }
}

/// The environments a new project gets when its request names none:
/// development, staging and production, in that order.
pub fn default_environments(project: &str) -> Vec<Environment> {
    [
        ("development", "Development", "#3b82f6", false),
        ("staging", "Staging", "#f59e0b", false),
        ("production", "Production", "#dc2626", true),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (key, name, color, production))| Environment {
        key: key.into(),
        project: project.into(),
        name: name.into(),
        color: color.into(),
        order: i as i32,
        production,
        version: 0,
        created_at: None,
        updated_at: None,
        updated_by: None,
    })
    .collect()
}

fn chars(field: &str, s: &str, max: usize, errors: &mut Vec<FieldError>) {
    let n = s.chars().count();
    if n > max {
        errors.push(FieldError::new(
            field,
            code::TOO_LONG,
            format!("has {n} characters; at most {max}"),
        ));
    }
}

/// Every problem with `project`.
pub fn validate_project(project: &Project) -> Vec<FieldError> {
    let mut errors = Vec::new();
    errors.extend(validate_key("key", &project.key));
    chars("name", &project.name, MAX_NAME_CHARS, &mut errors);
    chars(
        "description",
        &project.description,
        MAX_DESCRIPTION_CHARS,
        &mut errors,
    );
    errors
}

/// Every problem with `env` on its own (that its project exists is the
/// state machine's check).
pub fn validate_environment(env: &Environment) -> Vec<FieldError> {
    let mut errors = Vec::new();
    errors.extend(validate_key("key", &env.key));
    errors.extend(validate_key("project", &env.project));
    chars("name", &env.name, MAX_NAME_CHARS, &mut errors);
    let hex = env.color.len() == 7
        && env.color.starts_with('#')
        && env.color[1..].bytes().all(|b| b.is_ascii_hexdigit());
    if !hex {
        errors.push(FieldError::new(
            "color",
            code::INVALID_VALUE,
            "must be a colour as #rrggbb",
        ));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_production_is_last() {
        assert!(validate_project(&default_project()).is_empty());
        let envs = default_environments(DEFAULT_PROJECT);
        assert_eq!(envs.len(), 3);
        for e in &envs {
            assert_eq!(validate_environment(e), vec![], "{}", e.key);
        }
        let last = envs.last().map(|e| (e.key.as_str(), e.production));
        assert_eq!(last, Some((LEGACY_ENVIRONMENT, true)));
    }

    #[test]
    fn bad_fields_are_named() {
        let mut e = default_environments("web").remove(0);
        e.color = "blue".into();
        e.key = "a/b".into();
        e.name = "x".repeat(MAX_NAME_CHARS + 1);
        let fields: Vec<String> = validate_environment(&e)
            .into_iter()
            .map(|f| f.field)
            .collect();
        assert_eq!(fields, ["key", "name", "color"]);
        let mut p = default_project();
        p.key = String::new();
        p.description = "d".repeat(MAX_DESCRIPTION_CHARS + 1);
        let fields: Vec<String> = validate_project(&p).into_iter().map(|f| f.field).collect();
        assert_eq!(fields, ["key", "description"]);
    }

    #[test]
    fn env_ids_round_trip() {
        assert_eq!(env_id("web", "staging"), "web/staging");
        assert_eq!(split_env_id("web/staging"), Some(("web", "staging")));
    }
}
