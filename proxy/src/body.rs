//! Bodies: the one module that collects request bodies (always capped, always under a
//! deadline) and the body type the proxy answers with.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use zeroize::Zeroize;

use crate::errors::ProxyError;

/// The body of every response the proxy sends: a fixed buffer, or the upstream's body
/// streamed through.
pub struct ProxyBody(Inner);

enum Inner {
    Full(Option<Bytes>),
    Stream(Incoming),
}

impl ProxyBody {
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        Self(Inner::Full((!bytes.is_empty()).then_some(bytes)))
    }

    pub fn empty() -> Self {
        Self(Inner::Full(None))
    }

    pub fn stream(body: Incoming) -> Self {
        Self(Inner::Stream(body))
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match &mut self.0 {
            Inner::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Inner::Stream(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            Inner::Full(bytes) => bytes.is_none(),
            Inner::Stream(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Inner::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Inner::Full(None) => SizeHint::with_exact(0),
            Inner::Stream(body) => body.size_hint(),
        }
    }
}

/// A request body held in memory. It may hold card data, so it has no `Debug` and is wiped
/// when dropped.
pub struct RequestBody(Vec<u8>);

impl RequestBody {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Hands the bytes over for forwarding. The caller becomes responsible for them.
    pub fn into_bytes(mut self) -> Bytes {
        Bytes::from(std::mem::take(&mut self.0))
    }
}

impl From<Vec<u8>> for RequestBody {
    /// Takes ownership of bytes already in memory (benchmarks, tools).
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl Drop for RequestBody {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// Reads the whole request body, refusing more than `limit` bytes and giving up after
/// `deadline`. Trailers are read and dropped: nothing in them is forwarded.
pub async fn collect(
    body: Incoming,
    limit: u64,
    deadline: Duration,
) -> Result<RequestBody, ProxyError> {
    match tokio::time::timeout(deadline, collect_capped(body, limit)).await {
        Ok(result) => result,
        Err(_) => Err(ProxyError::BodyTimeout),
    }
}

async fn collect_capped(mut body: Incoming, limit: u64) -> Result<RequestBody, ProxyError> {
    let hint = body.size_hint().lower().min(limit).min(1 << 20);
    let mut buf = RequestBody(Vec::with_capacity(usize::try_from(hint).unwrap_or(0)));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ProxyError::BodyRead)?;
        if let Ok(data) = frame.into_data() {
            if (buf.0.len() + data.len()) as u64 > limit {
                return Err(ProxyError::BodyTooLarge { limit });
            }
            buf.0.extend_from_slice(&data);
        }
    }
    Ok(buf)
}
