//! request (placeholder).
