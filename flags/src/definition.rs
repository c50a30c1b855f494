//! A flag's two parts: its **definition**, shared by every environment of
//! its project, and its **configuration**, one per environment.
//!
//! The definition is the flag's key, name, description, tags, kind,
//! variations and salt. The configuration is whether it is enabled, its
//! off variation, targets, rules, fallthrough and prerequisites.
//!
//! Each environment stores its configuration as a whole [`Flag`] (the
//! definition copied in), since that is what evaluation, the change feed
//! and the SDKs read: an environment's flags are a [`crate::FlagSet`] like
//! any other. The definition is also a record of its own
//! ([`FlagDefinition`]), with its own version and history. The state
//! machine keeps the copies equal: a definition change writes a new
//! version of every environment's configuration in the same entry.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{Flag, FlagKind, Variation};
use crate::validate::FieldError;

/// The part of a flag that every environment of its project shares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagDefinition {
    /// 1–128 chars of `[A-Za-z0-9._-]`, unique in its project.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,128}$")]
    pub key: String,
    /// The project's key; filled from the path when absent.
    #[serde(default)]
    pub project: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub kind: FlagKind,
    pub variations: Vec<Variation>,
    /// Mixed into the bucketing hash; defaults to the key.
    #[serde(default)]
    pub salt: String,
    /// Server-assigned: increments on every committed change of the
    /// definition.
    #[serde(default)]
    pub version: u64,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated_by: Option<String>,
}

impl FlagDefinition {
    /// The definition part of `flag`, in `project`, unversioned.
    pub fn of(project: &str, flag: &Flag) -> Self {
        FlagDefinition {
            key: flag.key.clone(),
            project: project.to_owned(),
            name: flag.name.clone(),
            description: flag.description.clone(),
            tags: flag.tags.clone(),
            kind: flag.kind,
            variations: flag.variations.clone(),
            salt: flag.salt.clone(),
            version: 0,
            created_at: None,
            updated_at: None,
            updated_by: None,
        }
    }

    /// `project/key`: the definition's name in its history and the audit
    /// log (`/` is not a key character).
    pub fn id(&self) -> String {
        definition_id(&self.project, &self.key)
    }

    /// Copies this definition into `flag`, keeping its configuration.
    pub fn apply_to(&self, flag: &mut Flag) {
        flag.key.clone_from(&self.key);
        flag.name.clone_from(&self.name);
        flag.description.clone_from(&self.description);
        flag.tags.clone_from(&self.tags);
        flag.kind = self.kind;
        flag.variations.clone_from(&self.variations);
        flag.salt.clone_from(&self.salt);
    }

    /// The first definition field in which `flag` differs from this one.
    pub fn differs_from(&self, flag: &Flag) -> Option<&'static str> {
        if self.key != flag.key {
            Some("key")
        } else if self.name != flag.name {
            Some("name")
        } else if self.description != flag.description {
            Some("description")
        } else if self.tags != flag.tags {
            Some("tags")
        } else if self.kind != flag.kind {
            Some("kind")
        } else if self.variations != flag.variations {
            Some("variations")
        } else if self.salt != flag.salt && !flag.salt.is_empty() {
            Some("salt")
        } else {
            None
        }
    }

    /// A flag of this definition with `config`'s configuration.
    pub fn flag_with(&self, config: &Flag) -> Flag {
        let mut flag = config.clone();
        self.apply_to(&mut flag);
        flag
    }

    /// A disabled flag of this definition that serves its first variation
    /// to everyone once enabled, and its last when off: what an
    /// environment gets when there is no configuration to start from.
    pub fn new_flag(&self) -> Flag {
        Flag {
            key: self.key.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            tags: self.tags.clone(),
            kind: self.kind,
            variations: self.variations.clone(),
            enabled: false,
            off_variation: self.variations.len().saturating_sub(1),
            targets: Vec::new(),
            rules: Vec::new(),
            fallthrough: crate::model::Serve::Variation(0),
            prerequisites: Vec::new(),
            salt: self.salt.clone(),
            version: 0,
            created_at: None,
            updated_at: None,
            updated_by: None,
        }
    }

    /// A disabled flag of this definition with `template`'s off variation
    /// and fallthrough, and no targets, rules or prerequisites: what an
    /// environment that copies no other starts with. It references no
    /// segment or flag, so it is valid in any environment.
    pub fn blank(&self, template: &Flag) -> Flag {
        let mut flag = self.flag_with(template);
        flag.enabled = false;
        flag.targets.clear();
        flag.rules.clear();
        flag.prerequisites.clear();
        flag
    }
}

/// `project/key`.
pub fn definition_id(project: &str, key: &str) -> String {
    format!("{project}/{key}")
}

/// The configuration fields of a flag, by name, where `a` and `b` differ
/// (`enabled`, `off_variation`, `targets`, `rules`, `fallthrough`,
/// `prerequisites`): what promotion and compare show.
pub fn config_differences(a: &Flag, b: &Flag) -> Vec<&'static str> {
    let mut out = Vec::new();
    if a.enabled != b.enabled {
        out.push("enabled");
    }
    if a.off_variation != b.off_variation {
        out.push("off_variation");
    }
    if a.targets != b.targets {
        out.push("targets");
    }
    if a.rules != b.rules {
        out.push("rules");
    }
    if a.fallthrough != b.fallthrough {
        out.push("fallthrough");
    }
    if a.prerequisites != b.prerequisites {
        out.push("prerequisites");
    }
    out
}

/// Refuses a change to a definition field through one environment's
/// configuration: the definition is edited for every environment at once.
pub fn check_config_only(definition: &FlagDefinition, flag: &Flag) -> Vec<FieldError> {
    match definition.differs_from(flag) {
        None => Vec::new(),
        Some(field) => vec![FieldError::new(
            field,
            "definition_field",
            format!(
                "{field} is part of the flag's definition, shared by every environment of \
                 project {:?}: change it with PUT /v1/projects/{}/flags/{}",
                definition.project, definition.project, definition.key
            ),
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Serve;

    fn flag() -> Flag {
        serde_json::from_value(serde_json::json!({
            "key": "checkout", "name": "Checkout", "kind": "boolean",
            "variations": [{"value": true}, {"value": false}],
            "off_variation": 1, "fallthrough": {"variation": 0}, "enabled": true
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_definition_keeps_the_configuration_it_is_applied_to() {
        let mut def = FlagDefinition::of("web", &flag());
        def.name = "New checkout".into();
        let mut staging = flag();
        staging.fallthrough = Serve::Variation(1);
        let merged = def.flag_with(&staging);
        assert_eq!(merged.name, "New checkout");
        assert_eq!(merged.fallthrough, Serve::Variation(1));
        assert!(merged.enabled);
        let blank = def.blank(&staging);
        assert!(!blank.enabled && blank.rules.is_empty());
        assert_eq!(blank.fallthrough, Serve::Variation(1));
        assert_eq!(def.id(), "web/checkout");
    }

    #[test]
    fn definition_fields_are_refused_through_a_configuration() {
        let def = FlagDefinition::of("web", &flag());
        let mut f = flag();
        f.enabled = false;
        f.rules.clear();
        assert!(check_config_only(&def, &f).is_empty());
        f.tags.push("x".into());
        let errors = check_config_only(&def, &f);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "tags");
        assert!(
            errors[0]
                .message
                .contains("/v1/projects/web/flags/checkout")
        );
    }

    #[test]
    fn differences_name_configuration_fields_only() {
        let a = flag();
        let mut b = flag();
        b.name = "other".into();
        assert!(config_differences(&a, &b).is_empty());
        b.enabled = false;
        b.off_variation = 0;
        assert_eq!(config_differences(&a, &b), ["enabled", "off_variation"]);
    }
}
