//! response (placeholder).
