//! The node's own web dashboard, served on the JSON-RPC port.
//!
//! A tower layer in front of jsonrpsee answers `GET /ui`, `GET /ui/<asset>` and a browser's
//! `GET /` (`Accept: text/html`) with files compiled into the binary (`rpc/dashboard/`); every
//! other request — JSON-RPC POSTs, WebSocket upgrades, a `GET /` without `text/html` — goes to
//! jsonrpsee untouched. Serving a file reads nothing but the embedded bytes: a GET never
//! changes state. The dev controls' script is served only when the node allows dev methods
//! (not in network mode); the page itself talks JSON-RPC to `location.host`, so it works on
//! whatever address the node is bound to.

use std::task::{Context, Poll};

use futures::future::{Either, Ready, ready};
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use jsonrpsee::server::HttpBody;
use tower::{Layer, Service};

/// One embedded file: its path under `/ui/`, its content type and its bytes.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
    /// Served only when the node allows dev methods.
    dev_only: bool,
}

macro_rules! asset {
    ($path:literal, $type:expr) => {
        asset!($path, $type, false)
    };
    ($path:literal, $type:expr, $dev:expr) => {
        Asset {
            path: $path,
            content_type: $type,
            bytes: include_bytes!(concat!("../dashboard/", $path)),
            dev_only: $dev,
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the dashboard.
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("app.js", JS),
    asset!("rpc.js", JS),
    asset!("util.js", JS),
    asset!("abi.js", JS),
    asset!("charts.js", JS),
    asset!("chain.js", JS),
    asset!("tx.js", JS),
    asset!("accounts.js", JS),
    asset!("series.js", JS),
    asset!("network.js", JS),
    asset!("apps.js", JS),
    asset!("dev.js", JS, true),
];

/// The content security policy of every dashboard response: nothing but the node itself.
const CSP: &str = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; \
                   style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; \
                   frame-ancestors 'none'";

/// A tower layer that serves the dashboard in front of the JSON-RPC service.
#[derive(Debug, Clone, Copy)]
pub struct DashboardLayer {
    dev_methods: bool,
}

impl DashboardLayer {
    /// The layer; `dev_methods` says whether the dev controls are served.
    pub fn new(dev_methods: bool) -> Self {
        Self { dev_methods }
    }
}

impl<S> Layer<S> for DashboardLayer {
    type Service = Dashboard<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Dashboard { inner, dev_methods: self.dev_methods }
    }
}

/// The service made by [`DashboardLayer`]: the dashboard's GETs, or the inner service.
#[derive(Debug, Clone)]
pub struct Dashboard<S> {
    inner: S,
    dev_methods: bool,
}

impl<S, B> Service<Request<B>> for Dashboard<S>
where
    S: Service<Request<B>, Response = Response<HttpBody>>,
{
    type Response = Response<HttpBody>;
    type Error = S::Error;
    type Future = Either<Ready<Result<Self::Response, Self::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        match respond(&request, self.dev_methods) {
            Some(response) => Either::Left(ready(Ok(response))),
            None => Either::Right(self.inner.call(request)),
        }
    }
}

/// What the dashboard answers to a request, or `None` when the request is not its own.
pub fn respond<B>(request: &Request<B>, dev_methods: bool) -> Option<Response<HttpBody>> {
    if request.method() != Method::GET || request.headers().contains_key(header::UPGRADE) {
        return None;
    }
    let path = request.uri().path();
    let name = match path {
        "/" if accepts_html(request) => "index.html",
        "/ui" | "/ui/" => "index.html",
        _ => path.strip_prefix("/ui/")?,
    };
    let asset = ASSETS.iter().find(|a| a.path == name && (dev_methods || !a.dev_only));
    Some(match asset {
        Some(asset) => response(StatusCode::OK, asset.content_type, asset.bytes),
        None => response(StatusCode::NOT_FOUND, "text/plain; charset=utf-8", b"not found\n"),
    })
}

fn accepts_html<B>(request: &Request<B>) -> bool {
    request
        .headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/html"))
}

fn response(
    status: StatusCode,
    content_type: &'static str,
    body: &'static [u8],
) -> Response<HttpBody> {
    let mut response = Response::new(HttpBody::from(body.to_vec()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str, accept: Option<&str>) -> Request<()> {
        let mut builder = Request::builder().method(Method::GET).uri(path);
        if let Some(accept) = accept {
            builder = builder.header(header::ACCEPT, accept);
        }
        builder.body(()).unwrap()
    }

    fn status(request: &Request<()>, dev: bool) -> Option<u16> {
        respond(request, dev).map(|r| r.status().as_u16())
    }

    #[test]
    fn browsers_get_the_page_and_rpc_clients_do_not() {
        assert_eq!(status(&get("/", Some("text/html,application/xhtml+xml")), true), Some(200));
        assert_eq!(status(&get("/", Some("application/json")), true), None);
        assert_eq!(status(&get("/", None), true), None);
        assert_eq!(status(&get("/ui", None), true), Some(200));
        assert_eq!(status(&get("/ui/", None), true), Some(200));
        assert_eq!(status(&get("/ui/app.js", None), true), Some(200));
        assert_eq!(status(&get("/ui/nope.js", None), true), Some(404));
        assert_eq!(status(&get("/other", Some("text/html")), true), None);
        let post = Request::builder().method(Method::POST).uri("/ui").body(()).unwrap();
        assert_eq!(status(&post, true), None);
        let upgrade = Request::builder()
            .uri("/")
            .header(header::ACCEPT, "text/html")
            .header(header::UPGRADE, "websocket")
            .body(())
            .unwrap();
        assert_eq!(status(&upgrade, true), None);
    }

    #[test]
    fn dev_controls_are_served_only_when_dev_methods_are_allowed() {
        assert_eq!(status(&get("/ui/dev.js", None), true), Some(200));
        assert_eq!(status(&get("/ui/dev.js", None), false), Some(404));
        assert_eq!(status(&get("/ui/chain.js", None), false), Some(200));
    }

    #[test]
    fn scripts_have_a_javascript_type_and_a_strict_policy() {
        let response = respond(&get("/ui/app.js", None), true).unwrap();
        assert_eq!(response.headers()[header::CONTENT_TYPE], JS);
        assert!(response.headers().contains_key(header::CONTENT_SECURITY_POLICY));
    }
}
