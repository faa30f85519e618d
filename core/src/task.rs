//! task (placeholder).
