//! Phase 1: accepting connections, the TLS 1.3 handshake, and serving HTTP/1.1 and HTTP/2
//! on each connection with the configured limits and timeouts.

mod activity;
pub mod framing;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, watch};
use tokio_rustls::TlsAcceptor;

use crate::app::App;
use crate::pipeline;
use activity::{Activity, Tracked};
use framing::{Tracker, Verdicts};

/// What the pipeline knows about the connection a request came on.
pub struct ConnInfo {
    /// Index into the listeners of the configuration.
    pub listener: usize,
    pub peer: SocketAddr,
    /// `h2` or `http/1.1`, as negotiated.
    pub alpn: Option<Vec<u8>>,
    /// DER of the verified client certificate's subject, when the client sent one.
    pub client_cert_subject: Option<Vec<u8>>,
}

/// Accepts connections until `shutdown` flips, each under a connection permit.
pub async fn accept_loop(
    app: Arc<App>,
    index: usize,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        let Ok((tcp, peer)) = accepted else {
            // Out of file descriptors and similar: back off briefly instead of spinning.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let Some(permit) = app.connection_permit() else {
            app.connection_refused(index);
            drop(tcp);
            continue;
        };
        tokio::spawn(serve(
            app.clone(),
            index,
            tcp,
            peer,
            permit,
            shutdown.clone(),
        ));
    }
}

/// Serves one client connection from handshake to close.
async fn serve(
    app: Arc<App>,
    index: usize,
    tcp: TcpStream,
    peer: SocketAddr,
    _permit: OwnedSemaphorePermit,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = tcp.set_nodelay(true);
    let rt = app.runtime();
    let limits = rt.config.limits.clone();
    let Some(server_tls) = rt.listeners.get(index) else {
        return;
    };
    let acceptor = TlsAcceptor::from(server_tls.config.clone());
    drop(rt);
    let tls = match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => return app.handshake_failed(index, Some(&e)),
        Err(_) => return app.handshake_failed(index, None),
    };
    let _counted = app.connection_opened(index);
    let (_, session) = tls.get_ref();
    let alpn = session.alpn_protocol().map(<[u8]>::to_vec);
    let client_cert_subject = session
        .peer_certificates()
        .and_then(|certs| certs.first())
        .and_then(|cert| crate::tls::x509::subject_der(cert.as_ref()))
        .map(<[u8]>::to_vec);
    let h2 = alpn.as_deref() == Some(b"h2");
    let conn_info = Arc::new(ConnInfo {
        listener: index,
        peer,
        alpn,
        client_cert_subject,
    });
    let activity = Activity::new();
    let verdicts = Arc::new(Verdicts::default());
    let tracker = (!h2).then(|| {
        Tracker::new(
            limits.max_header_bytes,
            limits.max_headers,
            verdicts.clone(),
        )
    });
    let io = TokioIo::new(Tracked::new(tls, activity.clone(), tracker));

    let service = {
        let (app, activity) = (app.clone(), activity.clone());
        service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            if req.version() < hyper::Version::HTTP_2 {
                req.extensions_mut().insert(verdicts.next());
            }
            let (app, conn, guard) = (app.clone(), conn_info.clone(), activity.begin());
            async move {
                let resp = pipeline::handle(app, conn, req).await;
                drop(guard);
                Ok::<_, Infallible>(resp)
            }
        })
    };

    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192) + 1024)
        .max_headers(limits.max_headers)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.h2_max_concurrent_streams)
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .keep_alive_interval(Some(limits.idle_timeout))
        .keep_alive_timeout(limits.handshake_timeout);
    let builder = if h2 {
        builder.http2_only()
    } else {
        builder.http1_only()
    };
    let conn = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(conn);

    let tick = (limits.idle_timeout / 4).max(Duration::from_millis(50));
    let mut closing = false;
    loop {
        tokio::select! {
            _ = conn.as_mut() => break,
            _ = shutdown.wait_for(|stop| *stop), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = tokio::time::sleep(tick), if !closing => {
                if activity.idle_for().is_some_and(|idle| idle >= limits.idle_timeout) {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}
