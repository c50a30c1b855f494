//! One OpenFeature resolution for `vexil.openfeature.VexilProvider`, in the
//! order and with the mapping of the Rust provider (`sdk/src/openfeature.rs`)
//! and `vexil_flags::openfeature`: the context (`INVALID_CONTEXT`), a state
//! (`PROVIDER_NOT_READY`), the flag (`FLAG_NOT_FOUND`), its kind
//! (`TYPE_MISMATCH`), the targeting key (`TARGETING_KEY_MISSING`), then the
//! evaluation, whose reason maps to OpenFeature's or to an error code.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::Value;
use vexil_flags::FlagKind;
use vexil_flags::openfeature::{self as mapping, OfErrorCode};
use vexil_sdk::Client;

use crate::{context, values};

/// What the provider turns into a `FlagResolutionDetails`.
#[derive(Debug)]
pub(crate) struct Resolved {
    /// The value (`None` on error: the provider serves the default).
    pub value: Py<PyAny>,
    pub variant: Option<String>,
    pub reason: Option<&'static str>,
    pub error_code: Option<&'static str>,
    pub error_message: Option<String>,
    pub metadata: Py<PyDict>,
}

fn failed(py: Python<'_>, code: OfErrorCode, message: String) -> Resolved {
    Resolved {
        value: py.None(),
        variant: None,
        reason: None,
        error_code: Some(code.as_str()),
        error_message: Some(message),
        metadata: PyDict::new(py).unbind(),
    }
}

/// `n` as an integer, when it is a whole number in range.
#[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
fn whole(n: f64) -> Option<i64> {
    (n.fract() == 0.0 && n.abs() < i64::MAX as f64).then_some(n as i64)
}

pub(crate) fn resolve(
    py: Python<'_>,
    client: Option<&Client>,
    key: &str,
    of_type: &str,
    targeting_key: Option<String>,
    attributes: &Bound<'_, PyDict>,
) -> PyResult<Resolved> {
    let kind = match of_type {
        "boolean" => FlagKind::Boolean,
        "string" => FlagKind::String,
        "integer" | "float" => FlagKind::Number,
        "object" => FlagKind::Json,
        other => {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "unknown OpenFeature type {other:?}"
            )));
        }
    };
    let ctx = match context::from_openfeature(targeting_key, attributes) {
        Ok(c) => c,
        Err(m) => return Ok(failed(py, OfErrorCode::InvalidContext, m)),
    };
    let not_ready = || {
        failed(
            py,
            OfErrorCode::ProviderNotReady,
            "the client has no flags yet".into(),
        )
    };
    let Some(client) = client else {
        return Ok(not_ready());
    };
    let found = client.with_flags(|set| {
        let f = set.get_flag(key)?;
        Some((
            f.flag().clone(),
            mapping::needs_targeting_key(f.flag(), set),
        ))
    });
    let Some(found) = found else {
        return Ok(not_ready());
    };
    let Some((flag, needs_key)) = found else {
        let m = format!("flag {key:?} was not found");
        return Ok(failed(py, OfErrorCode::FlagNotFound, m));
    };
    let mismatch = || {
        let m = format!("flag {key:?} serves {} values", flag.kind.as_str());
        failed(py, OfErrorCode::TypeMismatch, m)
    };
    if flag.kind != kind {
        return Ok(mismatch());
    }
    if needs_key && ctx.key.is_empty() {
        let m = format!("flag {key:?} targets by key: set a targeting key");
        return Ok(failed(py, OfErrorCode::TargetingKeyMissing, m));
    }
    let d = client.json_detail(key, &ctx, Value::Null);
    let reason = match mapping::reason(&d.reason, d.in_rollout, &flag) {
        Ok(r) => r,
        Err(code) => {
            return Ok(failed(
                py,
                code,
                format!("flag {key:?}: {}", d.reason.kind()),
            ));
        }
    };
    let value = match of_type {
        "boolean" if d.value.is_boolean() => values::to_py(py, &d.value)?,
        "string" if d.value.is_string() => values::to_py(py, &d.value)?,
        "float" if d.value.is_number() => d
            .value
            .as_f64()
            .unwrap_or_default()
            .into_pyobject(py)?
            .into_any()
            .unbind(),
        "integer" => match d.value.as_i64().or_else(|| whole(d.value.as_f64()?)) {
            Some(i) => i.into_pyobject(py)?.into_any().unbind(),
            None => return Ok(mismatch()),
        },
        "object" if d.value.is_object() => values::to_py(py, &d.value)?,
        _ => return Ok(mismatch()),
    };
    let metadata = PyDict::new(py);
    for (name, v) in mapping::metadata(&d.reason, &flag) {
        metadata.set_item(name, values::to_py(py, &v)?)?;
    }
    Ok(Resolved {
        value,
        variant: d.variation_name,
        reason: Some(reason.as_str()),
        error_code: None,
        error_message: None,
        metadata: metadata.unbind(),
    })
}
