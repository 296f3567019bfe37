//! A request body that wipes itself: JSON carrying plaintexts, secret ids or KV values.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Buf;
use hyper::body::{Body, Frame, SizeHint};
use zeroize::Zeroizing;

/// One buffer sent as a single frame, zeroized when hyper drops it.
pub(crate) struct SecretBody(Option<Zeroizing<Vec<u8>>>);

impl SecretBody {
    pub(crate) fn new(bytes: Option<Zeroizing<Vec<u8>>>) -> Self {
        Self(bytes.filter(|b| !b.is_empty()))
    }
}

impl Body for SecretBody {
    type Data = SecretChunk;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<SecretChunk>, Infallible>>> {
        let chunk = self.get_mut().0.take();
        Poll::Ready(chunk.map(|bytes| Ok(Frame::data(SecretChunk { bytes, at: 0 }))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0.as_ref().map_or(0, |b| b.len() as u64))
    }
}

/// The body's bytes as hyper reads them.
pub(crate) struct SecretChunk {
    bytes: Zeroizing<Vec<u8>>,
    at: usize,
}

impl Buf for SecretChunk {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn chunk(&self) -> &[u8] {
        &self.bytes[self.at..]
    }

    fn advance(&mut self, cnt: usize) {
        self.at = (self.at + cnt).min(self.bytes.len());
    }
}
