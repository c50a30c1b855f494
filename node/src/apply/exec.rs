//! Printing a plan (`--dry-run`) and carrying it out.

use reqwest::Method;
use serde_json::{Value, json};

use super::file::Source;
use super::plan::{Action, Change, field_diff};
use crate::cli::output::{Format, Progress, json as print_json, outln};
use crate::cli::{CliError, Ctx};

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
            outln!("    {field}: {} -> {}", short(&before), short(&after))?;
        }
    }
    outln!("plan: {}", summary(changes))
}

fn one(ctx: &Ctx, c: &Change) -> Result<(), CliError> {
    let path = c.kind.path(&c.key);
    let if_match = [("If-Match", format!("\"{}\"", c.version))];
    let body = c.after.clone().unwrap_or(Value::Null);
    match c.action {
        Action::Create => ctx.client.call(
            Method::POST,
            &format!("/v1/{}", c.kind.plural()),
            Some(&body),
            &[],
        ),
        Action::Update => ctx.client.call(Method::PUT, &path, Some(&body), &if_match),
        Action::Delete => ctx.client.call(Method::DELETE, &path, None, &if_match),
    }
    .map(|_| ())
}

/// Makes the changes in order; stops at the first refusal, naming the
/// item's position in the file.
pub fn execute(ctx: &Ctx, changes: &[Change], src: &Source) -> Result<(), CliError> {
    if changes.is_empty() {
        return outln!("no changes");
    }
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
