//! Proxying: routes, headers on the way up and down, exact framing, no open proxy.

use bytes::Bytes;
use outscope_config::{HostHeader, HostMatch, PathMatch};

use crate::support::*;

#[tokio::test]
async fn request_reaches_the_upstream_with_forwarding_headers_and_exact_length() {
    let stack = Stack::start(|_, _| {}).await;
    let body = r#"{"amount":1200,"currency":"eur"}"#;
    let resp = stack.client().post("/v1/orders?expand=items", body).await;
    assert_eq!(resp.status, 200);
    let seen = stack.upstream.only();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.uri, "/v1/orders?expand=items");
    assert_eq!(seen.body, body.as_bytes());
    assert_eq!(
        seen.headers["content-length"],
        body.len().to_string().as_str()
    );
    assert!(seen.headers.get("transfer-encoding").is_none());
    assert_eq!(seen.headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen.headers["x-forwarded-proto"], "https");
    assert_eq!(seen.headers["host"], "localhost");
    let id = seen.headers["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 26);
    assert_eq!(
        resp.header("x-request-id"),
        Some(id.as_str()),
        "the client sees the same request id"
    );
}

#[tokio::test]
async fn an_upstream_base_path_prefixes_the_forwarded_target_and_keeps_the_query() {
    let stack = Stack::start(|cfg, _| cfg.upstreams[0].url.base_path = "/api".into()).await;
    let resp = stack.client().get("/v1/orders?expand=items&limit=2").await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        stack.upstream.only().uri,
        "/api/v1/orders?expand=items&limit=2"
    );
}

#[tokio::test]
async fn chunked_requests_are_forwarded_with_a_content_length() {
    let stack = Stack::start(|_, _| {}).await;
    let reply = stack
        .client()
        .raw(
            b"POST /c HTTP/1.1\r\nhost: localhost\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            std::time::Duration::from_secs(5),
        )
        .await;
    assert_eq!(reply.status(), 200, "{}", reply.text);
    let seen = stack.upstream.only();
    assert_eq!(seen.body, "hello world".as_bytes());
    assert_eq!(seen.headers["content-length"], "11");
    let raw = String::from_utf8_lossy(&stack.upstream.raw()).to_lowercase();
    assert!(
        !raw.contains("transfer-encoding"),
        "the upstream must see Content-Length framing only"
    );
}

#[tokio::test]
async fn hop_by_hop_headers_are_removed_both_ways() {
    let stack = Stack::start(|_, _| {}).await;
    let mut req = request("GET", "/", "localhost", Bytes::new());
    let h = req.headers_mut();
    h.insert("connection", "x-client-hop".parse().unwrap());
    h.insert("x-client-hop", "secret".parse().unwrap());
    h.insert("proxy-authorization", "Basic Zm9vOmJhcg==".parse().unwrap());
    h.insert("te", "trailers".parse().unwrap());
    h.insert("x-end-to-end", "kept".parse().unwrap());
    let resp = stack.client().send(req).await;
    let seen = stack.upstream.only();
    for gone in ["x-client-hop", "proxy-authorization", "te"] {
        assert!(
            seen.headers.get(gone).is_none(),
            "{gone} must not reach the upstream"
        );
    }
    assert_eq!(seen.headers["x-end-to-end"], "kept");
    assert!(
        resp.header("x-upstream-hop").is_none(),
        "a header the upstream's Connection names must not reach the client"
    );
    assert!(resp.header("keep-alive").is_none());
}

#[tokio::test]
async fn routes_match_by_host_method_and_path_first_match_wins() {
    let second = Upstream::spawn().await;
    let second_addr = second.addr;
    let stack = Stack::start(move |cfg, _| {
        cfg.upstreams.push(upstream_config("payments", second_addr));
        let mut pay = route("payments", PathMatch::Prefix("/v1/payments".into()), 1);
        pay.methods = vec!["POST".into()];
        pay.host = Some(HostMatch::Exact("api.test".into()));
        cfg.routes.insert(0, pay);
        cfg.routes[1] = route("health", PathMatch::Exact("/health".into()), 0);
    })
    .await;
    let client = stack.client();
    let post = |host: &str, path: &str| request("POST", path, host, Bytes::from_static(b"{}"));
    assert_eq!(
        client.send(post("api.test", "/v1/payments/x")).await.status,
        200
    );
    assert_eq!(
        second.seen().len(),
        1,
        "POST api.test /v1/payments goes to the payments upstream"
    );
    let resp = client.send(post("localhost", "/v1/payments/x")).await;
    assert_eq!(resp.status, 404, "other host: no route");
    assert_eq!(resp.code(), "no_route");
    assert_eq!(client.get("/health").await.status, 200);
    assert_eq!(stack.upstream.seen().len(), 1);
    assert_eq!(second.seen().len(), 1);
}

#[tokio::test]
async fn host_header_is_preserved_or_set_per_route() {
    let stack = Stack::start(|cfg, _| {
        let mut set = route("set", PathMatch::Prefix("/set".into()), 0);
        set.host_header = HostHeader::Set("backend.internal".into());
        let mut up = route("up", PathMatch::Prefix("/up".into()), 0);
        up.host_header = HostHeader::Upstream;
        cfg.routes.insert(0, set);
        cfg.routes.insert(0, up);
    })
    .await;
    let client = stack.client();
    client.get("/set").await;
    client.get("/up").await;
    client.get("/kept").await;
    let seen = stack.upstream.seen();
    assert_eq!(seen[0].headers["host"], "backend.internal");
    assert_eq!(
        seen[1].headers["host"],
        stack.upstream.addr.to_string().as_str()
    );
    assert_eq!(seen[2].headers["host"], "localhost");
}

#[tokio::test]
async fn never_an_open_proxy() {
    let stack = Stack::start(|_, _| {}).await;
    let wait = std::time::Duration::from_secs(5);
    let abs = stack
        .client()
        .raw(
            b"GET http://example.org/ HTTP/1.1\r\nhost: example.org\r\n\r\n",
            wait,
        )
        .await;
    assert_eq!(abs.status(), 400, "{}", abs.text);
    assert!(abs.text.contains("absolute_target"));
    let connect = stack
        .client()
        .raw(
            b"CONNECT example.org:443 HTTP/1.1\r\nhost: example.org:443\r\n\r\n",
            wait,
        )
        .await;
    assert!(
        connect.status() == 405 || connect.status() == 400,
        "{}",
        connect.text
    );
    assert!(stack.upstream.seen().is_empty());
}

#[tokio::test]
async fn upgrades_and_h2c_are_refused_unless_the_route_allows_them() {
    let stack = Stack::start(|cfg, _| {
        let mut ws = route("ws", PathMatch::Prefix("/ws".into()), 0);
        ws.allow_upgrade = true;
        cfg.routes.insert(0, ws);
    })
    .await;
    let wait = std::time::Duration::from_secs(5);
    let h2c = stack
        .client()
        .raw(b"GET / HTTP/1.1\r\nhost: localhost\r\nconnection: Upgrade, HTTP2-Settings\r\nupgrade: h2c\r\nhttp2-settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n", wait)
        .await;
    assert_eq!(h2c.status(), 400, "{}", h2c.text);
    assert!(h2c.text.contains("upgrade_refused"));
    let ws = stack
        .client()
        .raw(b"GET /elsewhere HTTP/1.1\r\nhost: localhost\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n", wait)
        .await;
    assert_eq!(
        ws.status(),
        400,
        "a route without allow_upgrade refuses WebSocket too: {}",
        ws.text
    );
    assert!(stack.upstream.seen().is_empty());
}

#[tokio::test]
async fn upstream_failures_are_json_errors() {
    let stack = Stack::start(|cfg, _| {
        cfg.upstreams[0].request_timeout = std::time::Duration::from_millis(300);
        let dead = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        cfg.upstreams.push(upstream_config("dead", dead));
        cfg.routes
            .insert(0, route("dead", PathMatch::Prefix("/dead".into()), 1));
    })
    .await;
    let resp = stack.client().get("/dead").await;
    assert_eq!(resp.status, 502);
    assert_eq!(resp.code(), "upstream_unreachable");
    stack
        .upstream
        .behave(Behaviour::Delay(std::time::Duration::from_secs(3)));
    let resp = stack.client().get("/slow").await;
    assert_eq!(resp.status, 504);
    assert_eq!(resp.code(), "upstream_timeout");
}

#[tokio::test]
async fn an_upgrade_allowed_by_the_route_is_tunnelled_both_ways() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stack = Stack::start(|cfg, _| cfg.routes[0].allow_upgrade = true).await;
    stack.upstream.behave(Behaviour::UpgradeEcho);
    let mut tls = stack.client().connect().await.unwrap();
    tls.write_all(
        b"GET /ws HTTP/1.1\r\nhost: localhost\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tls.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: echo"), "{head}");
    tls.write_all(b"ping through the tunnel").await.unwrap();
    let mut echoed = [0u8; 23];
    tls.read_exact(&mut echoed).await.unwrap();
    assert_eq!(&echoed, b"ping through the tunnel");
}

#[tokio::test]
async fn https_upstreams_are_verified_and_can_require_our_client_certificate() {
    let pki = Pki::new("ca");
    let upstream = Upstream::spawn_tls(&pki, true).await;
    let client_pair = pki.client("outscope-to-backend", "outscope");
    let mut cfg = config(&pki, &upstream);
    let mut tls_upstream = upstream_config("secure", upstream.addr);
    tls_upstream.url.https = true;
    tls_upstream.tls = Some(outscope_config::UpstreamTls {
        ca: Some(pki.ca_ref()),
        client_cert: Some(outscope_config::ClientCert {
            cert: client_pair.cert,
            key: client_pair.key,
        }),
        server_name: Some("localhost".into()),
    });
    cfg.upstreams = vec![tls_upstream.clone()];
    let proxy = Proxy::start(cfg.clone()).await;
    let resp = proxy.client(&pki).post("/secure", "{}").await;
    assert_eq!(resp.status, 200);
    assert_eq!(upstream.only().uri, "/secure");

    // Without our client certificate the backend refuses the connection: 502, not a leak.
    let mut no_cert = cfg.clone();
    if let Some(tls) = no_cert.upstreams[0].tls.as_mut() {
        tls.client_cert = None;
    }
    let proxy = Proxy::start(no_cert).await;
    let resp = proxy.client(&pki).get("/no-client-cert").await;
    assert_eq!(resp.status, 502);

    // A backend certificate from another CA is not trusted.
    let stranger = Pki::new("stranger");
    let mut wrong_ca = cfg.clone();
    if let Some(tls) = wrong_ca.upstreams[0].tls.as_mut() {
        tls.ca = Some(stranger.ca_ref());
    }
    let proxy = Proxy::start(wrong_ca).await;
    let resp = proxy.client(&pki).get("/wrong-ca").await;
    assert_eq!(resp.status, 502);
    assert_eq!(upstream.seen().len(), 1);
}
