//! loose (placeholder).
