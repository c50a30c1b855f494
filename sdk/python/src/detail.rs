//! `EvaluationDetail`: a typed getter's full answer.

use pyo3::BoundObject;
use pyo3::prelude::*;
use vexil_sdk::{Evaluation, OwnedReason};

/// The value served and why: `reason` is Vexil's (`OFF`, `TARGET_MATCH`,
/// `RULE_MATCH`, `PREREQUISITE_FAILED`, `FALLTHROUGH`, `ERROR`); with
/// `ERROR`, `error` says which (`FLAG_NOT_FOUND`, `MALFORMED_FLAG`,
/// `WRONG_TYPE`, `CLIENT_NOT_READY`, `INVALID_CONTEXT`, `GENERAL`).
#[pyclass(module = "vexil", frozen, get_all)]
#[derive(Debug)]
pub(crate) struct EvaluationDetail {
    /// The value served, or the caller's default on an error that serves none.
    pub value: Py<PyAny>,
    /// The index of the variation served; `None` when the default was returned.
    pub variation: Option<usize>,
    /// The variation's name, else its index as a string.
    pub variation_name: Option<String>,
    pub reason: &'static str,
    /// The error kind when `reason` is `ERROR`.
    pub error: Option<&'static str>,
    /// What went wrong, in words (for `INVALID_CONTEXT`).
    pub error_message: Option<String>,
    /// The matching rule's id and position (`RULE_MATCH`).
    pub rule_id: Option<String>,
    pub rule_index: Option<usize>,
    /// The first prerequisite that failed (`PREREQUISITE_FAILED`).
    pub prerequisite: Option<String>,
    /// Whether a percentage rollout chose the value.
    pub in_rollout: bool,
}

impl EvaluationDetail {
    pub(crate) fn new(
        value: Py<PyAny>,
        variation: Option<usize>,
        variation_name: Option<String>,
        reason: OwnedReason,
        in_rollout: bool,
    ) -> Self {
        let mut d = EvaluationDetail {
            value,
            variation,
            variation_name,
            reason: reason.kind(),
            error: None,
            error_message: None,
            rule_id: None,
            rule_index: None,
            prerequisite: None,
            in_rollout,
        };
        match reason {
            OwnedReason::RuleMatch {
                rule_index,
                rule_id,
            } => {
                d.rule_id = Some(rule_id);
                d.rule_index = Some(rule_index);
            }
            OwnedReason::PrerequisiteFailed { prerequisite } => d.prerequisite = Some(prerequisite),
            OwnedReason::Error { error_kind } => d.error = Some(error_kind.as_str()),
            _ => {}
        }
        d
    }

    pub(crate) fn from_evaluation<T>(py: Python<'_>, e: Evaluation<T>) -> PyResult<Self>
    where
        T: for<'py> IntoPyObject<'py>,
    {
        let value = e.value.into_pyobject(py).map_err(Into::into)?;
        Ok(Self::new(
            value.into_any().unbind(),
            e.variation,
            e.variation_name,
            e.reason,
            e.in_rollout,
        ))
    }

    /// The default, refused for `kind` (`INVALID_CONTEXT`, `CLIENT_NOT_READY`).
    pub(crate) fn error(default: Py<PyAny>, kind: &'static str, message: Option<String>) -> Self {
        EvaluationDetail {
            value: default,
            variation: None,
            variation_name: None,
            reason: "ERROR",
            error: Some(kind),
            error_message: message,
            rule_id: None,
            rule_index: None,
            prerequisite: None,
            in_rollout: false,
        }
    }
}

/// An `Option` as Python prints it.
fn py_opt<T: std::fmt::Debug>(o: &Option<T>) -> String {
    match o {
        Some(v) => format!("{v:?}"),
        None => "None".into(),
    }
}

#[pymethods]
impl EvaluationDetail {
    fn __repr__(&self, py: Python<'_>) -> String {
        let value = self
            .value
            .bind(py)
            .repr()
            .map(|r| r.to_string())
            .unwrap_or_default();
        let mut s = format!(
            "EvaluationDetail(value={value}, variation={}, variation_name={}, reason={:?}",
            py_opt(&self.variation),
            py_opt(&self.variation_name),
            self.reason
        );
        if let Some(e) = self.error {
            s.push_str(&format!(", error={e:?}"));
        }
        if let Some(r) = &self.rule_id {
            s.push_str(&format!(", rule_id={r:?}"));
        }
        if let Some(p) = &self.prerequisite {
            s.push_str(&format!(", prerequisite={p:?}"));
        }
        let rollout = if self.in_rollout { "True" } else { "False" };
        s.push_str(&format!(", in_rollout={rollout})"));
        s
    }
}
