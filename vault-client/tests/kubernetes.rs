//! Kubernetes login against OpenBao's real kubernetes auth method, with no cluster: OpenBao
//! is pointed at a scripted stand-in for the API server's TokenReview endpoint, and the
//! service-account JWT is unsigned (OpenBao verifies it through that review when no
//! `pem_keys` are configured, as in most clusters).
#![allow(clippy::unwrap_used, reason = "tests: a panic is a failed test")]

mod support;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use outscope_testkit::shared_openbao;
use serde_json::json;
use support::fake::{FakeVault, TestPki};
use support::{Scratch, enable, fast_retries, read_policy, root_client, unique};
use vault_client::{Auth, Client};

/// What the API server says about the pod's token: valid, for `payments/outscope`.
const REVIEW: &str = r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","status":{"authenticated":true,"user":{"username":"system:serviceaccount:payments:outscope","uid":"0b7c1f4e-uid"}}}"#;

/// A service-account token as the kubelet mounts it (legacy claim layout), unsigned.
fn service_account_jwt() -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = json!({
        "iss": "kubernetes/serviceaccount",
        "sub": "system:serviceaccount:payments:outscope",
        "kubernetes.io/serviceaccount/namespace": "payments",
        "kubernetes.io/serviceaccount/service-account.name": "outscope",
        "kubernetes.io/serviceaccount/service-account.uid": "0b7c1f4e-uid",
    });
    let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!(
        "{header}.{claims}.{}",
        URL_SAFE_NO_PAD.encode(b"not-verified-here")
    )
}

/// The stand-in API server (TLS, with its own CA) and OpenBao's view of it.
struct ApiServer {
    fake: FakeVault,
    ca_pem: String,
}

impl ApiServer {
    async fn start(review: &'static str) -> Self {
        let pki = TestPki::new("kubernetes cluster CA");
        let ca_pem = std::fs::read_to_string(&pki.ca_file).unwrap();
        let fake = FakeVault::tls(&[(201, review)], pki.server.clone()).await;
        Self { fake, ca_pem }
    }

    /// Enables kubernetes auth at a fresh mount that trusts this API server.
    async fn kubernetes_auth(&self, root: &Client) -> String {
        let mount = enable(root, "sys/auth", "kubernetes").await;
        let config = json!({
            "kubernetes_host": self.fake.https_addr("localhost"),
            "kubernetes_ca_cert": self.ca_pem,
            "disable_local_ca_jwt": true,
        });
        root.write_raw(&format!("auth/{mount}/config"), &config)
            .await
            .unwrap();
        mount
    }

    fn hits(&self) -> usize {
        self.fake.hits()
    }
}

#[tokio::test]
async fn a_pod_logs_in_with_its_service_account_token_and_reads_its_secret() {
    let bao = shared_openbao();
    let root = root_client(bao.addr(), bao.root_token());
    let prefix = unique("k8s");
    let path = format!("{prefix}/stripe");
    root.kv2("secret")
        .write(&path, [("api_key", "sk_test_k8s")])
        .await
        .unwrap();
    let policy = read_policy(&root, &prefix).await;

    let api_server = ApiServer::start(REVIEW).await;
    let mount = api_server.kubernetes_auth(&root).await;
    let role = json!({
        "bound_service_account_names": ["outscope"],
        "bound_service_account_namespaces": ["payments"],
        "token_policies": [policy],
        "token_ttl": "1h",
    });
    root.write_raw(&format!("auth/{mount}/role/outscope"), &role)
        .await
        .unwrap();
    let scratch = Scratch::new();
    let jwt_file = scratch.file("token", &service_account_jwt());

    let pod = fast_retries(Client::builder(bao.addr()))
        .auth(Auth::kubernetes("outscope", &jwt_file).at_mount(&mount))
        .build()
        .unwrap();
    let info = pod.login().await.unwrap();
    assert_eq!(info.ttl, Some(std::time::Duration::from_secs(3600)));
    assert_eq!(
        api_server.hits(),
        1,
        "OpenBao asked the API server to review the token"
    );

    let secret = pod.kv2("secret").read(&path).await.unwrap();
    assert_eq!(secret.get("api_key").unwrap().expose(), "sk_test_k8s");
}

#[tokio::test]
async fn a_token_the_api_server_rejects_is_permission_denied() {
    let bao = shared_openbao();
    let root = root_client(bao.addr(), bao.root_token());
    let rejected = r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","status":{"authenticated":false}}"#;
    let api_server = ApiServer::start(rejected).await;
    let mount = api_server.kubernetes_auth(&root).await;
    let role = json!({
        "bound_service_account_names": ["outscope"],
        "bound_service_account_namespaces": ["payments"],
        "token_ttl": "1h",
    });
    root.write_raw(&format!("auth/{mount}/role/outscope"), &role)
        .await
        .unwrap();
    let jwt = service_account_jwt();
    let scratch = Scratch::new();
    let jwt_file = scratch.file("token", &jwt);

    let pod = fast_retries(Client::builder(bao.addr()))
        .auth(Auth::kubernetes("outscope", &jwt_file).at_mount(&mount))
        .build()
        .unwrap();
    let err = pod.login().await.unwrap_err();
    assert!(err.is_permission_denied(), "{err}");
    assert!(!err.to_string().contains(&jwt), "{err}");
}
