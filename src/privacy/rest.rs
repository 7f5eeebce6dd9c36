//! The privacy REST routes (organization admins): a guest forgotten by number, and the audit log
//! a page at a time.

use axum::{
    extract::{rejection::JsonRejection, Query, State},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    audit,
    http::auth::{body, ApiResult, ApiUser, ErrorBody},
    state::AppState,
};

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/guests/forget", post(forget_guest)).route("/api/audit", get(list_audit))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ForgetBody {
    /// The guest's number, E.164 (`+15551234567`); their conversations on WhatsApp and SMS go alike.
    number: String,
}

/// What was deleted across the organization.
#[derive(Debug, Serialize, ToSchema)]
pub struct Forgotten {
    conversations: i64,
    messages: i64,
    media: i64,
    emails: i64,
    access_requests: i64,
    login_codes: i64,
}

#[utoipa::path(post, path = "/api/guests/forget", tag = "privacy", security(("bearer" = [])),
    request_body = ForgetBody,
    responses((status = 200, body = Forgotten,
        description = "The guest's conversations (messages, media, execution records), verified emails, access \
                       requests and login codes are deleted; all zeros when the organization held nothing of them. \
                       The audit log says how much went, not whose."),
        (status = 422, body = ErrorBody, description = "`number` not in E.164 form"),
        (status = 403, body = ErrorBody, description = "not an organization admin")))]
async fn forget_guest(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    json: Result<Json<ForgetBody>, JsonRejection>,
) -> ApiResult<Json<Forgotten>> {
    let b = body(json)?;
    let f = super::forget_number(&state, &me, &b.number).await?;
    Ok(Json(Forgotten {
        conversations: f.conversations,
        messages: f.messages,
        media: f.media,
        emails: f.emails,
        access_requests: f.access_requests,
        login_codes: f.login_codes,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    id: String,
    /// Unix milliseconds.
    at_ms: i64,
    /// The user's email, with the API token's name when it came through this API.
    actor: String,
    action: String,
    subject: String,
    detail: String,
}

/// Which page: the entries older than `older` (from the `Link` header of the page before).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    older: Option<String>,
}

#[utoipa::path(get, path = "/api/audit", tag = "privacy", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, body = [AuditEntry],
        description = "Newest first, 50 a page; `Link: </api/audit?older=…>; rel=\"next\"` gives the next page, \
                       absent on the last.", headers(("Link" = String))),
        (status = 422, body = ErrorBody, description = "an `older` this API did not give"),
        (status = 403, body = ErrorBody, description = "not an organization admin")))]
async fn list_audit(
    State(state): State<AppState>,
    ApiUser(me): ApiUser,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Response> {
    let page = audit::page(&state, &me, q.older).await?;
    let list: Vec<AuditEntry> = page
        .entries
        .into_iter()
        .map(|e| AuditEntry {
            id: e.id,
            at_ms: e.at_ms,
            actor: e.actor,
            action: e.action,
            subject: e.subject,
            detail: e.detail,
        })
        .collect();
    let mut response = Json(list).into_response();
    if let Some(older) = page.older {
        if let Ok(value) = axum::http::HeaderValue::from_str(&format!("</api/audit?older={older}>; rel=\"next\"")) {
            response.headers_mut().insert(axum::http::header::LINK, value);
        }
    }
    Ok(response)
}
