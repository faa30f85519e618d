//! POSIX shell splitting and quoting (placeholder).

/// Error from [`split`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unbalanced quote")]
pub struct SplitError;

/// Split like a POSIX shell.
pub fn split(s: &str) -> Result<Vec<String>, SplitError> {
    if s.matches('\'').count() % 2 == 1 {
        return Err(SplitError);
    }
    Ok(s.split_whitespace()
        .map(|w| w.trim_matches('\'').to_owned())
        .collect())
}
