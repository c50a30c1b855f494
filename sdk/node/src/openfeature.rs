//! Resolution for the JavaScript `VexilProvider` (`openfeature.js`).
//!
//! It goes through the Rust SDK's `VexilProvider`, so reasons, error codes,
//! variants, metadata and the targeting-key check are the ones every Vexil
//! OpenFeature integration gives (`vexil_flags::openfeature`). Only the
//! context changes hands here: `openfeature.js` renames `targetingKey` to
//! `key` and refuses an attribute named `key`; the JSON is decoded by the
//! same rules as the client's ([`crate::context`]) and handed to the Rust
//! provider as an OpenFeature context (numbers as floats, lists of strings
//! as the `Vec<String>` struct it reads).

use std::sync::Arc;

use napi_derive::napi;
use open_feature::provider::{FeatureProvider, ResolutionDetails};
use open_feature::{
    EvaluationContext, EvaluationContextFieldValue as Field, EvaluationError, EvaluationErrorCode,
    FlagMetadataValue, StructValue,
};
use serde_json::{Map, Value};
use vexil_flags::AttrValue;
use vexil_sdk::VexilProvider;

use crate::client::NativeClient;
use crate::context;

/// One OpenFeature resolution, as `@openfeature/server-sdk` reads it.
#[napi(object, use_nullable = true)]
#[derive(Debug, Clone)]
pub struct Resolution {
    /// `null` on an error (the provider then serves the caller's default).
    pub value: Value,
    pub variant: Option<String>,
    /// An OpenFeature reason (`STATIC`, `TARGETING_MATCH`, …, or `ERROR`).
    pub reason: String,
    /// An OpenFeature error code (`FLAG_NOT_FOUND`, `TYPE_MISMATCH`, …).
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// `version`, `vexilReason`, and `ruleId` or `prerequisite`.
    pub flag_metadata: Value,
}

fn failure(code: &str, message: String) -> Resolution {
    Resolution {
        value: Value::Null,
        variant: None,
        reason: "ERROR".into(),
        error_code: Some(code.into()),
        error_message: Some(message),
        flag_metadata: Value::Object(Map::new()),
    }
}

fn from_error(e: EvaluationError) -> Resolution {
    let code = match &e.code {
        EvaluationErrorCode::General(_) => "GENERAL".to_owned(),
        c => c.to_string(),
    };
    failure(&code, e.message.unwrap_or_default())
}

fn metadata(m: Option<open_feature::FlagMetadata>) -> Value {
    let mut out = Map::new();
    for (name, v) in m.map(|m| m.values).unwrap_or_default() {
        let v = match v {
            FlagMetadataValue::Bool(b) => Value::Bool(b),
            FlagMetadataValue::Int(i) => Value::from(i),
            FlagMetadataValue::Float(f) => Value::from(f),
            FlagMetadataValue::String(s) => Value::String(s),
        };
        out.insert(name, v);
    }
    Value::Object(out)
}

fn resolution<T>(
    r: Result<ResolutionDetails<T>, EvaluationError>,
    json: fn(T) -> Value,
) -> Resolution {
    match r {
        Ok(d) => Resolution {
            value: json(d.value),
            variant: d.variant,
            reason: d
                .reason
                .map(|r| r.to_string())
                .unwrap_or_else(|| "UNKNOWN".into()),
            error_code: None,
            error_message: None,
            flag_metadata: metadata(d.flag_metadata),
        },
        Err(e) => from_error(e),
    }
}

fn struct_json(s: StructValue) -> Value {
    Value::Object(
        s.fields
            .into_iter()
            .map(|(k, v)| (k, value_json(v)))
            .collect(),
    )
}

fn value_json(v: open_feature::Value) -> Value {
    match v {
        open_feature::Value::Bool(b) => Value::Bool(b),
        open_feature::Value::Int(i) => Value::from(i),
        open_feature::Value::Float(f) => Value::from(f),
        open_feature::Value::String(s) => Value::String(s),
        open_feature::Value::Array(a) => Value::Array(a.into_iter().map(value_json).collect()),
        open_feature::Value::Struct(s) => struct_json(s),
    }
}

/// A Vexil context as the OpenFeature context the Rust provider reads.
fn of_context(ctx: vexil_sdk::Context) -> EvaluationContext {
    let mut of = EvaluationContext::default();
    if !ctx.key.is_empty() {
        of.targeting_key = Some(ctx.key);
    }
    for (name, value) in ctx.attributes.iter() {
        let field = match value {
            AttrValue::Bool(b) => Field::Bool(*b),
            AttrValue::Number(n) => Field::Float(*n),
            AttrValue::String(s) => Field::String(s.clone()),
            AttrValue::List(l) => Field::Struct(Arc::new(l.clone())),
        };
        of.custom_fields.insert(name.to_owned(), field);
    }
    of
}

#[napi]
impl NativeClient {
    /// Resolves `key` as `kind` (`boolean`, `string`, `number` or `object`)
    /// for the context `openfeature.js` encoded.
    #[napi]
    pub fn of_resolve(&self, kind: String, key: String, context: String) -> Resolution {
        let Some(client) = self.client() else {
            return failure("PROVIDER_NOT_READY", "the client is closed".into());
        };
        let ctx = match context::decode(&context) {
            Ok(ctx) => of_context(ctx),
            Err(msg) => return failure("INVALID_CONTEXT", msg),
        };
        let p = VexilProvider::new(client.clone());
        // The provider's futures never wait: it evaluates from memory.
        use futures::executor::block_on as block;
        match kind.as_str() {
            "boolean" => resolution(block(p.resolve_bool_value(&key, &ctx)), Value::Bool),
            "string" => resolution(block(p.resolve_string_value(&key, &ctx)), Value::String),
            "number" => resolution(block(p.resolve_float_value(&key, &ctx)), Value::from),
            "object" => resolution(block(p.resolve_struct_value(&key, &ctx)), struct_json),
            other => failure("GENERAL", format!("unknown flag type {other:?}")),
        }
    }
}
