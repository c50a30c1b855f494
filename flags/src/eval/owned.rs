//! The owned, serialisable form of a [`Detail`], for APIs and SDKs.
//!
//! ```json
//! {"key": "new-checkout", "value": true, "variation": 0, "variation_name": "on",
//!  "reason": {"kind": "RULE_MATCH", "rule_index": 0, "rule_id": "r1"}, "in_rollout": false}
//! ```
//!
//! Reasons: `{"kind":"OFF"}`, `{"kind":"TARGET_MATCH"}`,
//! `{"kind":"RULE_MATCH","rule_index":0,"rule_id":"r1"}`,
//! `{"kind":"PREREQUISITE_FAILED","prerequisite":"other-flag"}`,
//! `{"kind":"FALLTHROUGH"}`, `{"kind":"ERROR","error_kind":"FLAG_NOT_FOUND"}`.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Detail, ErrorKind, Reason};
use crate::model::Flag;

/// An evaluation result that owns its data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EvaluationDetail {
    /// The flag's key; absent when the caller already knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The value served; `null` when none could be.
    #[serde(default)]
    pub value: Value,
    /// The index of the variation served.
    #[serde(default)]
    pub variation: Option<usize>,
    /// The variation's name, or its index as a string when unnamed.
    #[serde(default)]
    pub variation_name: Option<String>,
    /// Why this value was served.
    pub reason: OwnedReason,
    /// Whether a percentage rollout chose the variation.
    #[serde(default)]
    pub in_rollout: bool,
}

/// The owned form of [`Reason`], tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OwnedReason {
    /// `{"kind":"OFF"}`: the flag is disabled.
    Off,
    /// `{"kind":"TARGET_MATCH"}`: the context key is individually targeted.
    TargetMatch,
    /// `{"kind":"RULE_MATCH","rule_index":0,"rule_id":"r1"}`.
    RuleMatch {
        /// The rule's position in `rules` when evaluated.
        rule_index: usize,
        /// The rule's stable id.
        rule_id: String,
    },
    /// `{"kind":"PREREQUISITE_FAILED","prerequisite":"other-flag"}`.
    PrerequisiteFailed {
        /// The key of the first prerequisite that did not pass.
        prerequisite: String,
    },
    /// `{"kind":"FALLTHROUGH"}`: no target or rule matched.
    Fallthrough,
    /// `{"kind":"ERROR","error_kind":"FLAG_NOT_FOUND"}`.
    Error {
        /// What went wrong.
        error_kind: ErrorKind,
    },
}

impl Detail<'_> {
    /// The detail of a key that names no flag: no value, `ERROR`/`FLAG_NOT_FOUND`.
    pub fn flag_not_found() -> Detail<'static> {
        Detail {
            value: None,
            variation: None,
            reason: Reason::Error(ErrorKind::FlagNotFound),
            in_rollout: false,
        }
    }

    /// The served variation's name, or its index as a string when unnamed.
    pub fn variation_name<'f>(&self, flag: &'f Flag) -> Option<Cow<'f, str>> {
        let index = self.variation?;
        match flag.variations.get(index)?.name.as_deref() {
            Some(name) => Some(Cow::Borrowed(name)),
            None => Some(Cow::Owned(index.to_string())),
        }
    }

    /// The owned form, with `flag`'s key and variation name.
    pub fn to_owned_detail(&self, flag: &Flag) -> EvaluationDetail {
        EvaluationDetail {
            key: Some(flag.key.clone()),
            value: self.value.cloned().unwrap_or(Value::Null),
            variation: self.variation,
            variation_name: self.variation_name(flag).map(Cow::into_owned),
            reason: OwnedReason::from(self.reason),
            in_rollout: self.in_rollout,
        }
    }
}

impl EvaluationDetail {
    /// The result for a key that names no flag (set `key` if the caller wants it echoed).
    pub fn flag_not_found() -> Self {
        EvaluationDetail {
            key: None,
            value: Value::Null,
            variation: None,
            variation_name: None,
            reason: OwnedReason::Error {
                error_kind: ErrorKind::FlagNotFound,
            },
            in_rollout: false,
        }
    }

    /// The same detail with `key` set.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }
}

impl From<Reason<'_>> for OwnedReason {
    fn from(reason: Reason<'_>) -> Self {
        match reason {
            Reason::Off => OwnedReason::Off,
            Reason::TargetMatch => OwnedReason::TargetMatch,
            Reason::RuleMatch {
                rule_index,
                rule_id,
            } => OwnedReason::RuleMatch {
                rule_index,
                rule_id: rule_id.to_owned(),
            },
            Reason::PrerequisiteFailed { prerequisite } => OwnedReason::PrerequisiteFailed {
                prerequisite: prerequisite.to_owned(),
            },
            Reason::Fallthrough => OwnedReason::Fallthrough,
            Reason::Error(error_kind) => OwnedReason::Error { error_kind },
        }
    }
}

impl OwnedReason {
    /// The `kind` tag, e.g. `RULE_MATCH`.
    pub fn kind(&self) -> &'static str {
        match self {
            OwnedReason::Off => "OFF",
            OwnedReason::TargetMatch => "TARGET_MATCH",
            OwnedReason::RuleMatch { .. } => "RULE_MATCH",
            OwnedReason::PrerequisiteFailed { .. } => "PREREQUISITE_FAILED",
            OwnedReason::Fallthrough => "FALLTHROUGH",
            OwnedReason::Error { .. } => "ERROR",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reasons_serialise_with_a_kind_tag() {
        let cases = [
            (Reason::Off, json!({"kind": "OFF"})),
            (Reason::TargetMatch, json!({"kind": "TARGET_MATCH"})),
            (
                Reason::RuleMatch {
                    rule_index: 0,
                    rule_id: "r1",
                },
                json!({"kind": "RULE_MATCH", "rule_index": 0, "rule_id": "r1"}),
            ),
            (
                Reason::PrerequisiteFailed {
                    prerequisite: "other-flag",
                },
                json!({"kind": "PREREQUISITE_FAILED", "prerequisite": "other-flag"}),
            ),
            (Reason::Fallthrough, json!({"kind": "FALLTHROUGH"})),
            (
                Reason::Error(ErrorKind::FlagNotFound),
                json!({"kind": "ERROR", "error_kind": "FLAG_NOT_FOUND"}),
            ),
        ];
        for (reason, expected) in cases {
            let owned = OwnedReason::from(reason);
            assert_eq!(serde_json::to_value(&owned).unwrap(), expected);
            assert_eq!(expected["kind"], owned.kind());
            let back: OwnedReason = serde_json::from_value(expected).unwrap();
            assert_eq!(back, owned);
        }
    }

    #[test]
    fn flag_not_found_round_trips() {
        let d = EvaluationDetail::flag_not_found().with_key("nope");
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(
            v,
            json!({
                "key": "nope", "value": null, "variation": null, "variation_name": null,
                "reason": {"kind": "ERROR", "error_kind": "FLAG_NOT_FOUND"}, "in_rollout": false,
            })
        );
        assert_eq!(serde_json::from_value::<EvaluationDetail>(v).unwrap(), d);
    }
}
