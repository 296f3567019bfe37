//! Connections to the Stripe API base: TCP with a deadline, then TLS for `https://`.
//! Connects to the configured host whatever URI it is handed.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::Uri;
use hyper_util::rt::TokioIo;
use outscope_net::ClientStream;
use rustls::ClientConfig;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;

use crate::error::SetupError;

#[derive(Clone)]
pub(crate) struct Connector {
    host: Arc<str>,
    port: u16,
    connect_timeout: Duration,
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
}

impl Connector {
    /// `tls`: whether to speak TLS (webpki roots plus `extra_roots`, TLS 1.2+, ALPN
    /// http/1.1).
    pub(crate) fn new(
        host: &str,
        port: u16,
        connect_timeout: Duration,
        tls: bool,
        extra_roots: &[CertificateDer<'static>],
    ) -> Result<Connector, SetupError> {
        let tls = if tls {
            let name = ServerName::try_from(host.to_owned()).map_err(|_| SetupError::ApiBase)?;
            let config = client_config(extra_roots)?;
            Some((tokio_rustls::TlsConnector::from(config), name))
        } else {
            None
        };
        Ok(Connector {
            host: host.into(),
            port,
            connect_timeout,
            tls,
        })
    }

    async fn connect(self) -> io::Result<TokioIo<ClientStream>> {
        let addr = (self.host.as_ref(), self.port);
        let tcp = tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timeout"))??;
        tcp.set_nodelay(true)?;
        let stream = match self.tls {
            None => ClientStream::Plain(tcp),
            Some((connector, name)) => {
                let tls = tokio::time::timeout(self.connect_timeout, connector.connect(name, tcp))
                    .await
                    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS timeout"))??;
                ClientStream::Tls(Box::new(tls))
            }
        };
        Ok(TokioIo::new(stream))
    }
}

fn client_config(extra_roots: &[CertificateDer<'static>]) -> Result<Arc<ClientConfig>, SetupError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for root in extra_roots {
        roots.add(root.clone()).map_err(|_| SetupError::Tls)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| SetupError::Tls)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

impl tower::Service<Uri> for Connector {
    type Response = TokioIo<ClientStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Self::Future {
        Box::pin(self.clone().connect())
    }
}
