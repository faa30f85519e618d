//! upload (placeholder).
