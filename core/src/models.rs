//! models (placeholder).
