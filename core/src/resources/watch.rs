//! [`ResourceWatch`]: a [`ChangeFeed`] polled by a blocking client, as an iterator.

use super::{ChangeFeed, ResourceChange};
use crate::models::ClusterResource;
use std::collections::VecDeque;
use std::time::Duration;

/// An endless iterator of [`ResourceChange`]s: it takes a snapshot with `poll` (the first is
/// the baseline), and before every later one waits `interval` with `sleep`. A failed poll is
/// yielded as an error and the iteration can go on (the next poll waits the interval too, so
/// a down server is not hammered); the feed keeps its last good snapshot. Stop by dropping
/// it (or `take_while`, `take`, ...).
///
/// The blocking clients' `watch_resources(interval)` build one over their `get` and
/// `std::thread::sleep`; here over canned snapshots:
///
/// ```
/// use proxmox_proto::models::ClusterResource;
/// use proxmox_proto::resources::{ResourceChange, ResourceWatch};
/// use std::time::Duration;
///
/// let mut snapshots = vec![
///     r#"[{"id":"qemu/100","type":"qemu","vmid":100,"node":"pve1","status":"stopped"}]"#,
///     r#"[{"id":"qemu/100","type":"qemu","vmid":100,"node":"pve1","status":"running"}]"#,
/// ]
/// .into_iter();
/// let mut slept = Vec::new();
/// let watch = ResourceWatch::new(
///     Duration::from_secs(2),
///     || match snapshots.next() {
///         Some(json) => Ok(serde_json::from_str::<Vec<ClusterResource>>(json).unwrap()),
///         None => Err("no more snapshots"),
///     },
///     |d| slept.push(d),
/// );
/// let seen: Vec<Result<String, &str>> = watch.take(2).map(|c| c.map(|c| c.to_string())).collect();
/// assert_eq!(seen, [Ok("qemu/100 stopped -> running".to_owned()), Err("no more snapshots")]);
/// assert_eq!(slept, [Duration::from_secs(2), Duration::from_secs(2)]);
/// ```
pub struct ResourceWatch<P, S> {
    feed: ChangeFeed,
    poll: P,
    sleep: S,
    interval: Duration,
    pending: VecDeque<ResourceChange>,
    polled: bool,
}

impl<P, S> std::fmt::Debug for ResourceWatch<P, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceWatch")
            .field("interval", &self.interval)
            .field("resources", &self.feed.len())
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl<P, S, E> ResourceWatch<P, S>
where
    P: FnMut() -> Result<Vec<ClusterResource>, E>,
    S: FnMut(Duration),
{
    /// A watch that polls with `poll` every `interval`, waiting with `sleep`.
    pub fn new(interval: Duration, poll: P, sleep: S) -> Self {
        Self {
            feed: ChangeFeed::new(),
            poll,
            sleep,
            interval,
            pending: VecDeque::new(),
            polled: false,
        }
    }

    /// The feed (the last good snapshot).
    pub fn feed(&self) -> &ChangeFeed {
        &self.feed
    }

    /// One poll (after waiting the interval, unless it is the first): the changes it found
    /// (none for the baseline, or when nothing changed), ahead of any the iterator has not
    /// handed out yet. For callers that want control back every interval, which the iterator
    /// gives only when something changed.
    pub fn next_batch(&mut self) -> Result<Vec<ResourceChange>, E> {
        if self.polled {
            (self.sleep)(self.interval);
        }
        self.polled = true;
        let snapshot = (self.poll)()?;
        let mut out: Vec<ResourceChange> = self.pending.drain(..).collect();
        out.extend(self.feed.update(snapshot));
        Ok(out)
    }
}

impl<P, S, E> Iterator for ResourceWatch<P, S>
where
    P: FnMut() -> Result<Vec<ClusterResource>, E>,
    S: FnMut(Duration),
{
    type Item = Result<ResourceChange, E>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(c) = self.pending.pop_front() {
                return Some(Ok(c));
            }
            if self.polled {
                (self.sleep)(self.interval);
            }
            self.polled = true;
            match (self.poll)() {
                Ok(snapshot) => self.pending.extend(self.feed.update(snapshot)),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}
