//! `GET /v1/openapi.json`: an OpenAPI 3.1 document of every route,
//! generated from the `#[utoipa::path]` attributes on the handlers (and, for
//! handlers that cannot carry one, in [`paths`]), and the `ToSchema` derives
//! on the request and response types, so it cannot drift from the code.
//!
//! [`document`] then adds what every route shares, so that each attribute
//! lists only its own answers: 401/403 on routes that take a token, 400 on
//! routes with a body or query string, 413/415 on routes with a JSON body,
//! 503 (no leader, no quorum, write timeout) on routes that go through Raft,
//! 422 on routes that take an `Idempotency-Key`, and 507 on writes. Not documented: the admin UI's static files (`/`,
//! `/ui/…`), which are not an API.

mod env_paths;
pub mod params;
mod paths;
pub mod schemas;

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa::OpenApi;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ArrayBuilder, ContentBuilder, ObjectBuilder, Ref, RefOr, ResponseBuilder, Schema, Type,
};

use crate::api::{self, AppState};

/// Every path and schema. The route test checks that this lists every
/// route the router serves.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Vexil",
        description = "A local-first feature flag service: admin API, evaluation, SDK feed and operations. Errors are `{error, message, field?, errors?}`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    paths(
        api::health::healthz, api::health::ready, crate::metrics::metrics, openapi_json,
        api::flags::create, api::flags::list, api::flags::get_one, api::flags::replace,
        api::flags::toggle, api::flags::remove,
        paths::flag_versions, paths::flag_version, paths::flag_rollback,
        api::segments::create, api::segments::list, api::segments::get_one,
        api::segments::replace, api::segments::remove,
        paths::segment_versions, paths::segment_version, paths::segment_rollback,
        api::projects::create_project, api::projects::list_projects, api::projects::get_project,
        api::projects::replace_project, api::projects::remove_project,
        paths::project_versions, paths::project_version, paths::project_rollback,
        api::projects::create_env, api::projects::list_envs, api::projects::get_env,
        api::projects::replace_env, api::projects::remove_env,
        paths::env_versions, paths::env_version, paths::env_rollback,
        env_paths::create, env_paths::list, env_paths::get_def, env_paths::replace_def,
        env_paths::remove_def, env_paths::def_versions, env_paths::def_version,
        env_paths::def_rollback, env_paths::list_in, env_paths::get_config,
        env_paths::replace_config, env_paths::toggle, env_paths::config_versions,
        env_paths::config_version, env_paths::config_rollback, env_paths::create_segment,
        env_paths::list_segments, env_paths::get_segment, env_paths::replace_segment,
        env_paths::remove_segment, env_paths::segment_versions, env_paths::segment_version,
        env_paths::segment_rollback, env_paths::evaluate, env_paths::stream,
        api::compare::compare,
        api::promote::promote, api::promote::list, api::promote::get_one, api::promote::rollback,
        api::audit::list,
        api::tokens::create, api::tokens::list, api::tokens::revoke, api::tokens::me,
        api::cluster::view, api::cluster::add, api::cluster::remove, api::cluster::transfer_leader,
        api::evaluate::evaluate, api::backup::backup,
        api::stream::stream, api::sdk::flags, api::sdk::metrics,
        api::usage_api::evaluations, api::usage_api::evaluations_in,
        paths::ofrep_one, paths::ofrep_all, paths::ofrep_events,
        paths::ui_nodes, paths::ui_write_latency,
    ),
    components(schemas(api::error::ApiError, vexil_flags::FieldError, api::Consistency, vexil_flags::AttrValue)),
    tags(
        (name = "flags"), (name = "segments"), (name = "projects", description = "Projects and their environments"), (name = "audit"), (name = "tokens"),
        (name = "cluster"), (name = "evaluation"), (name = "sdk", description = "What SDKs use: the feed, polling and metrics"),
        (name = "ofrep", description = "OpenFeature Remote Evaluation Protocol"),
        (name = "operations", description = "Health, metrics, backups and this document"),
        (name = "ui", description = "Read-only views for the admin UI"),
    ),
)]
struct Doc;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/openapi.json", get(openapi_json))
}

/// `GET /v1/openapi.json` (no token: the document holds no data).
#[utoipa::path(get, path = "/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "This document", body = Object)))]
pub async fn openapi_json() -> Response {
    match document().to_json() {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(e) => api::error::ApiError::internal(e.to_string()).into_response(),
    }
}

/// The OpenAPI document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = Doc::openapi();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    components.add_security_scheme(
        "api_key",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
    );
    // Segments are answered (and may be sent) with the read-only list of
    // the flags that use them.
    if let Some(RefOr::T(Schema::Object(segment))) = components.schemas.get_mut("Segment") {
        let used_by = ArrayBuilder::new()
            .items(ObjectBuilder::new().schema_type(Type::String))
            .description(Some("Flags that use this segment (read-only)"));
        segment
            .properties
            .insert("used_by".into(), RefOr::T(Schema::Array(used_by.build())));
    }
    for (path, item) in doc.paths.paths.iter_mut() {
        let ops = [
            ("get", &mut item.get),
            ("put", &mut item.put),
            ("post", &mut item.post),
            ("delete", &mut item.delete),
        ];
        for (method, op) in ops {
            if let Some(op) = op.as_mut() {
                add_shared_errors(path, method, op);
            }
        }
    }
    doc
}

fn error_response(description: &str, schema: &str) -> RefOr<utoipa::openapi::Response> {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(schema)))
        .build();
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content("application/json", content)
            .build(),
    )
}

/// Adds the answers a route shares with others (see the module docs).
fn add_shared_errors(path: &str, method: &str, op: &mut Operation) {
    let schema = if path.starts_with("/ofrep/") {
        "OfrepError"
    } else {
        "ApiError"
    };
    let authenticated = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let has_body = op.request_body.is_some();
    let has_query = op.parameters.as_ref().is_some_and(|ps| {
        ps.iter()
            .any(|p| matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query))
    });
    let idempotent = op.parameters.as_ref().is_some_and(|ps| {
        ps.iter().any(|p| {
            matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Header)
                && p.name.eq_ignore_ascii_case("Idempotency-Key")
        })
    });
    let raft = authenticated && path.starts_with("/v1/") && !path.starts_with("/v1/ui/");
    let write = raft && method != "get" && !path.starts_with("/v1/evaluate");
    let mut shared: Vec<(&str, &str)> = Vec::new();
    if authenticated {
        shared.push((
            "401",
            "No token, or an unknown or revoked one (`unauthorized`)",
        ));
        shared.push(("403", "The token's role is too low (`forbidden`)"));
    }
    // Headers (`Idempotency-Key`, `If-Match`) and path segments are checked too.
    if has_body || has_query || authenticated {
        shared.push(("400", "A malformed request: the body, a query parameter, a header or a path segment (`bad_request`, `malformed_json`, `validation_failed`), naming the field"));
    }
    if has_body {
        shared.push(("413", "The body is over 1 MiB (`payload_too_large`)"));
        shared.push(("415", "The body is not JSON (`unsupported_media_type`)"));
    }
    if idempotent {
        shared.push((
            "422",
            "The `Idempotency-Key` was used for another request (`idempotency_key_reused`)",
        ));
    }
    if raft {
        shared.push((
            "503",
            "No leader or quorum, the write timed out, or every token verification on the node is taken (`auth_busy`); retry (`Retry-After`)",
        ));
    } else if authenticated {
        shared.push((
            "503",
            "Every token verification on the node is taken (`auth_busy`); retry (`Retry-After`)",
        ));
    }
    if write {
        shared.push(("507", "The data device is nearly full (`no_space`)"));
    }
    for (status, description) in shared {
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| error_response(description, schema));
    }
}
