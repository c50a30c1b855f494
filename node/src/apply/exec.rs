//! Printing a plan (`--dry-run`) and carrying it out.

use reqwest::Method;
use serde_json::{Value, json};
use vexil_flags::scope::{Need, ProjectGrant, scope_allows};
use vexil_flags::{Flag, FlagDefinition};

use super::file::Source;
use super::plan::{Action, Change, field_diff, normal_flag};
use crate::cli::output::{Format, Progress, json as print_json, outln};
use crate::cli::versioned::Kind;
use crate::cli::{CliError, Ctx};

/// A flag's fields that are its definition, shared by every environment of
/// its project (`FlagDefinition`); the rest is one environment's.
const DEFINITION_FIELDS: [&str; 7] = [
    "key",
    "name",
    "description",
    "tags",
    "kind",
    "variations",
    "salt",
];

fn verb(a: Action) -> (&'static str, &'static str) {
    match a {
        Action::Create => ("+", "create"),
        Action::Update => ("~", "update"),
        Action::Delete => ("-", "delete"),
    }
}

fn summary(changes: &[Change]) -> String {
    let n = |a| changes.iter().filter(|c| c.action == a).count();
    format!(
        "{} to create, {} to update, {} to delete",
        n(Action::Create),
        n(Action::Update),
        n(Action::Delete)
    )
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(119).collect::<String>())
    } else {
        s
    }
}

/// `--dry-run`: the plan as lines (`+ flag x`, `~ flag y` and its fields)
/// or as JSON.
pub fn print_plan(ctx: &Ctx, changes: &[Change]) -> Result<(), CliError> {
    if ctx.format == Format::Json {
        let items: Vec<Value> = changes
            .iter()
            .map(|c| {
                let fields: serde_json::Map<String, Value> = field_diff(c)
                    .into_iter()
                    .map(|(k, b, a)| (k, json!({"before": b, "after": a})))
                    .collect();
                json!({"action": verb(c.action).1, "kind": c.kind.name(), "key": c.key, "fields": fields})
            })
            .collect();
        return print_json(&json!({ "changes": items }));
    }
    if changes.is_empty() {
        return outln!("no changes");
    }
    for c in changes {
        outln!("{} {} {}", verb(c.action).0, c.kind.name(), c.key)?;
        for (field, before, after) in field_diff(c) {
            // Applied to one environment, a definition field still changes
            // the flag in every environment of the project: say so.
            let shared = ctx.env.is_some()
                && c.kind == Kind::Flag
                && DEFINITION_FIELDS.contains(&field.as_str());
            let note = if shared { "  (every environment)" } else { "" };
            outln!("    {field}: {} -> {}{note}", short(&before), short(&after))?;
        }
    }
    outln!("plan: {}", summary(changes))
}

fn if_match(version: u64) -> [(&'static str, String); 1] {
    [("If-Match", format!("\"{version}\""))]
}

fn one(ctx: &Ctx, c: &Change) -> Result<(), CliError> {
    if let (Some((_, env)), Kind::Flag, Some(body)) = (&ctx.env, c.kind, &c.after) {
        return flag_in_env(ctx, env, c, body);
    }
    let path = ctx.path(c.kind, &c.key);
    let body = c.after.clone().unwrap_or(Value::Null);
    match c.action {
        Action::Create => ctx
            .client
            .call(Method::POST, &ctx.list_path(c.kind), Some(&body), &[]),
        Action::Update => ctx
            .client
            .call(Method::PUT, &path, Some(&body), &if_match(c.version)),
        Action::Delete => ctx
            .client
            .call(Method::DELETE, &path, None, &if_match(c.version)),
    }
    .map(|_| ())
}

fn parse_flag(v: &Value) -> Result<Flag, CliError> {
    serde_json::from_value(v.clone()).map_err(|e| CliError::local("reading a flag", e))
}

/// This environment's version of the flag in an answer carrying every
/// environment's configuration (a definition's).
fn config_in(answer: &Value, env: &str) -> Result<Flag, CliError> {
    parse_flag(&answer["environments"][env])
}

/// Creates or updates a flag in one environment of a project. A flag is
/// created in every environment at once, so a new one is made with this
/// file's definition and, everywhere, off with no targeting; then this
/// environment gets the file's configuration
/// ([`crate::cli::flags::create_in_env`]). A changed definition is
/// written first, for every environment (a new variation can then be served
/// here); the configuration's `If-Match` is then the version that write
/// left, so a concurrent edit still stops the apply.
fn flag_in_env(ctx: &Ctx, env: &str, c: &Change, body: &Value) -> Result<(), CliError> {
    let project = ctx.project();
    let declared = parse_flag(body)?;
    let config_path = ctx.path(Kind::Flag, &c.key);
    let now = match c.action {
        Action::Create => return crate::cli::flags::create_in_env(ctx, body).map(|_| ()),
        Action::Update => {
            let before = parse_flag(c.before.as_ref().unwrap_or(&Value::Null))?;
            let shared = FlagDefinition::of(project, &before);
            if shared.differs_from(&declared).is_some() {
                let def_path = ctx.project_flag_path(Some(&c.key));
                let current = ctx.client.get(&def_path)?;
                // Any write since the plan (to this configuration, or to the
                // definition, which rewrites every configuration) moved this
                // environment's version: stop before writing anything.
                let now = current["environments"][env]["version"].as_u64();
                if now != Some(c.version) {
                    return Err(changed_meanwhile(&c.key, env, c.version, now));
                }
                let version = current["version"].as_u64().unwrap_or(0);
                let def = FlagDefinition::of(project, &declared);
                let saved = ctx.client.call(
                    Method::PUT,
                    &def_path,
                    Some(&serde_json::to_value(&def).map_err(|e| CliError::local("a flag", e))?),
                    &if_match(version),
                )?;
                let after = config_in(&saved, env)?;
                // A write to this configuration between the read above and
                // the definition's write shows as a skipped version; the
                // definition is written by then (its If-Match held).
                if after.version != c.version + 1 {
                    let mut e = changed_meanwhile(&c.key, env, c.version, Some(after.version - 1));
                    if let CliError::Api { message, .. } = &mut e {
                        message.push_str("; its definition is applied");
                    }
                    return Err(e);
                }
                after
            } else {
                let mut current = before;
                current.version = c.version;
                current
            }
        }
        Action::Delete => unreachable_delete(&c.key)?,
    };
    if normal_flag(&now) == normal_flag(&declared) {
        return Ok(());
    }
    ctx.client
        .call(
            Method::PUT,
            &config_path,
            Some(body),
            &if_match(now.version),
        )
        .map(|_| ())
}

/// 409: flag `key`'s configuration in `env` is no longer at the planned
/// version.
fn changed_meanwhile(key: &str, env: &str, planned: u64, now: Option<u64>) -> CliError {
    let now = now.map_or_else(|| "gone".to_owned(), |v| format!("version {v}"));
    CliError::Api {
        status: 409,
        code: "version_conflict".into(),
        message: format!(
            "flag {key:?} changed in {env} while this apply ran (version {planned} when planned, \
             {now} now): run the apply again"
        ),
        field: None,
    }
}

/// Per environment, the plan never deletes a flag (see `apply::run`).
fn unreachable_delete(key: &str) -> Result<Flag, CliError> {
    Err(CliError::Usage(format!(
        "flag {key:?}: a flag is deleted from every environment at once, not by an apply to one"
    )))
}

/// The first change of an apply to one environment that writes what every
/// environment of the project shares: a new flag (made everywhere), or a
/// changed definition field.
fn first_shared_write<'c>(project: &str, changes: &'c [Change]) -> Option<(&'c Change, String)> {
    changes
        .iter()
        .filter(|c| c.kind == Kind::Flag)
        .find_map(|c| match c.action {
            Action::Create => Some((c, "a new flag is made in every environment".to_owned())),
            // The test `flag_in_env` writes the definition by.
            Action::Update => {
                let before = parse_flag(c.before.as_ref()?).ok()?;
                let declared = parse_flag(c.after.as_ref()?).ok()?;
                FlagDefinition::of(project, &before)
                    .differs_from(&declared)
                    .map(|field| (c, format!("its {field} is shared by every environment")))
            }
            Action::Delete => None,
        })
}

/// Refuses, before anything is written, an apply to one environment that
/// must write what every environment shares with a token whose scope
/// reaches only some of the project's environments: the server would
/// refuse that write (403) after the changes planned before it were made.
fn check_scope(ctx: &Ctx, changes: &[Change]) -> Result<(), CliError> {
    if ctx.env.is_none() {
        return Ok(());
    }
    let Some((c, why)) = first_shared_write(ctx.project(), changes) else {
        return Ok(());
    };
    let me = ctx.client.get("/v1/me")?;
    let scope: Option<Vec<ProjectGrant>> = match me.get("scope") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            serde_json::from_value(v.clone())
                .map_err(|e| CliError::local("reading the token's scope (/v1/me)", e))?,
        ),
    };
    let need = Need::Project(ctx.project().to_owned());
    if scope_allows(scope.as_deref(), &need) {
        return Ok(());
    }
    Err(CliError::Api {
        status: 403,
        code: "forbidden".into(),
        message: format!(
            "flag {:?}: {why}, and writing that needs a token whose scope covers {} (this one's: \
             {}); nothing was written",
            c.key,
            need.describe(),
            me.get("scope").map_or_else(String::new, Value::to_string)
        ),
        field: None,
    })
}

/// Makes the changes in order; stops at the first refusal, naming the
/// item's position in the file.
pub fn execute(ctx: &Ctx, changes: &[Change], src: &Source) -> Result<(), CliError> {
    if changes.is_empty() {
        return outln!("no changes");
    }
    check_scope(ctx, changes)?;
    let mut progress = Progress::new("apply", changes.len() as u64, false);
    for c in changes {
        if let Err(e) = one(ctx, c) {
            progress.finish();
            return Err(locate(e, c, src));
        }
        progress.println(&format!(
            "{}d {} {}",
            verb(c.action).1,
            c.kind.name(),
            c.key
        ))?;
        progress.inc();
    }
    progress.finish();
    outln!("applied: {}", summary(changes))
}

/// Prefixes a server's refusal with where the item is declared.
fn locate(e: CliError, c: &Change, src: &Source) -> CliError {
    match e {
        CliError::Api {
            status,
            code,
            message,
            field,
        } => {
            let what = match &field {
                Some(f) => format!("{f}: {message}"),
                None => message,
            };
            let message = if c.action == Action::Delete {
                format!(
                    "{} {} {:?} (pruned): {what}",
                    src.path.display(),
                    c.kind.name(),
                    c.key
                )
            } else {
                src.at(c.kind.name(), &c.key, &what)
            };
            CliError::Api {
                status,
                code,
                message,
                field: None,
            }
        }
        other => other,
    }
}
