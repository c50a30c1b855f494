//! An OFREP request body to a Vexil [`Context`].
//!
//! The body is `{"context": {...}}`; an empty body, `{}` and `"context": null`
//! all mean "no context" (an empty targeting key, no attributes). Fields
//! other than `context` are ignored, for forward compatibility.
//!
//! | OFREP context | Vexil context |
//! |---|---|
//! | `targetingKey` (a string) | `key`, the targeting key |
//! | a string, number or boolean | the same attribute |
//! | a list of strings | a list attribute (any element may match a clause) |
//! | `null` | absent |
//! | an object, or a list holding a non-string | refused: `INVALID_CONTEXT` |
//! | an attribute named `key` | refused: `INVALID_CONTEXT` (send it as `targetingKey`) |
//!
//! Nested objects are refused rather than flattened: a flattened name such as
//! `user.plan` would be a name nobody wrote in a rule, and a silent mismatch
//! is worse than an error. Send `user.plan` as an attribute of that name.
//! A body that is not JSON, or whose top level is not an object, is a
//! `PARSE_ERROR`. A context over a size limit
//! ([`vexil_flags::limits::MAX_ATTRIBUTE_BYTES`] a value,
//! [`vexil_flags::limits::MAX_CONTEXT_BYTES`] in all) is `INVALID_CONTEXT`,
//! naming the attribute (`targetingKey` for the key).

use serde_json::{Map, Value};
use vexil_flags::openfeature::OfErrorCode;
use vexil_flags::{AttrValue, Context};

/// Why a body gave no context: the OpenFeature code and a sentence.
pub type ContextError = (OfErrorCode, String);

/// Parses an OFREP request body into a context.
pub fn parse(body: &[u8]) -> Result<Context, ContextError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Context::default());
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        (
            OfErrorCode::ParseError,
            format!("the body is not JSON: {e}"),
        )
    })?;
    let Value::Object(mut top) = value else {
        return Err((
            OfErrorCode::ParseError,
            "the body must be a JSON object: {\"context\": {...}}".to_owned(),
        ));
    };
    match top.remove("context") {
        None | Some(Value::Null) => Ok(Context::default()),
        Some(Value::Object(fields)) => (to_context(fields))
            .and_then(|ctx| check_size(&ctx).map(|()| ctx))
            .map_err(|m| (OfErrorCode::InvalidContext, m)),
        Some(_) => Err((
            OfErrorCode::InvalidContext,
            "context must be an object".to_owned(),
        )),
    }
}

fn to_context(fields: Map<String, Value>) -> Result<Context, String> {
    let mut ctx = Context::default();
    for (name, value) in fields {
        match (name.as_str(), value) {
            (_, Value::Null) => {}
            ("targetingKey", Value::String(key)) => ctx.key = key,
            ("targetingKey", _) => return Err("targetingKey must be a string".to_owned()),
            ("key", _) => {
                return Err(
                    "the attribute `key` is the targeting key: send it as targetingKey".to_owned(),
                );
            }
            (_, value) => {
                let attr = attribute(&name, value)?;
                ctx.attributes.insert(name, attr);
            }
        }
    }
    Ok(ctx)
}

/// The size limits, in OFREP's words: the attribute is named in the details.
fn check_size(ctx: &Context) -> Result<(), String> {
    vexil_flags::validate_context(ctx).map_err(|e| {
        let name = if e.field == "key" {
            "targetingKey"
        } else {
            e.field.as_str()
        };
        format!("attribute {name:?}: {}", e.message)
    })
}

fn attribute(name: &str, value: Value) -> Result<AttrValue, String> {
    match value {
        Value::Bool(b) => Ok(AttrValue::Bool(b)),
        Value::Number(n) => n
            .as_f64()
            .map(AttrValue::Number)
            .ok_or_else(|| format!("attribute {name:?}: {n} is not a finite number")),
        Value::String(s) => Ok(AttrValue::String(s)),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => Ok(s),
                _ => Err(format!("attribute {name:?}: a list may hold only strings")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(AttrValue::List),
        Value::Object(_) => Err(format!(
            "attribute {name:?}: nested objects are not supported; send each field as an \
             attribute of its own (e.g. \"{name}.plan\")"
        )),
        Value::Null => Err(format!("attribute {name:?}: null")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_map_as_documented() {
        let ctx = parse(
            br#"{"context": {"targetingKey": "u1", "plan": "pro", "age": 42, "beta": true,
                 "groups": ["a", "b"], "nickname": null}, "future": 1}"#,
        )
        .unwrap();
        assert_eq!(ctx.key, "u1");
        assert_eq!(ctx.attributes.len(), 4);
        assert_eq!(ctx.attributes.get("age"), Some(&AttrValue::Number(42.0)));
        assert_eq!(
            ctx.attributes.get("groups"),
            Some(&AttrValue::List(vec!["a".into(), "b".into()]))
        );
        for empty in [&b""[..], b"  ", b"{}", br#"{"context": null}"#] {
            assert_eq!(parse(empty).unwrap(), Context::default());
        }
    }

    #[test]
    fn bad_bodies_and_contexts_are_refused_with_their_code() {
        let cases: [(&[u8], OfErrorCode); 8] = [
            (b"{not json", OfErrorCode::ParseError),
            (b"[1]", OfErrorCode::ParseError),
            (br#"{"context": "u1"}"#, OfErrorCode::InvalidContext),
            (
                br#"{"context": {"targetingKey": 7}}"#,
                OfErrorCode::InvalidContext,
            ),
            (
                br#"{"context": {"key": "u1"}}"#,
                OfErrorCode::InvalidContext,
            ),
            (
                br#"{"context": {"user": {"plan": "pro"}}}"#,
                OfErrorCode::InvalidContext,
            ),
            (
                br#"{"context": {"ids": [1, 2]}}"#,
                OfErrorCode::InvalidContext,
            ),
            (
                br#"{"context": {"ids": [["a"]]}}"#,
                OfErrorCode::InvalidContext,
            ),
        ];
        for (body, code) in cases {
            let err = parse(body).unwrap_err();
            assert_eq!(err.0, code, "{}", String::from_utf8_lossy(body));
            assert!(!err.1.is_empty());
        }
    }
}
