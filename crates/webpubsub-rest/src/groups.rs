//! Operations on a group: send, close, exists, and the paged list of its connections.

use std::{
    collections::VecDeque,
    fmt,
    pin::Pin,
    task::{Context, Poll},
};

use futures_core::Stream;
use http::Method;
use reqwest::Url;
use serde::Deserialize;

use crate::{
    Error, Message, WebPubSubServiceClient,
    operation::{CloseRequest, SendRequest, target},
    request::{Described, Name, ResponseFuture, Spec},
};

impl WebPubSubServiceClient {
    /// Sends `message` to the connections in `group` (`POST /api/hubs/{hub}/groups/{group}/:send`).
    pub fn send_to_group(
        &self,
        group: &str,
        message: impl Into<Message>,
    ) -> SendRequest<'_, target::Group> {
        let message = message.into();
        let described = self.send_spec("send_to_group", self.group_path(group, "/:send"), message);
        SendRequest::new(self, described)
    }

    /// Closes the connections in `group` (`POST /api/hubs/{hub}/groups/{group}/:closeConnections`).
    pub fn close_group_connections(&self, group: &str) -> CloseRequest<'_, target::Group> {
        let described = Spec::at(
            "close_group_connections",
            Method::POST,
            self.group_path(group, "/:closeConnections"),
        );
        CloseRequest::new(self, described)
    }

    /// Whether `group` has at least one connection (`HEAD /api/hubs/{hub}/groups/{group}`).
    pub fn group_exists(&self, group: &str) -> ResponseFuture<'_, bool> {
        let described = Spec::at("group_exists", Method::HEAD, self.group_path(group, ""));
        self.run_exists(described)
    }

    /// The connections in `group`, as a stream that fetches pages as it is read
    /// (`GET /api/hubs/{hub}/groups/{group}/connections`, then each `nextLink`).
    ///
    /// ```no_run
    /// # async fn run(client: webpubsub_rest::WebPubSubServiceClient) -> Result<(), webpubsub_rest::Error> {
    /// use futures_util::TryStreamExt;
    ///
    /// let members: Vec<_> = client.list_connections_in_group("room1").max_page_size(100).into_stream().try_collect().await?;
    /// # Ok(()) }
    /// ```
    pub fn list_connections_in_group(&self, group: &str) -> ListConnections<'_> {
        let described = Spec::at(
            "list_connections_in_group",
            Method::GET,
            self.group_path(group, "/connections"),
        );
        ListConnections {
            client: self,
            described,
        }
    }

    /// `/api/hubs/{hub}/groups/{group}` + `rest`, with the group checked and encoded.
    pub(crate) fn group_path(&self, group: &str, rest: &str) -> Result<String, Error> {
        self.name_path(Name::Group, group, rest)
    }
}

/// A connection in a group.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct GroupMember {
    /// The connection id.
    pub connection_id: String,
    /// The user of the connection, if it has one.
    pub user_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    value: Vec<GroupMember>,
    next_link: Option<String>,
}

/// The listing of a group's connections; set its options, then read it with
/// [`into_stream`](Self::into_stream).
#[must_use]
#[derive(Debug)]
pub struct ListConnections<'a> {
    client: &'a WebPubSubServiceClient,
    described: Described,
}

impl<'a> ListConnections<'a> {
    /// At most this many connections per page (the service allows 1 to 200).
    pub fn max_page_size(mut self, size: u32) -> Self {
        if let Ok(spec) = &mut self.described {
            spec.param("maxpagesize", size.to_string());
        }
        self
    }

    /// At most this many connections in total.
    pub fn top(mut self, count: u32) -> Self {
        if let Ok(spec) = &mut self.described {
            spec.param("top", count.to_string());
        }
        self
    }

    /// The connections, fetched one page at a time as the stream is read. The first error
    /// ends the stream.
    pub fn into_stream(self) -> GroupMembers<'a> {
        let state = Pager {
            client: self.client,
            next: Some(self.described),
            buffered: VecDeque::new(),
        };
        let stream = futures_util::stream::unfold(state, Pager::next_item);
        GroupMembers {
            inner: Box::pin(stream),
        }
    }
}

/// The stream of [`ListConnections::into_stream`].
pub struct GroupMembers<'a> {
    inner: Pin<Box<dyn Stream<Item = Result<GroupMember, Error>> + Send + 'a>>,
}

impl fmt::Debug for GroupMembers<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GroupMembers")
    }
}

impl Stream for GroupMembers<'_> {
    type Item = Result<GroupMember, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

struct Pager<'a> {
    client: &'a WebPubSubServiceClient,
    /// The request for the next page; `None` once the last page was fetched or an error ended
    /// the stream.
    next: Option<Described>,
    buffered: VecDeque<GroupMember>,
}

impl<'a> Pager<'a> {
    async fn next_item(mut self) -> Option<(Result<GroupMember, Error>, Self)> {
        loop {
            if let Some(member) = self.buffered.pop_front() {
                return Some((Ok(member), self));
            }
            let described = self.next.take()?;
            let page = self.client.run(described, |answer| {
                let body = answer?.body;
                serde_json::from_slice::<Page>(&body).map_err(|e| {
                    Error::decode("the page of group members is not valid json").with_source(e)
                })
            });
            match page.await {
                Ok(page) => {
                    self.next = page.next_link.map(|link| next_page(&link));
                    self.buffered.extend(page.value);
                }
                Err(error) => return Some((Err(error), self)),
            }
        }
    }
}

/// The request for a `nextLink`: its path and query, sent to this client's endpoint (the link
/// may name an internal host) with this client's api-version.
fn next_page(link: &str) -> Described {
    let invalid = || {
        Error::decode(format!(
            "the next page link {link:?} is not a url of this hub"
        ))
    };
    let url = Url::parse(link)
        .or_else(|_| Url::parse("http://service.invalid")?.join(link))
        .map_err(|e| invalid().with_source(e))?;
    if !url.path().starts_with("/api/hubs/") {
        return Err(invalid());
    }
    let mut spec = Spec::new(
        "list_connections_in_group",
        Method::GET,
        url.path().to_owned(),
    );
    for (key, value) in url.query_pairs() {
        if key != "api-version" {
            spec.query
                .push((key.into_owned().into(), value.into_owned()));
        }
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Half the links start like real ones, so that the accepted branch is exercised too.
        #[test]
        fn any_next_link_is_handled_without_panicking(
            link in "((https?://[a-z.]{1,10})?/api/hubs/)?\\PC{0,80}"
        ) {
            if let Ok(spec) = next_page(&link) {
                proptest::prop_assert!(spec.path.starts_with("/api/hubs/"), "{:?}", spec.path);
                proptest::prop_assert!(spec.query.iter().all(|(key, _)| key != "api-version"));
            }
        }
    }

    #[test]
    fn next_links_keep_path_and_query_but_not_host_or_version() {
        let spec = next_page(
            "https://internal/api/hubs/h/groups/g%2F1/connections?top=1000&maxpagesize=200&continuationToken=a%2Bb&api-version=1",
        )
        .unwrap();
        assert_eq!(spec.path, "/api/hubs/h/groups/g%2F1/connections");
        assert_eq!(
            spec.path_and_query("2024-12-01"),
            "/api/hubs/h/groups/g%2F1/connections?api-version=2024-12-01&top=1000&maxpagesize=200&continuationToken=a%2Bb"
        );
        // Relative links work too; links elsewhere are refused.
        assert!(next_page("/api/hubs/h/groups/g/connections?continuationToken=x").is_ok());
        assert!(next_page("https://evil/steal").unwrap_err().is_decode());
    }
}
