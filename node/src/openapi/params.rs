//! Header parameters several routes share (documentation types only).

#![allow(dead_code)]

/// `Idempotency-Key`: a retried write with the same key is applied once
/// and gets the first answer; the same key sent by the same token with a
/// different request is refused (422 `idempotency_key_reused`). 1–200
/// visible ASCII characters.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(names("Idempotency-Key"), parameter_in = Header)]
pub struct IdempotencyKey(
    #[param(min_length = 1, max_length = 200, pattern = "^[\\x21-\\x7e]+$")] Option<String>,
);

/// `If-Match: "3"`: the version this change was based on (wins over the
/// body's `version`).
#[derive(Debug, utoipa::IntoParams)]
#[into_params(names("If-Match"), parameter_in = Header)]
pub struct IfMatch(#[param(pattern = "^(W/)?\"?[0-9]{1,19}\"?$")] Option<String>);

/// `If-None-Match`: answer 304 when the ETag still matches.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(names("If-None-Match"), parameter_in = Header)]
pub struct IfNoneMatch(Option<String>);

/// `Last-Event-ID`: resume a change feed after this event.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(names("Last-Event-ID"), parameter_in = Header)]
pub struct LastEventId(Option<u64>);
