//! Time as flows see it: a monotonic instant and the wall clock, both passed in.

use std::fmt;
use std::ops::Add;
use std::time::Duration;

/// A point on the adapter's monotonic clock: the time since an origin the adapter picks (for
/// example the moment the client was built). Deadlines, backoff and leases are measured on it;
/// it never jumps when the wall clock is set.
///
/// The core never reads a clock: `std::time::Instant` cannot be created in a browser, so the
/// adapter converts its own monotonic clock to this value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MonoTime(Duration);

impl MonoTime {
    /// The origin.
    pub const ZERO: Self = Self(Duration::ZERO);

    /// This long after the origin.
    pub const fn from_duration(since_origin: Duration) -> Self {
        Self(since_origin)
    }

    /// The time since the origin.
    pub const fn as_duration(self) -> Duration {
        self.0
    }

    /// How long from `earlier` to `self` (zero when `earlier` is later).
    pub fn since(self, earlier: MonoTime) -> Duration {
        self.0.saturating_sub(earlier.0)
    }

    /// How long from `self` until `later` (zero when `later` has passed).
    pub fn until(self, later: MonoTime) -> Duration {
        later.0.saturating_sub(self.0)
    }
}

impl Add<Duration> for MonoTime {
    type Output = MonoTime;
    /// Saturating: a far deadline stays far instead of wrapping.
    fn add(self, d: Duration) -> MonoTime {
        MonoTime(self.0.saturating_add(d))
    }
}

impl fmt::Display for MonoTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// "Now" on both clocks, as every `poll` takes it: the monotonic instant for deadlines and
/// backoff, the wall-clock time (since the Unix epoch) for tickets, whose validity the server
/// decides by its own clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// The monotonic instant.
    pub mono: MonoTime,
    /// The wall-clock time since the Unix epoch.
    pub wall: Duration,
}

impl Now {
    /// Both clocks.
    pub const fn new(mono: MonoTime, wall: Duration) -> Self {
        Self { mono, wall }
    }
}

/// A monotonic clock for adapters on runtimes with `std::time::Instant`: [`MonoTime`] since the
/// moment it was made. Not available in a browser (use `performance.now()` there).
#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
#[derive(Clone, Copy, Debug)]
pub struct MonoClock {
    origin: std::time::Instant,
}

#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
impl MonoClock {
    /// A clock whose origin is the instant given (an adapter passes the current instant; the core
    /// itself never reads the clock).
    pub fn starting_at(origin: std::time::Instant) -> Self {
        Self { origin }
    }

    /// The [`MonoTime`] of an instant.
    pub fn at(&self, instant: std::time::Instant) -> MonoTime {
        MonoTime(instant.saturating_duration_since(self.origin))
    }

    /// The instant of a [`MonoTime`].
    pub fn instant(&self, t: MonoTime) -> std::time::Instant {
        self.origin + t.0
    }
}
