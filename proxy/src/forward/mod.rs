//! Phase 10: forwarding to the upstream over a pooled HTTP/1.1 client, and relaying its
//! response.

mod connector;
pub mod headers;

use std::time::Duration;

use bytes::Bytes;
use http::uri::{PathAndQuery, Scheme};
use http::{Request, Response, Uri};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use outscope_config::Upstream;
use rustls_pki_types::ServerName;

use crate::errors::ProxyError;
use crate::tls::{self, TlsError};
use connector::Connector;

/// A pooled client bound to one configured upstream.
pub struct UpstreamClient {
    pub name: String,
    client: Client<Connector, Full<Bytes>>,
    /// `host[:port]` for the `upstream` Host mode (the port only when not the default).
    authority: String,
    /// The same, parsed once for request URIs.
    parsed_authority: Option<http::uri::Authority>,
    scheme: &'static str,
    base_path: String,
    request_timeout: Duration,
}

impl UpstreamClient {
    /// `secrets`: the values this runtime was built from (CA and client certificate).
    pub fn new(upstream: &Upstream, secrets: &crate::secrets::Resolved) -> Result<Self, TlsError> {
        let url = &upstream.url;
        let tls = match &upstream.tls {
            Some(tls_config) if url.https => {
                let config = tls::client::build(tls_config, secrets)?;
                let name = tls_config.server_name.as_deref().unwrap_or(&url.host);
                let name = ServerName::try_from(name.to_owned()).map_err(|_| {
                    TlsError::Verifier(format!("upstream {}: invalid server name", upstream.name))
                })?;
                Some((config, name))
            }
            _ => None,
        };
        let connector = Connector::new(&url.host, url.port, upstream.connect_timeout, tls);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(upstream.pool_idle_timeout)
            .pool_max_idle_per_host(upstream.pool_max_idle_per_host)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .set_host(false)
            .build(connector);
        let default_port = if url.https { 443 } else { 80 };
        let authority = if url.port == default_port {
            bracket(&url.host)
        } else {
            format!("{}:{}", bracket(&url.host), url.port)
        };
        Ok(Self {
            name: upstream.name.clone(),
            client,
            parsed_authority: authority.parse().ok(),
            authority,
            scheme: if url.https { "https" } else { "http" },
            base_path: url.base_path.clone(),
            request_timeout: upstream.request_timeout,
        })
    }

    /// The upstream's authority (`host[:port]`), for the `upstream` Host mode.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The URI to request upstream for a client path-and-query. Without a base path the
    /// client's already parsed path-and-query is reused as it is.
    pub fn uri_for(&self, path_and_query: &PathAndQuery) -> Result<Uri, ProxyError> {
        if self.base_path.is_empty()
            && let Some(authority) = &self.parsed_authority
        {
            let mut parts = http::uri::Parts::default();
            parts.scheme = Some(if self.scheme == "https" {
                Scheme::HTTPS
            } else {
                Scheme::HTTP
            });
            parts.authority = Some(authority.clone());
            parts.path_and_query = Some(path_and_query.clone());
            return Uri::from_parts(parts)
                .map_err(|_| ProxyError::BadRequest("request target cannot be forwarded"));
        }
        format!(
            "{}://{}{}{}",
            self.scheme, self.authority, self.base_path, path_and_query
        )
        .parse()
        .map_err(|_| ProxyError::BadRequest("request target cannot be forwarded"))
    }

    /// Sends the request and waits for the response head (bounded by `request_timeout`).
    pub async fn send(&self, req: Request<Full<Bytes>>) -> Result<Response<Incoming>, ProxyError> {
        match tokio::time::timeout(self.request_timeout, self.client.request(req)).await {
            Err(_) => Err(ProxyError::UpstreamTimeout),
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) if e.is_connect() => Err(ProxyError::UpstreamConnect),
            Ok(Err(_)) => Err(ProxyError::UpstreamProtocol),
        }
    }
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// Joins an upgraded client connection to the upgraded upstream connection (routes with
/// `allow_upgrade` only). Bytes in a tunnel are not inspected: that is what the route's
/// opt-in accepts.
pub async fn tunnel(client: hyper::upgrade::OnUpgrade, upstream: hyper::upgrade::OnUpgrade) {
    let (Ok(client), Ok(upstream)) = tokio::join!(client, upstream) else {
        return;
    };
    let mut client = hyper_util::rt::TokioIo::new(client);
    let mut upstream = hyper_util::rt::TokioIo::new(upstream);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}
