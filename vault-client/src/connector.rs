//! Opens connections to the Vault server: TCP with a connect deadline, then TLS for
//! `https://` addresses.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::Uri;
use hyper_util::rt::TokioIo;
use outscope_net::ClientStream;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Connects to the configured server whatever URI it is handed: requests cannot be steered
/// to another host.
#[derive(Clone)]
pub(crate) struct Connector {
    host: Arc<str>,
    port: u16,
    connect_timeout: Duration,
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl Connector {
    pub(crate) fn new(
        host: &str,
        port: u16,
        connect_timeout: Duration,
        tls: Option<(TlsConnector, ServerName<'static>)>,
    ) -> Self {
        Self {
            host: host.into(),
            port,
            connect_timeout,
            tls,
        }
    }

    async fn connect(self) -> io::Result<TokioIo<ClientStream>> {
        let deadline = self.connect_timeout;
        let tcp = tokio::time::timeout(deadline, TcpStream::connect((&*self.host, self.port)))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timeout"))??;
        tcp.set_nodelay(true)?;
        let stream = match self.tls {
            None => ClientStream::Plain(tcp),
            Some((connector, name)) => {
                let tls = tokio::time::timeout(deadline, connector.connect(name, tcp))
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
