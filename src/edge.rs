//! What every request passes before it reaches a route: who the client is (its address), and
//! whether a state-changing request comes from Switchboard's own pages.

use std::{net::SocketAddr, sync::Arc};

use app::accounts::session::ClientAddr;
use axum::{
    extract::{ConnectInfo, Request, State},
    http::{header, HeaderMap, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};

#[derive(Clone)]
pub struct Edge {
    /// `scheme://host[:port]` of the public URL, lowercase.
    pub public_origin: Arc<str>,
    /// Whether the last X-Forwarded-For entry names the client (a proxy in front adds it).
    pub trust_forwarded_for: bool,
}

impl Edge {
    pub fn new(public_url: &str, trust_forwarded_for: bool) -> Self {
        let origin = url::Url::parse(public_url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_else(|_| public_url.trim_end_matches('/').to_string());
        Self { public_origin: origin.to_ascii_lowercase().into(), trust_forwarded_for }
    }
}

/// Every request from a browser or an API client passes here: the client's address goes on
/// the request ([`ClientAddr`]: the last X-Forwarded-For entry when the proxy in front is
/// trusted to add it, else the connection's peer), and a state-changing request that another
/// site's page made is refused (cross-site request forgery, login forgery included).
pub async fn guard(State(edge): State<Edge>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let allowed = if path.starts_with("/export/") {
        may_download(&edge, request.headers())
    } else {
        !changes_something(request.method()) || same_origin(&edge, request.headers())
    };
    if !allowed {
        tracing::warn!(path, "refused a cross-site request");
        return (
            StatusCode::FORBIDDEN,
            "cross-site request refused: this page of Switchboard only takes requests from its own pages",
        )
            .into_response();
    }
    let forwarded = edge
        .trust_forwarded_for
        .then(|| {
            request
                .headers()
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .last()
                .and_then(|last| last.trim().parse().ok())
        })
        .flatten();
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    if let Some(ip) = forwarded.or(peer) {
        request.extensions_mut().insert(ClientAddr(ip));
    }
    next.run(request).await
}

/// Whether a request changes something: any but a read.
fn changes_something(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether a download of an export (`/export/…`) may go ahead. It writes a line in the audit log
/// under the name of whoever downloads it, so another site's link must not make a signed-in
/// browser download one: as a change, it must come from Switchboard's own pages or the browser's
/// address bar; a browser too old to say where a request comes from (no `Sec-Fetch-Site`, no
/// `Origin`: Firefox before 90, Safari before 16.4) must name one of Switchboard's pages as its
/// `Referer`. A request without a cookie goes on, to be refused for want of a session.
fn may_download(edge: &Edge, headers: &HeaderMap) -> bool {
    if !headers.contains_key(header::COOKIE) {
        return true;
    }
    if headers.contains_key(header::ORIGIN) || headers.contains_key("sec-fetch-site") {
        return same_origin(edge, headers);
    }
    let referer = headers.get(header::REFERER).and_then(|v| v.to_str().ok()).and_then(|r| url::Url::parse(r).ok());
    referer.is_some_and(|r| own_origin(edge, &r.origin().ascii_serialization().to_ascii_lowercase(), headers))
}

/// Whether `origin` (lowercase) is Switchboard's: its public URL's, or the host the browser asked
/// for (a visit through http://localhost:3000 while the public URL names 127.0.0.1: the browser
/// sets both, a page of another site cannot).
fn own_origin(edge: &Edge, origin: &str, headers: &HeaderMap) -> bool {
    if origin == &*edge.public_origin {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).map(str::to_ascii_lowercase);
    host.is_some_and(|host| {
        origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) == Some(host.as_str())
    })
}

/// Whether a request that changes something may come from where it says it comes from: a
/// browser says where a request comes from (`Sec-Fetch-Site`, `Origin`), and only Switchboard's
/// own pages may send one (or the browser itself: an address typed or a bookmark, `none`). A
/// request with neither header is no browser's (curl, the REST API's clients, Twilio) and needs
/// its own credentials anyway.
pub fn same_origin(edge: &Edge, headers: &HeaderMap) -> bool {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_ascii_lowercase);
    if let Some(origin) = &origin {
        return own_origin(edge, origin, headers);
    }
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some(site) => site.eq_ignore_ascii_case("same-origin") || site.eq_ignore_ascii_case("none"),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn an_export_is_downloaded_from_our_own_pages_whatever_the_browsers_age() {
        let edge = Edge::new("https://sb.example.com/", false);
        let signed_in = |more: &[(&'static str, &str)]| {
            let mut h = headers(more);
            h.append("cookie", "switchboard_session=abc".parse().unwrap());
            h
        };
        assert!(may_download(&edge, &signed_in(&[("sec-fetch-site", "same-origin")])));
        assert!(may_download(&edge, &signed_in(&[("sec-fetch-site", "none")])), "typed into the address bar");
        assert!(!may_download(&edge, &signed_in(&[("sec-fetch-site", "cross-site")])));
        assert!(!may_download(&edge, &signed_in(&[("sec-fetch-site", "same-site")])));
        // An old browser says neither: its Referer must be one of our pages.
        assert!(may_download(&edge, &signed_in(&[("referer", "https://sb.example.com/inbox?q=x")])));
        assert!(!may_download(&edge, &signed_in(&[("referer", "https://evil.example/")])));
        assert!(!may_download(&edge, &signed_in(&[("referer", "https://sb.example.com.evil.example/")])));
        assert!(!may_download(&edge, &signed_in(&[])), "no Referer (another site's page can withhold it)");
        // Without a session it goes on, to be refused 401.
        assert!(may_download(&edge, &headers(&[("sec-fetch-site", "cross-site")])));
    }

    #[test]
    fn only_our_own_pages_may_change_things() {
        let edge = Edge::new("https://sb.example.com/", false);
        assert!(same_origin(&edge, &headers(&[("origin", "https://sb.example.com")])));
        assert!(same_origin(&edge, &headers(&[("origin", "https://SB.example.com")])));
        assert!(!same_origin(&edge, &headers(&[("origin", "https://evil.example")])));
        assert!(!same_origin(&edge, &headers(&[("origin", "null")])));
        assert!(!same_origin(&edge, &headers(&[("origin", "http://sb.example.com")])), "another scheme");
        assert!(!same_origin(&edge, &headers(&[("sec-fetch-site", "cross-site")])));
        assert!(!same_origin(&edge, &headers(&[("sec-fetch-site", "same-site")])));
        assert!(same_origin(&edge, &headers(&[("sec-fetch-site", "same-origin")])));
        assert!(same_origin(&edge, &headers(&[])), "no browser: curl, API clients");
        // Reads pass unchecked (a page of another site may link to Switchboard's).
        assert!(!changes_something(&Method::GET));
        assert!(!changes_something(&Method::HEAD));
        assert!(changes_something(&Method::POST));
        // Visited under another name of the same server: the browser's Host and Origin agree.
        let local = Edge::new("http://127.0.0.1:3000", false);
        assert!(same_origin(&local, &headers(&[("origin", "http://localhost:3000"), ("host", "localhost:3000")])));
        assert!(!same_origin(&local, &headers(&[("origin", "http://evil.example"), ("host", "localhost:3000")])));
    }
}
