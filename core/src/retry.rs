//! retry (placeholder).
