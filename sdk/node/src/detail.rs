//! Evaluation results, statuses and events as JavaScript objects.

use napi_derive::napi;
use serde_json::Value;
use vexil_sdk::{Evaluation, EvaluationDetail, OwnedReason, Status};

/// One evaluation's result. `index.js` puts the caller's default in
/// `value` when no variation was served (every error but a malformed flag
/// whose off variation exists: that value is served, with `ERROR`).
#[napi(object, use_nullable = true)]
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Detail {
    /// The value served; `null` when none was.
    pub value: Value,
    /// The index of the variation served.
    pub variation: Option<u32>,
    /// The variation's name, else its index as a string.
    pub variant: Option<String>,
    /// Vexil's reason: `OFF`, `TARGET_MATCH`, `RULE_MATCH`,
    /// `PREREQUISITE_FAILED`, `FALLTHROUGH` or `ERROR`.
    pub reason: String,
    /// Set when `reason` is `ERROR`: `FLAG_NOT_FOUND`, `MALFORMED_FLAG`,
    /// `WRONG_TYPE`, `CLIENT_NOT_READY`, `INVALID_CONTEXT` or `GENERAL`.
    pub error_code: Option<String>,
    /// What went wrong, for `INVALID_CONTEXT` and `GENERAL`.
    pub error_message: Option<String>,
    /// The rule that matched (`RULE_MATCH`).
    pub rule_id: Option<String>,
    pub rule_index: Option<u32>,
    /// The prerequisite that failed (`PREREQUISITE_FAILED`).
    pub prerequisite: Option<String>,
    /// Whether a percentage rollout chose the variation.
    pub in_rollout: bool,
}

fn index(i: Option<usize>) -> Option<u32> {
    i.and_then(|i| u32::try_from(i).ok())
}

impl Detail {
    fn new(value: Value, variation: Option<usize>, variant: Option<String>) -> Detail {
        Detail {
            value,
            variation: index(variation),
            variant,
            reason: String::new(),
            error_code: None,
            error_message: None,
            rule_id: None,
            rule_index: None,
            prerequisite: None,
            in_rollout: false,
        }
    }

    /// An error result with no value.
    pub(crate) fn error(code: &str, message: Option<String>) -> Detail {
        Detail {
            reason: "ERROR".into(),
            error_code: Some(code.into()),
            error_message: message,
            ..Detail::new(Value::Null, None, None)
        }
    }

    /// `e` as JavaScript reads it. Without a variation, `e.value` is the
    /// placeholder default the binding passed, so no value was served.
    pub(crate) fn from_evaluation<T: Into<Value>>(e: Evaluation<T>) -> Detail {
        let value = match e.variation {
            Some(_) => e.value.into(),
            None => Value::Null,
        };
        let mut d = Detail::new(value, e.variation, e.variation_name);
        d.in_rollout = e.in_rollout;
        d.set_reason(&e.reason);
        d
    }

    pub(crate) fn from_owned(e: EvaluationDetail) -> Detail {
        let mut d = Detail::new(e.value, e.variation, e.variation_name);
        d.in_rollout = e.in_rollout;
        d.set_reason(&e.reason);
        d
    }

    fn set_reason(&mut self, reason: &OwnedReason) {
        self.reason = match reason {
            OwnedReason::Error { .. } => "ERROR".into(),
            r => r.kind().into(),
        };
        match reason {
            OwnedReason::RuleMatch {
                rule_index,
                rule_id,
            } => {
                self.rule_index = index(Some(*rule_index));
                self.rule_id = Some(rule_id.clone());
            }
            OwnedReason::PrerequisiteFailed { prerequisite } => {
                self.prerequisite = Some(prerequisite.clone());
            }
            OwnedReason::Error { error_kind } => {
                self.error_code = Some(error_kind.as_str().into());
            }
            _ => {}
        }
    }
}

/// Where a client stands.
#[napi(object, use_nullable = true)]
#[derive(Debug, Clone)]
pub struct StatusInfo {
    /// `initializing`, `ready`, `stale` or `offline`.
    pub status: String,
    /// Why the client is stale or offline.
    pub reason: Option<String>,
    /// When the state stopped being known-current (RFC 3339), when stale.
    pub since: Option<String>,
}

impl From<Status> for StatusInfo {
    fn from(s: Status) -> Self {
        let (status, reason, since) = match s {
            Status::Initializing => ("initializing", None, None),
            Status::Ready => ("ready", None, None),
            Status::Stale { since, reason } => ("stale", Some(reason), Some(since.to_rfc3339())),
            Status::Offline { reason } => ("offline", Some(reason), None),
        };
        StatusInfo {
            status: status.into(),
            reason,
            since,
        }
    }
}

/// What the client tells JavaScript from its background tasks.
#[napi(object, use_nullable = true)]
#[derive(Debug, Clone)]
pub struct Event {
    /// `status` or `change`.
    pub kind: String,
    pub status: Option<StatusInfo>,
    /// The flag that changed.
    pub key: Option<String>,
    /// Its new version; `null` when it was deleted.
    pub version: Option<f64>,
    /// The log index of the change.
    pub id: Option<f64>,
}

#[allow(clippy::cast_precision_loss)]
impl Event {
    pub(crate) fn status(s: Status) -> Event {
        Event {
            kind: "status".into(),
            status: Some(s.into()),
            key: None,
            version: None,
            id: None,
        }
    }

    pub(crate) fn change(c: vexil_sdk::FlagChange) -> Event {
        Event {
            kind: "change".into(),
            status: None,
            key: Some(c.key),
            version: c.version.map(|v| v as f64),
            id: Some(c.id as f64),
        }
    }
}
