//! `vexil projects …` and `vexil envs …` (admin for changes).

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use super::client::encode;
use super::output::{self, Format, outln};
use super::versioned::{self, Kind};
use super::{CliError, Ctx};

#[derive(Debug, Subcommand)]
pub enum ProjectsCmd {
    /// List projects (every page), with their environments.
    List,
    /// Print one project and its environments.
    Get {
        /// The project's key.
        key: String,
    },
    /// Create a project; it gets development, staging and production.
    Create {
        /// The project's key: 1-128 of [A-Za-z0-9._-].
        key: String,
        /// Its name in the UI.
        #[arg(long)]
        name: Option<String>,
        /// What it is for.
        #[arg(long)]
        description: Option<String>,
    },
    /// Change a project's name or description.
    Update {
        /// The project's key.
        key: String,
        /// Its new name.
        #[arg(long)]
        name: Option<String>,
        /// Its new description.
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete a project and its environments (refused while it holds flags,
    /// unless `--confirm`).
    Delete {
        /// The project's key.
        key: String,
        /// Delete it with every flag, segment and environment it holds;
        /// `vexil projects rollback` restores it with its flags, then
        /// `vexil envs rollback` each environment with what it held.
        #[arg(long)]
        confirm: bool,
    },
    /// Make a project as it was at a version; restores a deleted one.
    Rollback {
        /// The project's key.
        key: String,
        /// The version to go back to (see `history`).
        #[arg(long)]
        version: u64,
    },
    /// A project's versions, newest first.
    History {
        /// The project's key.
        key: String,
        /// At most this many versions.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

/// The project an `envs` command is about.
#[derive(Debug, Args)]
pub struct ProjectArg {
    /// The project (also `VEXIL_PROJECT`).
    #[arg(long, env = "VEXIL_PROJECT", default_value = "default")]
    project: String,
}

/// What `envs create` and `envs update` may set.
#[derive(Debug, Args)]
pub struct EnvFields {
    /// Its name in the UI.
    #[arg(long)]
    name: Option<String>,
    /// `#rrggbb`, the UI's colour for it.
    #[arg(long)]
    color: Option<String>,
    /// Where it sorts among the project's environments.
    #[arg(long, allow_negative_numbers = true)]
    order: Option<i32>,
    /// Mark it as production (the UI confirms changes there).
    #[arg(long)]
    production: Option<bool>,
}

impl EnvFields {
    fn apply(self, doc: &mut Map<String, Value>) {
        let fields = [
            ("name", self.name.map(Value::from)),
            ("color", self.color.map(Value::from)),
            ("order", self.order.map(Value::from)),
            ("production", self.production.map(Value::from)),
        ];
        for (k, v) in fields {
            if let Some(v) = v {
                doc.insert(k.into(), v);
            }
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum EnvsCmd {
    /// List a project's environments, in display order.
    List {
        #[command(flatten)]
        project: ProjectArg,
    },
    /// Print one environment.
    Get {
        /// The environment's key.
        key: String,
        #[command(flatten)]
        project: ProjectArg,
    },
    /// Create an environment in the project: every flag disabled there, or
    /// a copy of another environment with `--copy-from`.
    Create {
        /// The environment's key: 1-128 of [A-Za-z0-9._-].
        key: String,
        #[command(flatten)]
        project: ProjectArg,
        #[command(flatten)]
        fields: EnvFields,
        /// Start as a copy of this environment of the project: its segments
        /// and every flag's configuration.
        #[arg(long, value_name = "ENV")]
        copy_from: Option<String>,
    },
    /// Change an environment's name, colour, order or production mark.
    Update {
        /// The environment's key.
        key: String,
        #[command(flatten)]
        project: ProjectArg,
        #[command(flatten)]
        fields: EnvFields,
    },
    /// Delete an environment (refused while it holds flags, unless
    /// `--confirm`).
    Delete {
        /// The environment's key.
        key: String,
        #[command(flatten)]
        project: ProjectArg,
        /// Delete it with every flag configuration and segment it holds;
        /// `vexil envs rollback` restores them with it.
        #[arg(long)]
        confirm: bool,
    },
    /// Where two environments differ: the flags and segments configured
    /// differently, and the fields that differ.
    Compare {
        /// The environment compared from.
        from: String,
        /// The environment compared to.
        to: String,
        #[command(flatten)]
        project: ProjectArg,
        /// Only flags with this tag.
        #[arg(long)]
        tag: Option<String>,
    },
    /// Make an environment as it was at a version; restores a deleted one.
    Rollback {
        /// The environment's key.
        key: String,
        #[command(flatten)]
        project: ProjectArg,
        /// The version to go back to (see `history`).
        #[arg(long)]
        version: u64,
    },
    /// An environment's versions, newest first.
    History {
        /// The environment's key.
        key: String,
        #[command(flatten)]
        project: ProjectArg,
        /// At most this many versions.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

fn text_fields(name: Option<String>, description: Option<String>, doc: &mut Map<String, Value>) {
    if let Some(n) = name {
        doc.insert("name".into(), n.into());
    }
    if let Some(d) = description {
        doc.insert("description".into(), d.into());
    }
}

/// Reads the current document, changes `edit`'s fields and replaces it at
/// the version read.
fn edit(
    ctx: &Ctx,
    kind: Kind,
    id: &str,
    edit: impl FnOnce(&mut Map<String, Value>),
) -> Result<(), CliError> {
    let path = kind.path(id);
    let mut doc = ctx.client.get(&path)?;
    let version = doc["version"].as_u64().unwrap_or(0);
    if let Some(o) = doc.as_object_mut() {
        edit(o);
        for read_only in ["environments", "created_at", "updated_at", "updated_by"] {
            o.remove(read_only);
        }
    }
    let v = ctx.client.call(
        reqwest::Method::PUT,
        &path,
        Some(&doc),
        &[("If-Match", format!("\"{version}\""))],
    )?;
    versioned::print_one(
        ctx,
        &v,
        &format!(
            "updated {} {id} to version {}",
            kind.name(),
            output::cell(v.get("version"))
        ),
    )
}

pub fn run_projects(ctx: &Ctx, cmd: ProjectsCmd) -> Result<(), CliError> {
    let kind = Kind::Project;
    match cmd {
        ProjectsCmd::List => {
            let mut items = ctx.client.all_pages("/v1/projects", "projects")?;
            for p in &mut items {
                let envs: Vec<String> = p["environments"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e["key"].as_str().map(str::to_owned))
                    .collect();
                if ctx.format == Format::Table {
                    p["environments"] = json!(envs.join(","));
                }
            }
            versioned::print_list(ctx, items, &["key", "version", "name", "environments"])
        }
        ProjectsCmd::Get { key } => versioned::get(ctx, kind, &key),
        ProjectsCmd::Create {
            key,
            name,
            description,
        } => {
            let mut doc = Map::new();
            doc.insert("key".into(), key.into());
            text_fields(name, description, &mut doc);
            versioned::create(ctx, kind, Value::Object(doc))
        }
        ProjectsCmd::Update {
            key,
            name,
            description,
        } => edit(ctx, kind, &key, |doc| text_fields(name, description, doc)),
        ProjectsCmd::Delete {
            key,
            confirm: false,
        } => versioned::delete(ctx, kind, &key),
        ProjectsCmd::Delete { key, .. } => {
            let path = format!("{}?confirm=true", kind.path(&key));
            let v = ctx.client.delete(&path)?;
            match ctx.format {
                Format::Json => output::json(&v),
                Format::Table => outln!(
                    "deleted project {key} with everything it held (`vexil projects rollback {key} \
                     --version {}` restores it, then `vexil envs rollback` each environment)",
                    v["version"].as_u64().unwrap_or(1).saturating_sub(1)
                ),
            }
        }
        ProjectsCmd::Rollback { key, version } => versioned::rollback(ctx, kind, &key, version),
        ProjectsCmd::History { key, limit } => versioned::history(ctx, kind, &key, limit),
    }
}

pub fn run_envs(ctx: &Ctx, cmd: EnvsCmd) -> Result<(), CliError> {
    let kind = Kind::Environment;
    let id = |project: &ProjectArg, key: &str| format!("{}/{key}", project.project);
    match cmd {
        EnvsCmd::List { project } => {
            let path = format!("/v1/projects/{}/environments", encode(&project.project));
            let v = ctx.client.get(&path)?;
            let items = v["environments"].as_array().cloned().unwrap_or_default();
            versioned::print_list(
                ctx,
                items,
                &["key", "version", "name", "color", "order", "production"],
            )
        }
        EnvsCmd::Get { key, project } => versioned::get(ctx, kind, &id(&project, &key)),
        EnvsCmd::Create {
            key,
            project,
            fields,
            copy_from,
        } => {
            let mut doc = Map::new();
            doc.insert("key".into(), key.clone().into());
            fields.apply(&mut doc);
            if let Some(from) = &copy_from {
                doc.insert("copy_from".into(), from.clone().into());
            }
            let path = format!("/v1/projects/{}/environments", encode(&project.project));
            let v = ctx.client.post(&path, &Value::Object(doc))?;
            let copied = copy_from
                .map(|f| format!(" as a copy of {f}"))
                .unwrap_or_default();
            versioned::print_one(
                ctx,
                &v,
                &format!("created environment {}{copied}", id(&project, &key)),
            )
        }
        EnvsCmd::Update {
            key,
            project,
            fields,
        } => edit(ctx, kind, &id(&project, &key), |doc| fields.apply(doc)),
        EnvsCmd::Delete {
            key,
            project,
            confirm: false,
        } => versioned::delete(ctx, kind, &id(&project, &key)),
        EnvsCmd::Delete { key, project, .. } => {
            let path = format!("{}?confirm=true", kind.path(&id(&project, &key)));
            let v = ctx.client.delete(&path)?;
            match ctx.format {
                Format::Json => output::json(&v),
                Format::Table => outln!(
                    "deleted environment {} with everything it held (`vexil envs rollback` restores it)",
                    id(&project, &key)
                ),
            }
        }
        EnvsCmd::Compare {
            from,
            to,
            project,
            tag,
        } => compare(ctx, &project.project, &from, &to, tag.as_deref()),
        EnvsCmd::Rollback {
            key,
            project,
            version,
        } => versioned::rollback(ctx, kind, &id(&project, &key), version),
        EnvsCmd::History {
            key,
            project,
            limit,
        } => versioned::history(ctx, kind, &id(&project, &key), limit),
    }
}

fn compare(
    ctx: &Ctx,
    project: &str,
    from: &str,
    to: &str,
    tag: Option<&str>,
) -> Result<(), CliError> {
    let mut path = format!(
        "/v1/projects/{}/compare?from={}&to={}",
        encode(project),
        encode(from),
        encode(to)
    );
    if let Some(tag) = tag {
        path.push_str(&format!("&tag={}", encode(tag)));
    }
    let v = ctx.client.get(&path)?;
    if ctx.format == Format::Json {
        return output::json(&v);
    }
    let mut rows = Vec::new();
    for kind in ["flags", "segments"] {
        for d in v[kind].as_array().into_iter().flatten() {
            let fields: Vec<&str> = d["fields"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            rows.push(vec![
                kind.trim_end_matches('s').to_owned(),
                output::cell(d.get("key")),
                output::cell(d.get("status")),
                fields.join(", "),
            ]);
        }
    }
    output::table(&["kind", "key", "status", "fields"], &rows)?;
    outln!(
        "{} flags and {} segments are the same in {from} and {to}",
        output::cell(v.get("same_flags")),
        output::cell(v.get("same_segments"))
    )
}
