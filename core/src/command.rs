//! command (placeholder).
