//! The URLs of a request, parsed once per path and query: parsing a URL (scheme, host, port,
//! path, query) costs more than the rest of what the client adds to a request, and sends mostly
//! repeat a few targets (a hub, a group). Each target also keeps the last token signed for it.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use reqwest::Url;

use crate::auth::TokenSlot;

/// What a request is signed for and where it goes.
#[derive(Debug)]
pub(crate) struct RequestUrls {
    /// The service URL: the token's audience.
    pub(crate) service: Url,
    /// The reverse proxy's URL, if one is set.
    proxy: Option<Url>,
    /// The last token signed for `service`.
    pub(crate) token: TokenSlot,
}

impl RequestUrls {
    pub(crate) fn new(service: Url, proxy: Option<Url>) -> Self {
        Self {
            service,
            proxy,
            token: TokenSlot::default(),
        }
    }

    /// Where the request is sent.
    pub(crate) fn target(&self) -> &Url {
        self.proxy.as_ref().unwrap_or(&self.service)
    }
}

/// The [`RequestUrls`] of recent requests, by path and query.
///
/// Bounded in entries and in key length, so that neither many targets nor long queries (a
/// filter, thousands of `excluded` ids) grow it: when full it starts over, and a long path and
/// query is parsed every time, as one-off requests are anyway.
#[derive(Debug, Default)]
pub(crate) struct UrlCache {
    entries: Mutex<HashMap<String, Arc<RequestUrls>>>,
}

const MAX_ENTRIES: usize = 256;
const MAX_KEY_LEN: usize = 512;

impl UrlCache {
    pub(crate) fn get(&self, path_and_query: &str) -> Option<Arc<RequestUrls>> {
        self.lock().get(path_and_query).cloned()
    }

    /// Keeps `urls` for `path_and_query` if it is short enough; returns `urls`.
    pub(crate) fn insert(&self, path_and_query: String, urls: RequestUrls) -> Arc<RequestUrls> {
        let urls = Arc::new(urls);
        if path_and_query.len() <= MAX_KEY_LEN {
            let mut entries = self.lock();
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(path_and_query, urls.clone());
        }
        urls
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<RequestUrls>>> {
        // The map is only read or written whole under the lock: a panic cannot leave it torn.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(path: &str) -> RequestUrls {
        RequestUrls::new(Url::parse(&format!("http://h{path}")).unwrap(), None)
    }

    #[test]
    fn entries_and_key_lengths_are_bounded() {
        let cache = UrlCache::default();
        let first = cache.insert("/a".into(), urls("/a"));
        assert!(Arc::ptr_eq(&cache.get("/a").unwrap(), &first));
        assert!(cache.get("/b").is_none());
        for i in 0..MAX_ENTRIES {
            cache.insert(format!("/{i}"), urls(&format!("/{i}")));
        }
        assert!(cache.lock().len() <= MAX_ENTRIES);
        let long = format!("/{}", "x".repeat(MAX_KEY_LEN));
        let parsed = cache.insert(long.clone(), urls(&long));
        assert_eq!(parsed.target().path(), long);
        assert!(cache.get(&long).is_none());
    }

    #[test]
    fn the_target_is_the_proxy_if_set() {
        let service = Url::parse("http://svc/api").unwrap();
        let proxy = Url::parse("http://proxy/api").unwrap();
        assert_eq!(RequestUrls::new(service.clone(), None).target(), &service);
        assert_eq!(
            RequestUrls::new(service, Some(proxy.clone())).target(),
            &proxy
        );
    }
}
