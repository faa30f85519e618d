//! The cluster's state as a change feed over this client (`watch_resources`).

use crate::{Client, Error};
use futures_util::Stream;
use proxmox_proto::models::ClusterResource;
use proxmox_proto::resources::{ChangeFeed, ResourceChange};
use std::collections::VecDeque;
use std::time::Duration;

impl Client {
    /// Watch the cluster's state: an endless `Stream` of the changes between successive
    /// `GET /cluster/resources` snapshots, one every `interval` on the client's runtime (the
    /// first snapshot is the baseline; a failed poll is an `Err` item and the stream goes
    /// on, waiting the interval before the next poll). A state diff: what comes and goes
    /// within one interval is not seen. See `proxmox_proto::resources::ChangeFeed` for what
    /// counts as a change.
    ///
    /// ```no_run
    /// # use proxmox_async::*;
    /// # async fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// use futures_util::StreamExt;
    /// let mut changes = std::pin::pin!(client.watch_resources(std::time::Duration::from_secs(5)));
    /// while let Some(change) = changes.next().await {
    ///     println!("{}", change?);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn watch_resources(
        &self,
        interval: Duration,
    ) -> impl Stream<Item = Result<ResourceChange, Error>> + Send + '_ {
        let state = (ChangeFeed::new(), VecDeque::new(), false);
        futures_util::stream::unfold(
            state,
            move |(mut feed, mut pending, mut polled)| async move {
                loop {
                    if let Some(c) = pending.pop_front() {
                        return Some((Ok(c), (feed, pending, polled)));
                    }
                    if polled {
                        self.sleep(interval).await;
                    }
                    polled = true;
                    // Boxed, so the stream stays small whatever the backend's futures
                    // weigh (surf's are large); one allocation per poll.
                    let poll = Box::pin(self.get::<Vec<ClusterResource>>(("cluster", "resources")));
                    match poll.await {
                        Ok(snapshot) => pending.extend(feed.update(snapshot)),
                        Err(e) => return Some((Err(e), (feed, pending, polled))),
                    }
                }
            },
        )
    }
}
