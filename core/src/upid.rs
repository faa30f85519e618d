//! UPIDs (placeholder; replaced by the task-module work).
use std::fmt;

/// A task id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upid(String);

impl fmt::Display for Upid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
