//! The request builders shared by several resources: sends and closes. Which options a builder
//! offers depends on its target, as in the REST API: `excluded` for sends to the hub or a group
//! and for closes of the hub, a group or a user; `filter` for sends to the hub, a group or a
//! user; `messageTtlSeconds` for every send.

use std::{future::IntoFuture, marker::PhantomData};

use crate::{
    WebPubSubServiceClient,
    request::{Described, ResponseFuture},
};

/// The targets of sends and closes, as type parameters of [`SendRequest`] and [`CloseRequest`].
pub mod target {
    /// Every connection of the hub.
    #[derive(Debug)]
    pub enum Hub {}
    /// The connections in a group.
    #[derive(Debug)]
    pub enum Group {}
    /// The connections of a user.
    #[derive(Debug)]
    pub enum User {}
    /// One connection.
    #[derive(Debug)]
    pub enum Connection {}

    /// Targets whose sends take `excluded` connection ids.
    pub trait ExcludableSend: sealed::Sealed {}
    /// Targets whose closes take `excluded` connection ids.
    pub trait ExcludableClose: sealed::Sealed {}
    /// Targets whose sends take an OData `filter`.
    pub trait Filterable: sealed::Sealed {}

    impl ExcludableSend for Hub {}
    impl ExcludableSend for Group {}
    impl ExcludableClose for Hub {}
    impl ExcludableClose for Group {}
    impl ExcludableClose for User {}
    impl Filterable for Hub {}
    impl Filterable for Group {}
    impl Filterable for User {}

    mod sealed {
        #[allow(unreachable_pub)] // the sealed-trait pattern: nameable by no one outside
        pub trait Sealed {}
        impl Sealed for super::Hub {}
        impl Sealed for super::Group {}
        impl Sealed for super::User {}
        impl Sealed for super::Connection {}
    }
}

/// Adds `excluded` parameters to a described request.
fn exclude<I, S>(described: &mut Described, connection_ids: I)
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    if let Ok(spec) = described {
        spec.params("excluded", connection_ids);
    }
}

/// A send to the hub, a group, a user or a connection; `.await` it. The options offered depend
/// on the [`target`], as in the REST API.
///
/// ```no_run
/// # async fn run(client: webpubsub_rest::WebPubSubServiceClient) -> Result<(), webpubsub_rest::Error> {
/// use webpubsub_protocol::filter::Filter;
///
/// client
///     .send_to_group("room1", "hello")
///     .excluded(["conn1", "conn2"])
///     .filter(Filter::user_id().ne("bot"))
///     .message_ttl_seconds(30)
///     .await?;
/// # Ok(()) }
/// ```
#[must_use = "a send does nothing unless awaited"]
#[derive(Debug)]
pub struct SendRequest<'a, T> {
    client: &'a WebPubSubServiceClient,
    described: Described,
    _target: PhantomData<fn() -> T>,
}

impl<'a, T> SendRequest<'a, T> {
    pub(crate) fn new(client: &'a WebPubSubServiceClient, described: Described) -> Self {
        Self {
            client,
            described,
            _target: PhantomData,
        }
    }

    /// Drop the message if a client has not received it within `seconds` (0, the default,
    /// never expires; the service allows at most 300).
    pub fn message_ttl_seconds(mut self, seconds: u32) -> Self {
        if let Ok(spec) = &mut self.described {
            spec.param("messageTtlSeconds", seconds.to_string());
        }
        self
    }
}

impl<T: target::ExcludableSend> SendRequest<'_, T> {
    /// Do not send to these connections. Can be called more than once.
    pub fn excluded<I, S>(mut self, connection_ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        exclude(&mut self.described, connection_ids);
        self
    }
}

impl<T: target::Filterable> SendRequest<'_, T> {
    /// Send only to the connections that match this OData filter (build one with
    /// [`Filter`](webpubsub_protocol::filter::Filter), which escapes values).
    pub fn filter(mut self, filter: impl Into<String>) -> Self {
        if let Ok(spec) = &mut self.described {
            spec.param("filter", filter);
        }
        self
    }
}

impl<'a, T> IntoFuture for SendRequest<'a, T> {
    type Output = Result<(), crate::Error>;
    type IntoFuture = ResponseFuture<'a, ()>;

    fn into_future(self) -> Self::IntoFuture {
        self.client.run_unit(self.described)
    }
}

/// A close of the connections of the hub, a group, a user, or of one connection; `.await` it.
///
/// ```no_run
/// # async fn run(client: webpubsub_rest::WebPubSubServiceClient) -> Result<(), webpubsub_rest::Error> {
/// client.close_user_connections("mallory").reason("banned").excluded(["conn7"]).await?;
/// # Ok(()) }
/// ```
#[must_use = "a close does nothing unless awaited"]
#[derive(Debug)]
pub struct CloseRequest<'a, T> {
    client: &'a WebPubSubServiceClient,
    described: Described,
    _target: PhantomData<fn() -> T>,
}

impl<'a, T> CloseRequest<'a, T> {
    pub(crate) fn new(client: &'a WebPubSubServiceClient, described: Described) -> Self {
        Self {
            client,
            described,
            _target: PhantomData,
        }
    }

    /// The reason given to the closed clients.
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        if let Ok(spec) = &mut self.described {
            spec.param("reason", reason);
        }
        self
    }
}

impl<T: target::ExcludableClose> CloseRequest<'_, T> {
    /// Keep these connections open. Can be called more than once.
    pub fn excluded<I, S>(mut self, connection_ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        exclude(&mut self.described, connection_ids);
        self
    }
}

impl<'a, T> IntoFuture for CloseRequest<'a, T> {
    type Output = Result<(), crate::Error>;
    type IntoFuture = ResponseFuture<'a, ()>;

    fn into_future(self) -> Self::IntoFuture {
        self.client.run_unit(self.described)
    }
}
