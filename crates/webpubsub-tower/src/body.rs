//! The response body: the layer's own answers, or the inner service's body untouched.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use pin_project_lite::pin_project;

pin_project! {
    /// The body of a [`WebPubSubService`](crate::WebPubSubService) response: the layer's own
    /// answer (an event response or a rejection), or the inner service's body untouched.
    #[derive(Debug)]
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    #[derive(Debug)]
    enum Kind<B> {
        Handled { #[pin] body: Full<Bytes> },
        Inner { #[pin] body: B },
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn handled(body: Full<Bytes>) -> Self {
        Self {
            kind: Kind::Handled { body },
        }
    }

    pub(crate) fn inner(body: B) -> Self {
        Self {
            kind: Kind::Inner { body },
        }
    }
}

/// An empty handled body, for middleware that builds its own responses around the layer (such as
/// tower-http's `Timeout`).
impl<B> Default for ResponseBody<B> {
    fn default() -> Self {
        Self::handled(Full::default())
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Handled { body } => body.poll_frame(cx).map_err(|err| match err {}),
            KindProj::Inner { body } => body.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Handled { body } => body.is_end_stream(),
            Kind::Inner { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Handled { body } => body.size_hint(),
            Kind::Inner { body } => body.size_hint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    #[tokio::test]
    async fn both_variants_stream_their_bytes() {
        let handled: ResponseBody<Full<Bytes>> = ResponseBody::handled(Full::from("a"));
        assert_eq!(handled.size_hint().exact(), Some(1));
        assert_eq!(handled.collect().await.unwrap().to_bytes(), "a");
        let inner = ResponseBody::inner(Full::from("bc"));
        assert!(!inner.is_end_stream());
        assert_eq!(inner.collect().await.unwrap().to_bytes(), "bc");
        let empty = ResponseBody::<Full<Bytes>>::default();
        assert!(empty.is_end_stream());
    }
}
