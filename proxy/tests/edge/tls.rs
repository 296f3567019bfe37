//! TLS termination: TLS 1.3 only, ALPN, SNI certificate selection, client certificates.

use outscope_config::{Certificate, ClientAuth};

use crate::support::*;

#[tokio::test]
async fn tls_1_3_request_is_proxied() {
    let stack = Stack::start(|_, _| {}).await;
    let resp = stack.client().get("/hello").await;
    assert_eq!(resp.status, 200);
    assert_eq!(stack.upstream.only().uri, "/hello");
}

#[tokio::test]
async fn tls_1_2_clients_are_refused_with_a_protocol_version_alert() {
    let stack = Stack::start(|_, _| {}).await;
    let Err(err) = stack.client().tls12_only().connect().await else {
        panic!("TLS 1.2 must fail");
    };
    let text = err.to_string();
    assert!(text.contains("ProtocolVersion"), "unexpected error: {text}");
    assert!(stack.upstream.seen().is_empty());
}

#[tokio::test]
async fn alpn_h2_is_negotiated_and_served() {
    let stack = Stack::start(|_, _| {}).await;
    let client = stack.client().alpn(&[b"h2"]);
    let tls = client.connect().await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let resp = client
        .send(request(
            "GET",
            "https://localhost/over-h2",
            "localhost",
            Default::default(),
        ))
        .await;
    assert_eq!(resp.status, 200);
    assert_eq!(stack.upstream.only().uri, "/over-h2");
}

#[tokio::test]
async fn certificate_is_chosen_by_sni() {
    let stack = Stack::start(|cfg, pki| {
        let shop = pki.server("shop", &["*.shop.test"]);
        cfg.listeners[0].tls.certificates.push(Certificate {
            cert: shop.cert,
            key: shop.key,
            server_names: vec!["*.shop.test".into()],
        });
    })
    .await;
    for (sni, expect) in [
        ("eu.shop.test", "eu.shop.test"),
        ("api.test", "api.test"),
        ("other.test", "localhost"),
    ] {
        let tls = stack.client().sni(sni).connect().await;
        match (sni, tls) {
            // An unknown name gets the default certificate, which the client rejects.
            ("other.test", Err(e)) => assert!(e.to_string().contains("not valid for name"), "{e}"),
            (_, Ok(tls)) => {
                let leaf = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
                let text = String::from_utf8_lossy(leaf.as_ref()).into_owned();
                assert!(
                    text.contains(expect.trim_start_matches("eu.")),
                    "wrong certificate for {sni}"
                );
            }
            (sni, Err(e)) => panic!("{sni}: {e}"),
        }
    }
}

#[tokio::test]
async fn required_client_certificates_are_enforced() {
    let stack = Stack::start(|cfg, pki| {
        cfg.listeners[0].tls.client_auth = ClientAuth::Required { ca: pki.ca_ref() };
    })
    .await;
    let anonymous = stack
        .client()
        .try_send(request("GET", "/", "localhost", Default::default()))
        .await;
    assert!(
        anonymous.is_err(),
        "a client without a certificate must be refused"
    );
    let pair = stack.pki.client("alice", "alice");
    let resp = stack.client().client_cert(&pair).get("/with-cert").await;
    assert_eq!(resp.status, 200);
    let other_ca = Pki::new("someone else");
    let stranger = other_ca.client("mallory", "mallory");
    let refused = stack
        .client()
        .client_cert(&stranger)
        .try_send(request("GET", "/", "localhost", Default::default()))
        .await;
    assert!(
        refused.is_err(),
        "a certificate from another CA must be refused"
    );
    assert_eq!(stack.upstream.seen().len(), 1);
}

#[tokio::test]
async fn optional_client_certificates_allow_anonymous_clients() {
    let stack = Stack::start(|cfg, pki| {
        cfg.listeners[0].tls.client_auth = ClientAuth::Optional { ca: pki.ca_ref() };
    })
    .await;
    assert_eq!(stack.client().get("/anon").await.status, 200);
    let pair = stack.pki.client("bob", "bob");
    assert_eq!(
        stack.client().client_cert(&pair).get("/bob").await.status,
        200
    );
}
