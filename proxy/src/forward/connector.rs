//! Opens connections to one upstream: TCP with a connect deadline, then TLS for `https://`.

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
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;

/// Connects to a fixed upstream address regardless of the URI it is handed (routes cannot
/// redirect the proxy elsewhere: no open proxy).
#[derive(Clone)]
pub struct Connector {
    host: Arc<str>,
    port: u16,
    connect_timeout: Duration,
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
}

impl Connector {
    pub fn new(
        host: &str,
        port: u16,
        connect_timeout: Duration,
        tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
    ) -> Self {
        Self {
            host: host.into(),
            port,
            connect_timeout,
            tls: tls.map(|(config, name)| (tokio_rustls::TlsConnector::from(config), name)),
        }
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
                    .map_err(|_| {
                        io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timeout")
                    })??;
                ClientStream::Tls(Box::new(tls))
            }
        };
        Ok(TokioIo::new(stream))
    }
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
