//! An OpenFeature provider backed by a [`Client`] (cargo feature
//! `openfeature`): flags evaluate locally, from the client's streamed copy,
//! exactly as `bool_detail` and friends do.
//!
//! ```no_run
//! # async fn demo(client: vexil_sdk::Client) {
//! use open_feature::{EvaluationContext, OpenFeature};
//! use vexil_sdk::openfeature::VexilProvider;
//!
//! let mut api = OpenFeature::singleton_mut().await;
//! api.set_provider(VexilProvider::new(client)).await; // waits for the first state
//! let of = api.create_client();
//! let ctx = EvaluationContext::default().with_targeting_key("user-42");
//! let on = of.get_bool_value("new-checkout", Some(&ctx), None).await.unwrap_or(false);
//! # }
//! ```
//!
//! Reasons, error codes, the variant and the metadata map as the table in
//! `vexil_flags::openfeature` says (the OFREP endpoints use the same table).
//! Errors specific to a provider: a client with no state yet gives
//! `PROVIDER_NOT_READY`; asking for a type the flag's `kind` is not gives
//! `TYPE_MISMATCH` (an integer needs a whole number, a struct a JSON object).
//!
//! The context maps like OFREP's: the targeting key is Vexil's `key`;
//! booleans, integers, floats and strings map to themselves, a date-time to
//! epoch milliseconds (what `before`/`after` compare), a struct holding a
//! `Vec<String>` to a list; any other struct, or a field named `key`, is
//! `INVALID_CONTEXT`.

use std::time::Duration;

use open_feature::provider::{
    FeatureProvider, ProviderMetadata, ProviderStatus, ResolutionDetails,
};
use open_feature::{
    EvaluationContext, EvaluationContextFieldValue as Field, EvaluationError, EvaluationErrorCode,
    EvaluationReason, EvaluationResult, FlagMetadata, FlagMetadataValue, StructValue,
};
use serde_json::Value;
use vexil_flags::openfeature::{self as mapping, OfErrorCode, OfReason};
use vexil_flags::{AttrValue, Context, FlagKind};

use crate::{Client, Status};

/// How long `initialize` (run by `set_provider`) waits for a first state.
const DEFAULT_INIT_TIMEOUT: Duration = Duration::from_secs(5);

/// An OpenFeature [`FeatureProvider`] over a Vexil [`Client`].
#[derive(Debug, Clone)]
pub struct VexilProvider {
    client: Client,
    metadata: ProviderMetadata,
    /// How long `initialize` waits for the client's first state.
    init_timeout: Duration,
}

impl VexilProvider {
    pub fn new(client: Client) -> Self {
        VexilProvider {
            client,
            metadata: ProviderMetadata::new("Vexil"),
            init_timeout: DEFAULT_INIT_TIMEOUT,
        }
    }

    /// Sets how long `initialize` waits for a first state (5 s by default).
    pub fn init_timeout(mut self, timeout: Duration) -> Self {
        self.init_timeout = timeout;
        self
    }

    /// The client evaluations go through.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn resolve<T>(
        &self,
        key: &str,
        of_ctx: &EvaluationContext,
        kind: FlagKind,
        extract: impl FnOnce(Value) -> Option<T>,
    ) -> EvaluationResult<ResolutionDetails<T>> {
        let ctx = context(of_ctx)?;
        let found = self.client.with_flags(|set| {
            let f = set.get_flag(key)?;
            Some((
                f.flag().clone(),
                mapping::needs_targeting_key(f.flag(), set),
            ))
        });
        let not_ready = || error(OfErrorCode::ProviderNotReady, "the client has no flags yet");
        let (flag, needs_key) = found.ok_or_else(not_ready)?.ok_or_else(|| {
            error(
                OfErrorCode::FlagNotFound,
                format!("flag {key:?} was not found"),
            )
        })?;
        let mismatch = || {
            let served = flag.kind.as_str();
            error(
                OfErrorCode::TypeMismatch,
                format!("flag {key:?} serves {served} values"),
            )
        };
        if flag.kind != kind {
            return Err(mismatch());
        }
        if needs_key && ctx.key.is_empty() {
            let details = format!("flag {key:?} targets by key: set a targeting key");
            return Err(error(OfErrorCode::TargetingKeyMissing, details));
        }
        let d = self.client.json_detail(key, &ctx, Value::Null);
        let reason = mapping::reason(&d.reason, d.in_rollout, &flag)
            .map_err(|code| error(code, format!("flag {key:?}: {}", d.reason.kind())))?;
        let metadata = flag_metadata(mapping::metadata(&d.reason, &flag));
        Ok(ResolutionDetails {
            value: extract(d.value).ok_or_else(mismatch)?,
            variant: d.variation_name,
            reason: Some(of_reason(reason)),
            flag_metadata: Some(metadata),
        })
    }
}

#[open_feature::async_trait]
impl FeatureProvider for VexilProvider {
    /// Waits (up to the init timeout) until the client has a state, fresh or cached.
    async fn initialize(&mut self, _context: &EvaluationContext) {
        let mut rx = self.client.status_updates();
        let loaded = rx.wait_for(|s| matches!(s, Status::Ready | Status::Stale { .. }));
        let _ = tokio::time::timeout(self.init_timeout, loaded).await;
    }

    fn status(&self) -> ProviderStatus {
        match self.client.status() {
            Status::Ready => ProviderStatus::Ready,
            Status::Stale { .. } => ProviderStatus::STALE,
            Status::Initializing => ProviderStatus::NotReady,
            Status::Offline { .. } => ProviderStatus::Error,
        }
    }

    fn metadata(&self) -> &ProviderMetadata {
        &self.metadata
    }

    async fn resolve_bool_value(
        &self,
        key: &str,
        ctx: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<bool>> {
        self.resolve(key, ctx, FlagKind::Boolean, |v| v.as_bool())
    }

    async fn resolve_int_value(
        &self,
        key: &str,
        ctx: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<i64>> {
        self.resolve(key, ctx, FlagKind::Number, |v| {
            v.as_i64().or_else(|| whole(v.as_f64()?))
        })
    }

    async fn resolve_float_value(
        &self,
        key: &str,
        ctx: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<f64>> {
        self.resolve(key, ctx, FlagKind::Number, |v| v.as_f64())
    }

    async fn resolve_string_value(
        &self,
        key: &str,
        ctx: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<String>> {
        self.resolve(key, ctx, FlagKind::String, |v| {
            v.as_str().map(str::to_owned)
        })
    }

    async fn resolve_struct_value(
        &self,
        key: &str,
        ctx: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<StructValue>> {
        self.resolve(key, ctx, FlagKind::Json, |v| {
            match v.is_object().then(|| open_feature::Value::try_from(v)) {
                Some(Ok(open_feature::Value::Struct(s))) => Some(s),
                _ => None,
            }
        })
    }
}

/// `n` as an integer, when it is a whole number in range.
#[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
fn whole(n: f64) -> Option<i64> {
    (n.fract() == 0.0 && n.abs() < i64::MAX as f64).then_some(n as i64)
}

fn error(code: OfErrorCode, message: impl Into<String>) -> EvaluationError {
    let message = message.into();
    let code = match code {
        OfErrorCode::FlagNotFound => EvaluationErrorCode::FlagNotFound,
        OfErrorCode::ParseError => EvaluationErrorCode::ParseError,
        OfErrorCode::TypeMismatch => EvaluationErrorCode::TypeMismatch,
        OfErrorCode::TargetingKeyMissing => EvaluationErrorCode::TargetingKeyMissing,
        OfErrorCode::InvalidContext => EvaluationErrorCode::InvalidContext,
        OfErrorCode::ProviderNotReady => EvaluationErrorCode::ProviderNotReady,
        OfErrorCode::General => EvaluationErrorCode::General(message.clone()),
    };
    EvaluationError {
        code,
        message: Some(message),
    }
}

fn of_reason(reason: OfReason) -> EvaluationReason {
    match reason {
        OfReason::Static => EvaluationReason::Static,
        OfReason::TargetingMatch => EvaluationReason::TargetingMatch,
        OfReason::Split => EvaluationReason::Split,
        OfReason::Disabled => EvaluationReason::Disabled,
        OfReason::Default => EvaluationReason::Default,
    }
}

fn flag_metadata(map: serde_json::Map<String, Value>) -> FlagMetadata {
    let mut m = FlagMetadata::default();
    for (name, value) in map {
        let value = match value {
            Value::Bool(b) => FlagMetadataValue::Bool(b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => FlagMetadataValue::Int(i),
                None => FlagMetadataValue::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => FlagMetadataValue::String(s),
            _ => continue,
        };
        m.add_value(name, value);
    }
    m
}

/// An OpenFeature context as a Vexil one (see the module docs).
fn context(of: &EvaluationContext) -> EvaluationResult<Context> {
    let invalid = |m: String| error(OfErrorCode::InvalidContext, m);
    let mut ctx = Context::new(of.targeting_key.clone().unwrap_or_default());
    for (name, field) in &of.custom_fields {
        if name == "key" {
            return Err(invalid(
                "the field `key` is the targeting key: set it as such".into(),
            ));
        }
        #[allow(clippy::cast_precision_loss)]
        let value = match field {
            Field::Bool(b) => AttrValue::Bool(*b),
            Field::Int(i) => AttrValue::Number(*i as f64),
            Field::Float(f) => AttrValue::Number(*f),
            Field::String(s) => AttrValue::String(s.clone()),
            Field::DateTime(t) => AttrValue::Number((t.unix_timestamp_nanos() / 1_000_000) as f64),
            Field::Struct(any) => match any.downcast_ref::<Vec<String>>() {
                Some(list) => AttrValue::List(list.clone()),
                None => {
                    return Err(invalid(format!(
                        "field {name:?}: only a Vec<String> struct is supported"
                    )));
                }
            },
        };
        ctx.attributes.insert(name.clone(), value);
    }
    Ok(ctx)
}
