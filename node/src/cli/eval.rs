//! `vexil eval FLAG --context key=value …`.

use clap::Args;
use serde_json::{Map, Value, json};

use super::output::{self, Format, outln};
use super::{CliError, Ctx};

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The flag's key.
    pub flag: String,
    /// A context attribute, `name=value`; `key=…` is the targeting key.
    /// `true`/`false` and numbers are typed; a name given twice is a list.
    #[arg(long = "context", short = 'c', value_name = "NAME=VALUE")]
    pub context: Vec<String>,
}

/// Builds the context object from `name=value` pairs.
pub fn context(pairs: &[String]) -> Result<Value, CliError> {
    let mut out = Map::new();
    for pair in pairs {
        let (name, raw) = pair
            .split_once('=')
            .ok_or_else(|| CliError::Usage(format!("--context {pair:?} is not name=value")))?;
        if name.trim().is_empty() {
            return Err(CliError::Usage(format!(
                "--context {pair:?} has an empty attribute name (expected name=value)"
            )));
        }
        let value = if name == "key" {
            Value::String(raw.to_owned())
        } else {
            match raw {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => raw
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite())
                    .map_or_else(|| Value::String(raw.to_owned()), |n| json!(n)),
            }
        };
        match out.get_mut(name) {
            Some(Value::Array(list)) => list.push(Value::String(raw.to_owned())),
            Some(prev) => *prev = json!([output::cell(Some(prev)), raw]),
            None => {
                out.insert(name.to_owned(), value);
            }
        }
    }
    Ok(Value::Object(out))
}

pub fn run(ctx: &Ctx, args: &EvalArgs) -> Result<(), CliError> {
    let body = json!({ "flag": args.flag, "context": context(&args.context)? });
    let v = ctx.client.post(&ctx.evaluate_path(), &body)?;
    if ctx.format == Format::Json {
        return output::json(&v);
    }
    let reason = &v["reason"];
    let detail = match (
        reason.get("rule_id"),
        reason.get("prerequisite"),
        reason.get("error_kind"),
    ) {
        (Some(r), _, _) => format!(" (rule {})", output::cell(Some(r))),
        (_, Some(p), _) => format!(" (prerequisite {})", output::cell(Some(p))),
        (_, _, Some(e)) => format!(" ({})", output::cell(Some(e))),
        _ => String::new(),
    };
    outln!(
        "{}\t{}{detail}",
        v.get("value").map_or("null".into(), Value::to_string),
        output::cell(reason.get("kind"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_typed_and_repeats_make_lists() {
        let pairs: Vec<String> = ["key=42", "beta=true", "age=30", "group=a", "group=b"]
            .map(String::from)
            .to_vec();
        let c = context(&pairs).unwrap();
        assert_eq!(
            c,
            json!({"key": "42", "beta": true, "age": 30.0, "group": ["a", "b"]})
        );
        assert!(context(&["nope".into()]).is_err());
        assert!(context(&["=x".into()]).is_err());
    }
}
