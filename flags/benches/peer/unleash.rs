//! The flags and contexts shared by `benches/peer_unleash.rs` and
//! `tests/t31_peer_unleash.rs`: each flag written twice, once for Vexil and
//! once for Unleash's engine (`unleash-yggdrasil`), with the same meaning.
//!
//! - `rollout_in`: enabled for 50% of users whose country is NZ or AU, and
//!   for nobody else. Unleash: one `flexibleRollout` 50% (stickiness
//!   `userId`) constrained by `country IN [NZ, AU]`. Vexil: one rule
//!   `country in [NZ, AU]` serving a 50/50 rollout; fallthrough `false`.
//! - `multi`: four strategies, tried in order. Unleash: `userWithId` (20
//!   ids); `default` constrained by `plan IN [pro, team]` and
//!   `country IN [DE, GB]`; `flexibleRollout` 50% constrained by
//!   `country IN [NZ, AU]`; `flexibleRollout` 10% for everyone. Vexil: the
//!   same three rules in order, and a 10% rollout as the fallthrough. (The two
//!   Unleash rollouts share a group id, so a NZ user outside the 50% is
//!   outside the 10% too, as with Vexil's rule that serves its own rollout.)
//!
//! Both engines get the same users: `user-{i}` with a country and a plan.

#![allow(dead_code)]

use serde_json::{Value, json};
use unleash_yggdrasil::{EngineState, UpdateMessage};
use vexil_flags::{AttrValue, Context, Flag, FlagSet};

pub const COUNTRIES: [&str; 8] = ["NZ", "AU", "US", "DE", "JP", "BR", "IN", "GB"];
pub const PLANS: [&str; 3] = ["free", "pro", "team"];
/// The flags, by the name both engines know them by.
pub const FLAGS: [&str; 2] = ["rollout_in", "multi"];

/// The 20 users the `multi` flag lists by id.
fn listed_users() -> Vec<String> {
    (0..20).map(|i| format!("user-{}", i * 997)).collect()
}

/// User `i`'s country and plan.
pub fn attributes(i: usize) -> (&'static str, &'static str) {
    (COUNTRIES[i % COUNTRIES.len()], PLANS[(i / 8) % PLANS.len()])
}

/// User `i` as a Vexil context, built in one go as deserialisation does.
pub fn vexil_context(i: usize) -> Context {
    let (country, plan) = attributes(i);
    let attributes: [(&str, AttrValue); 2] = [("country", country.into()), ("plan", plan.into())];
    Context {
        key: format!("user-{i}"),
        attributes: attributes
            .into_iter()
            .map(|(n, v)| (n.to_owned(), v))
            .collect(),
    }
}

/// User `i` as an Unleash context.
pub fn unleash_context(i: usize) -> unleash_yggdrasil::Context {
    let (country, plan) = attributes(i);
    unleash_yggdrasil::Context {
        user_id: Some(format!("user-{i}")),
        properties: Some(
            [("country", country), ("plan", plan)]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        ),
        ..Default::default()
    }
}

fn clause(attribute: &str, values: Value) -> Value {
    json!({"attribute": attribute, "operator": "in", "values": values})
}

fn rollout(percent_true: u32) -> Value {
    let on = percent_true * 1000;
    json!({"rollout": {"variations": [
        {"variation": 0, "weight": on}, {"variation": 1, "weight": 100_000 - on},
    ]}})
}

fn vexil_flag(key: &str, rules: Vec<(Vec<Value>, Value)>, fallthrough: Value) -> Flag {
    let rules: Vec<Value> = (rules.into_iter().enumerate())
        .map(|(i, (clauses, serve))| json!({"id": format!("r{i}"), "clauses": clauses, "serve": serve}))
        .collect();
    serde_json::from_value(json!({
        "key": key, "kind": "boolean", "enabled": true, "off_variation": 1,
        "variations": [{"value": true}, {"value": false}],
        "rules": rules, "fallthrough": fallthrough,
    }))
    .expect("a valid Vexil flag")
}

/// Both flags for Vexil.
pub fn vexil_flags() -> FlagSet {
    let anz = || clause("country", json!(["NZ", "AU"]));
    let rollout_in = vexil_flag(
        "rollout_in",
        vec![(vec![anz()], rollout(50))],
        json!({"variation": 1}),
    );
    let multi = vexil_flag(
        "multi",
        vec![
            (
                vec![clause("key", json!(listed_users()))],
                json!({"variation": 0}),
            ),
            (
                vec![
                    clause("plan", json!(["pro", "team"])),
                    clause("country", json!(["DE", "GB"])),
                ],
                json!({"variation": 0}),
            ),
            (vec![anz()], rollout(50)),
        ],
        rollout(10),
    );
    FlagSet::from_parts(vec![rollout_in, multi], vec![])
}

fn constraint(context_name: &str, values: Value) -> Value {
    json!({"contextName": context_name, "operator": "IN", "values": values})
}

fn flexible(name: &str, percent: u32, constraints: Value) -> Value {
    json!({
        "name": "flexibleRollout",
        "parameters": {"rollout": percent.to_string(), "stickiness": "userId", "groupId": name},
        "constraints": constraints,
    })
}

/// Both flags as an Unleash `ClientFeatures` document (what `/api/client/features` serves).
pub fn unleash_features() -> Value {
    let anz = || constraint("country", json!(["NZ", "AU"]));
    json!({"version": 2, "features": [
        {"name": "rollout_in", "enabled": true, "strategies": [flexible("rollout_in", 50, json!([anz()]))]},
        {"name": "multi", "enabled": true, "strategies": [
            {"name": "userWithId", "parameters": {"userIds": listed_users().join(",")}},
            {"name": "default", "constraints": [
                constraint("plan", json!(["pro", "team"])), constraint("country", json!(["DE", "GB"])),
            ]},
            flexible("multi", 50, json!([anz()])),
            flexible("multi", 10, json!([])),
        ]},
    ]})
}

/// An Unleash engine holding both flags.
pub fn unleash_engine() -> EngineState {
    let engine = EngineState::default();
    let message: UpdateMessage =
        serde_json::from_value(unleash_features()).expect("a valid ClientFeatures document");
    let warnings = engine.take_state(message);
    assert!(warnings.is_none(), "yggdrasil warned: {warnings:?}");
    engine
}

/// Whether Vexil serves `true`.
pub fn vexil_enabled(set: &FlagSet, flag: &str, ctx: &Context) -> bool {
    set.evaluate(flag, ctx).variation == Some(0)
}

/// Whether Unleash says enabled.
pub fn unleash_enabled(engine: &EngineState, flag: &str, ctx: &unleash_yggdrasil::Context) -> bool {
    engine.is_enabled(flag, ctx, &None)
}

/// Per country, the share of the first `n` users each engine enables for
/// `flag`: `(country, vexil, unleash)`.
pub fn shares(flag: &str, n: usize) -> Vec<(&'static str, f64, f64)> {
    let (set, engine) = (vexil_flags(), unleash_engine());
    COUNTRIES
        .iter()
        .map(|&country| {
            let users: Vec<usize> = (0..n).filter(|&i| attributes(i).0 == country).collect();
            let count = |on: &dyn Fn(usize) -> bool| users.iter().filter(|&&i| on(i)).count();
            let v = count(&|i| vexil_enabled(&set, flag, &vexil_context(i)));
            let u = count(&|i| unleash_enabled(&engine, flag, &unleash_context(i)));
            let total = users.len() as f64;
            (country, v as f64 / total, u as f64 / total)
        })
        .collect()
}

/// The share each flag should enable in a country (`multi` with plans spread
/// evenly: two thirds of DE and GB users are on pro or team).
pub fn expected_share(flag: &str, country: &str) -> f64 {
    match (flag, country) {
        (_, "NZ" | "AU") => 0.5,
        ("rollout_in", _) => 0.0,
        (_, "DE" | "GB") => 2.0 / 3.0 + 0.1 / 3.0,
        _ => 0.1,
    }
}

/// Panics unless both engines enable the expected share (±5 points) of
/// each country's users for both flags.
pub fn assert_equivalent(n: usize) {
    for flag in FLAGS {
        for (country, vexil, unleash) in shares(flag, n) {
            let want = expected_share(flag, country);
            for (engine, got) in [("vexil", vexil), ("yggdrasil", unleash)] {
                assert!(
                    (got - want).abs() <= 0.05,
                    "{flag}: {engine} enables {got:.3} of {country} users, expected {want:.3}"
                );
            }
        }
    }
}
