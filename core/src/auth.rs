//! Authentication (placeholder).

/// Authentication errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Placeholder.
    #[error("second factor required")]
    SecondFactorRequired,
}
