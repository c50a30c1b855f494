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

/// One project a token reaches: all its environments (now and later) when
/// `environments` is absent, else the listed ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectGrant {
    pub project: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environments: Option<Vec<String>>,
}

/// What a route needs of a token's scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// Every project: tokens, the cluster's members, backups, the audit
    /// log, creating a project.
    All,
    /// Every environment of one project: its definitions (which every
    /// environment shares), its environments, the project itself.
    Project(String),
    /// Some environment of one project: reading the project's record.
    InProject(String),
    /// One environment of one project: its configurations, segments,
    /// evaluation and feed.
    Env(String, String),
}

impl Need {
    /// The `default`/`production` scope that the unscoped routes serve.
    pub fn legacy() -> Need {
        Need::Env(DEFAULT_PROJECT.into(), LEGACY_ENVIRONMENT.into())
    }

    /// The environment whose id (`project/environment`) is `id`.
    pub fn env(id: &str) -> Need {
        match split_env_id(id) {
            Some((p, e)) => Need::Env(p.into(), e.into()),
            None => Need::legacy(),
        }
    }

    /// How a 403 names it: `all projects`, `project web`, `environment
    /// web/staging`.
    pub fn describe(&self) -> String {
        match self {
            Need::All => "all projects".into(),
            Need::Project(p) => format!("project {p} (all its environments)"),
            Need::InProject(p) => format!("project {p}"),
            Need::Env(p, e) => format!("environment {p}/{e}"),
        }
    }
}

/// A token's scope: `None` reaches every project (every token made before
/// scopes existed), else the listed projects.
pub fn scope_allows(scope: Option<&[ProjectGrant]>, need: &Need) -> bool {
    let Some(grants) = scope else {
        return true;
    };
    let grant = |p: &str| grants.iter().find(|g| g.project == p);
    match need {
        Need::All => false,
        Need::Project(p) => grant(p).is_some_and(|g| g.environments.is_none()),
        Need::InProject(p) => grant(p).is_some(),
        Need::Env(p, e) => grant(p).is_some_and(|g| {
            g.environments
                .as_ref()
                .is_none_or(|envs| envs.iter().any(|x| x == e))
        }),
    }
}

/// The one environment a scope reaches, when it reaches exactly one
/// (`project`, `environment`): what an `sdk` token's evaluation, feed and
/// OFREP serve.
pub fn single_environment(scope: Option<&[ProjectGrant]>) -> Option<(&str, &str)> {
    match scope? {
        [
            ProjectGrant {
                project,
                environments: Some(envs),
            },
        ] => match envs.as_slice() {
            [e] => Some((project.as_str(), e.as_str())),
            _ => None,
        },
        _ => None,
    }
}

/// Checks a scope's shape: at least one project, keys valid, no project or
/// environment twice, no empty environment list. `one_environment` (an
/// `sdk` token) requires exactly one project with exactly one environment.
pub fn validate_scope(grants: &[ProjectGrant], one_environment: bool) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if grants.is_empty() {
        errors.push(FieldError::new(
            "scope",
            code::REQUIRED,
            "list at least one project, or leave `scope` out for every project",
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, g) in grants.iter().enumerate() {
        let at = format!("scope[{i}]");
        if let Some(mut e) = validate_key(&format!("{at}.project"), &g.project) {
            e.field = format!("{at}.project");
            errors.push(e);
        }
        if !seen.insert(g.project.as_str()) {
            errors.push(FieldError::new(
                format!("{at}.project"),
                code::DUPLICATE,
                format!("project {:?} is listed twice", g.project),
            ));
        }
        if let Some(envs) = &g.environments {
            if envs.is_empty() {
                errors.push(FieldError::new(
                    format!("{at}.environments"),
                    code::REQUIRED,
                    "list at least one environment, or leave `environments` out for all of them",
                ));
            }
            let mut seen_env = std::collections::BTreeSet::new();
            for (j, e) in envs.iter().enumerate() {
                let field = format!("{at}.environments[{j}]");
                if let Some(mut err) = validate_key(&field, e) {
                    err.field = field.clone();
                    errors.push(err);
                }
                if !seen_env.insert(e.as_str()) {
                    errors.push(FieldError::new(
                        field,
                        code::DUPLICATE,
                        format!("environment {e:?} is listed twice"),
                    ));
                }
            }
        }
    }
    if one_environment && errors.is_empty() && single_environment(Some(grants)).is_none() {
        errors.push(FieldError::new(
            "scope",
            code::INVALID_SCOPE,
            "an sdk token serves exactly one environment: list one project with one environment",
        ));
    }
    errors
}

/// Grants from `project` and `project/environment` items (the CLI's
/// `--scope`): one grant per project, all its environments when any item
/// names the project alone.
pub fn parse_grants(items: &[String]) -> Result<Vec<ProjectGrant>, String> {
    let mut grants: Vec<ProjectGrant> = Vec::new();
    for item in items {
        let (project, env) = match item.split_once('/') {
            Some((p, e)) if !p.is_empty() && !e.is_empty() && !e.contains('/') => (p, Some(e)),
            None if !item.is_empty() => (item.as_str(), None),
            _ => {
                return Err(format!(
                    "scope {item:?}: write a project (`web`) or an environment of one (`web/staging`)"
                ));
            }
        };
        let at = match grants.iter().position(|g| g.project == project) {
            Some(i) => i,
            None => {
                grants.push(ProjectGrant {
                    project: project.to_owned(),
                    environments: Some(Vec::new()),
                });
                grants.len() - 1
            }
        };
        let grant = &mut grants[at];
        match (env, &mut grant.environments) {
            (None, envs) => *envs = None,
            (Some(e), Some(envs)) => {
                if !envs.iter().any(|x| x == e) {
                    envs.push(e.to_owned());
                }
            }
            (Some(_), None) => {}
        }
    }
    Ok(grants)
}

/// A scope as one line: `all projects`, or `web, api/staging, api/qa`.
pub fn describe_scope(scope: Option<&[ProjectGrant]>) -> String {
    let Some(grants) = scope else {
        return "all projects".into();
    };
    let mut parts = Vec::new();
    for g in grants {
        match &g.environments {
            None => parts.push(g.project.clone()),
            Some(envs) => parts.extend(envs.iter().map(|e| env_id(&g.project, e))),
        }
    }
    parts.join(", ")
}

#[cfg(test)]
mod scope_tests {
    use super::*;

    fn grants(items: &[&str]) -> Vec<ProjectGrant> {
        parse_grants(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("parse")
    }

    #[test]
    fn a_scope_reaches_what_it_lists_and_nothing_else() {
        let g = grants(&["web/staging", "api"]);
        let s = Some(g.as_slice());
        let env = |p: &str, e: &str| Need::Env(p.into(), e.into());
        assert!(scope_allows(s, &env("web", "staging")));
        assert!(!scope_allows(s, &env("web", "production")));
        assert!(scope_allows(s, &env("api", "anything")));
        assert!(!scope_allows(s, &env("default", "production")));
        assert!(scope_allows(s, &Need::Project("api".into())));
        assert!(!scope_allows(s, &Need::Project("web".into())));
        assert!(scope_allows(s, &Need::InProject("web".into())));
        assert!(!scope_allows(s, &Need::InProject("other".into())));
        assert!(!scope_allows(s, &Need::All));
        // No scope: everything (every token made before scopes).
        assert!(scope_allows(None, &Need::All));
        assert!(scope_allows(None, &env("web", "staging")));
    }

    #[test]
    fn only_a_scope_of_one_environment_selects_it() {
        assert_eq!(
            single_environment(Some(&grants(&["web/staging"]))),
            Some(("web", "staging"))
        );
        assert_eq!(single_environment(Some(&grants(&["web"]))), None);
        assert_eq!(
            single_environment(Some(&grants(&["web/staging", "web/qa"]))),
            None
        );
        assert_eq!(single_environment(None), None);
    }

    #[test]
    fn parsing_merges_a_projects_items_and_the_whole_project_wins() {
        assert_eq!(
            grants(&["web/a", "web/b", "web/a"]),
            vec![ProjectGrant {
                project: "web".into(),
                environments: Some(vec!["a".into(), "b".into()]),
            }]
        );
        assert_eq!(grants(&["web/a", "web"])[0].environments, None);
        assert_eq!(grants(&["web", "web/a"])[0].environments, None);
        for bad in ["", "/a", "web/", "a/b/c"] {
            assert!(parse_grants(&[bad.to_string()]).is_err(), "{bad:?}");
        }
        assert_eq!(
            describe_scope(Some(&grants(&["web/a", "api"]))),
            "web/a, api"
        );
        assert_eq!(describe_scope(None), "all projects");
    }

    #[test]
    fn validation_names_each_field() {
        let fields = |g: &[ProjectGrant], sdk: bool| -> Vec<String> {
            validate_scope(g, sdk)
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        assert_eq!(fields(&[], false), ["scope"]);
        assert_eq!(
            fields(&grants(&["web", "bad key"]), false),
            ["scope[1].project"]
        );
        let empty = vec![ProjectGrant {
            project: "web".into(),
            environments: Some(vec![]),
        }];
        assert_eq!(fields(&empty, false), ["scope[0].environments"]);
        assert_eq!(fields(&grants(&["web"]), true), ["scope"]);
        assert!(fields(&grants(&["web/staging"]), true).is_empty());
    }
}
