//! The cluster's state as a change feed over this client (`watch_resources`).

use crate::{Client, Error};
use proxmox_proto::models::ClusterResource;
use proxmox_proto::resources::{ChangeFeed, ResourceChange};
use std::collections::VecDeque;
use std::time::Duration;

/// The changes between successive `/cluster/resources` snapshots (see
/// [`Client::watch_resources`]); `next().await` yields them one by one, forever.
#[derive(Debug)]
pub struct ResourceStream<'a> {
    client: &'a Client,
    interval: Duration,
    feed: ChangeFeed,
    pending: VecDeque<ResourceChange>,
    polled: bool,
}

impl ResourceStream<'_> {
    /// The next change (polling every interval until there is one), or the error of a poll
    /// that failed (the stream goes on: the next poll waits the interval). Never `None`.
    pub async fn next(&mut self) -> Option<Result<ResourceChange, Error>> {
        loop {
            if let Some(c) = self.pending.pop_front() {
                return Some(Ok(c));
            }
            if self.polled {
                crate::sys::sleep(self.interval).await;
            }
            match self.poll_now().await {
                Ok(changes) => self.pending.extend(changes),
                Err(e) => return Some(Err(e)),
            }
        }
    }

    /// One poll now, without waiting the interval: the changes it found (none for the
    /// baseline, or when nothing changed).
    pub async fn poll_now(&mut self) -> Result<Vec<ResourceChange>, Error> {
        self.polled = true;
        let snapshot = self
            .client
            .get::<Vec<ClusterResource>>(("cluster", "resources"))
            .await?;
        Ok(self.feed.update(snapshot))
    }

    /// The interval between polls.
    pub fn interval(&self) -> Duration {
        self.interval
    }
}

impl Client {
    /// Watch the cluster's state: the changes between successive `GET /cluster/resources`
    /// snapshots, one every `interval` on the event loop (the first snapshot is the baseline).
    /// A state diff: what comes and goes within one interval is not seen. See
    /// `proxmox_proto::resources::ChangeFeed` for what counts as a change. JavaScript:
    /// `client.watchResources(intervalMs, onChange, onError)`.
    ///
    /// ```no_run
    /// # use proxmox_wasm::*;
    /// # async fn example(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut changes = client.watch_resources(std::time::Duration::from_secs(5));
    /// while let Some(change) = changes.next().await {
    ///     println!("{}", change?);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn watch_resources(&self, interval: Duration) -> ResourceStream<'_> {
        ResourceStream {
            client: self,
            interval,
            feed: ChangeFeed::new(),
            pending: VecDeque::new(),
            polled: false,
        }
    }
}
