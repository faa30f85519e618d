//! Fan-out over many items (guests, nodes) with a bound on how many run at once.

use crate::Client;
use futures_util::StreamExt;
use std::future::Future;

/// Run `f` over every item, at most `limit` at once (at least 1); results in input order.
///
/// Requests made inside `f` through one [`Client`] are bounded by the client's own in-flight
/// limit as well, so `limit` mainly bounds the work (and memory) in progress.
pub async fn map_concurrent<I, F, Fut, T>(items: I, limit: usize, f: F) -> Vec<T>
where
    I: IntoIterator,
    F: FnMut(I::Item) -> Fut,
    Fut: Future<Output = T>,
{
    futures_util::stream::iter(items)
        .map(f)
        .buffered(limit.max(1))
        .collect()
        .await
}

impl Client {
    /// [`map_concurrent`] with this client's in-flight limit.
    pub async fn map_concurrent<I, F, Fut, T>(&self, items: I, f: F) -> Vec<T>
    where
        I: IntoIterator,
        F: FnMut(I::Item) -> Fut,
        Fut: Future<Output = T>,
    {
        map_concurrent(items, self.max_in_flight(), f).await
    }
}
