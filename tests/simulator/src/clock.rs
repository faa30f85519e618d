//! The simulated clock.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How the simulated clock moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockMode {
    /// Only [`SimClock::advance`] moves the clock (deterministic tests).
    Manual,
    /// The clock also follows real elapsed time (for the binary and interactive use).
    Realtime,
}

#[derive(Debug)]
struct Inner {
    base: Duration,
    offset: Duration,
    started: Instant,
    mode: ClockMode,
}

/// Simulated time since the Unix epoch, shared by everything in one simulator.
///
/// Tickets, CSRF tokens and task progress use this clock only.
#[derive(Debug, Clone)]
pub struct SimClock {
    inner: Arc<Mutex<Inner>>,
}

impl SimClock {
    pub(crate) fn new(base: Duration, mode: ClockMode) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                base,
                offset: Duration::ZERO,
                started: Instant::now(),
                mode,
            })),
        }
    }

    /// The current simulated time since the Unix epoch.
    pub fn now(&self) -> Duration {
        let g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let real = match g.mode {
            ClockMode::Manual => Duration::ZERO,
            ClockMode::Realtime => g.started.elapsed(),
        };
        g.base + g.offset + real
    }

    /// The current simulated time in whole seconds since the Unix epoch.
    pub fn now_secs(&self) -> u64 {
        self.now().as_secs()
    }

    /// Move the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        g.offset += by;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_only_moves_when_advanced() {
        let c = SimClock::new(Duration::from_secs(1000), ClockMode::Manual);
        assert_eq!(c.now_secs(), 1000);
        c.advance(Duration::from_secs(7200));
        assert_eq!(c.now_secs(), 8200);
    }
}
