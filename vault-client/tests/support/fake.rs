//! A scripted stand-in for Vault on a loopback port: answers each request with the next
//! (status, JSON) of its script (the last one repeats) and counts requests. Plain HTTP, or
//! TLS with a certificate from a throw-away CA.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response, body::Incoming};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;

pub struct FakeVault {
    pub port: u16,
    hits: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

/// A request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub target: String,
    pub headers: http::HeaderMap,
}

impl FakeVault {
    pub async fn plain(script: &[(u16, &'static str)]) -> Self {
        Self::start(script, None).await
    }

    pub async fn tls(script: &[(u16, &'static str)], config: Arc<rustls::ServerConfig>) -> Self {
        Self::start(script, Some(tokio_rustls::TlsAcceptor::from(config))).await
    }

    async fn start(script: &[(u16, &'static str)], tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let script: Arc<Vec<(u16, &'static str)>> = Arc::new(script.to_vec());
        let counter = hits.clone();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (script, counter, tls) = (script.clone(), counter.clone(), tls.clone());
                let log = log.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let n = counter.fetch_add(1, Ordering::SeqCst);
                        let (status, body) = script[n.min(script.len() - 1)];
                        log.lock().unwrap().push(Seen {
                            method: request.method().to_string(),
                            target: request.uri().to_string(),
                            headers: request.headers().clone(),
                        });
                        async move {
                            Ok::<_, Infallible>(
                                Response::builder()
                                    .status(status)
                                    .header("content-type", "application/json")
                                    .body(Full::new(Bytes::from_static(body.as_bytes())))
                                    .unwrap(),
                            )
                        }
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    match tls {
                        None => {
                            let _ = http.serve_connection(TokioIo::new(tcp), service).await;
                        }
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(tcp).await {
                                let _ = http.serve_connection(TokioIo::new(stream), service).await;
                            }
                        }
                    }
                });
            }
        });
        Self {
            port,
            hits,
            seen,
            task,
        }
    }

    pub fn http_addr(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn https_addr(&self, host: &str) -> String {
        format!("https://{host}:{}", self.port)
    }

    /// Requests received so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Requests answered so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for FakeVault {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A throw-away CA (written to `ca.pem`) and a server certificate for `localhost`.
pub struct TestPki {
    pub ca_file: PathBuf,
    pub server: Arc<rustls::ServerConfig>,
    _scratch: super::Scratch,
}

impl TestPki {
    pub fn new(ca_name: &str) -> Self {
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.distinguished_name.push(DnType::CommonName, ca_name);
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().unwrap();
        let ca_pem = ca.clone().self_signed(&ca_key).unwrap().pem();
        let scratch = super::Scratch::new();
        let ca_file = scratch.file("ca.pem", &ca_pem);

        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &Issuer::from_params(&ca, &ca_key))
            .unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone()], key)
            .unwrap();
        Self {
            ca_file,
            server: Arc::new(server),
            _scratch: scratch,
        }
    }
}
