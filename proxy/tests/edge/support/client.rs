//! A TLS client for tests: rustls with the test CA, chosen SNI, ALPN, TLS versions and
//! client certificate; requests over hyper, or raw bytes for framing tests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls_pki_types::pem::PemObject;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::pki::{Pair, Pki};

#[derive(Clone)]
pub struct Client {
    pub addr: SocketAddr,
    sni: String,
    ca_pem: String,
    alpn: Vec<Vec<u8>>,
    versions: Vec<&'static rustls::SupportedProtocolVersion>,
    client_cert: Option<(String, String)>,
}

/// A response as the client saw it.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {:?}", String::from_utf8_lossy(&self.body)))
    }

    /// The `error.code` of an outscope JSON error.
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Client {
    pub fn new(pki: &Pki, addr: SocketAddr) -> Self {
        Self {
            addr,
            sni: "localhost".into(),
            ca_pem: pki.ca_pem.clone(),
            alpn: vec![b"http/1.1".to_vec()],
            versions: vec![&rustls::version::TLS13],
            client_cert: None,
        }
    }

    /// A client trusting the CA in `ca_pem`.
    pub fn with_ca(ca_pem: &str, addr: SocketAddr) -> Self {
        Self {
            addr,
            sni: "localhost".into(),
            ca_pem: ca_pem.to_owned(),
            alpn: vec![b"http/1.1".to_vec()],
            versions: vec![&rustls::version::TLS13],
            client_cert: None,
        }
    }

    pub fn sni(mut self, name: &str) -> Self {
        self.sni = name.into();
        self
    }

    pub fn alpn(mut self, protocols: &[&[u8]]) -> Self {
        self.alpn = protocols.iter().map(|p| p.to_vec()).collect();
        self
    }

    pub fn tls12_only(mut self) -> Self {
        self.versions = vec![&rustls::version::TLS12];
        self
    }

    pub fn client_cert(mut self, pair: &Pair) -> Self {
        self.client_cert = Some((pair.cert_pem.clone(), pair.key_pem.clone()));
        self
    }

    fn tls_config(&self) -> Arc<ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let builder =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_protocol_versions(&self.versions)
                .unwrap()
                .with_root_certificates(roots);
        let mut config = match &self.client_cert {
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    CertificateDer::pem_slice_iter(cert.as_bytes())
                        .map(|c| c.unwrap())
                        .collect(),
                    PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
                )
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = self.alpn.clone();
        Arc::new(config)
    }

    /// A TLS connection (handshake completed), or the handshake's error.
    pub async fn connect(&self) -> std::io::Result<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(self.addr).await?;
        let name = ServerName::try_from(self.sni.clone()).unwrap();
        let mut tls = TlsConnector::from(self.tls_config())
            .connect(name, tcp)
            .await?;
        // In TLS 1.3 a client-certificate rejection arrives after the client's handshake
        // completes: flush so it surfaces on first use.
        tls.flush().await?;
        Ok(tls)
    }

    /// Sends one request on a fresh connection (HTTP/1.1 or h2 per ALPN).
    pub async fn send(&self, req: Request<Full<Bytes>>) -> Resp {
        self.try_send(req).await.expect("request failed")
    }

    pub async fn try_send(&self, req: Request<Full<Bytes>>) -> Result<Resp, String> {
        let tls = self.connect().await.map_err(|e| format!("connect: {e}"))?;
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        let io = TokioIo::new(tls);
        let resp = if h2 {
            let (mut sender, conn) =
                hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
                    .await
                    .map_err(|e| format!("h2 handshake: {e}"))?;
            tokio::spawn(conn);
            sender
                .send_request(req)
                .await
                .map_err(|e| format!("send: {e}"))?
        } else {
            let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
                .await
                .map_err(|e| format!("h1 handshake: {e}"))?;
            tokio::spawn(conn);
            sender
                .send_request(req)
                .await
                .map_err(|e| format!("send: {e}"))?
        };
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        Ok(Resp {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(request("GET", path, "localhost", Bytes::new()))
            .await
    }

    pub async fn post(&self, path: &str, body: &str) -> Resp {
        self.send(request(
            "POST",
            path,
            "localhost",
            Bytes::from(body.to_owned()),
        ))
        .await
    }

    /// Writes raw bytes on a fresh TLS connection and reads until the server closes or
    /// `wait` passes. Returns what was read.
    pub async fn raw(&self, bytes: &[u8], wait: Duration) -> RawReply {
        let mut tls = self.connect().await.expect("connect");
        tls.write_all(bytes).await.expect("write");
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        let closed = loop {
            match tokio::time::timeout(wait, tls.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break true,
                Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
                Err(_) => break false,
            }
        };
        RawReply {
            text: String::from_utf8_lossy(&out).into_owned(),
            closed,
        }
    }
}

/// What came back on a raw connection.
pub struct RawReply {
    pub text: String,
    /// The server closed the connection (rather than the wait running out).
    pub closed: bool,
}

impl RawReply {
    pub fn status(&self) -> u16 {
        self.text
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }
}

pub fn request(method: &str, path: &str, host: &str, body: Bytes) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("host", host)
        .body(Full::new(body))
        .unwrap()
}
