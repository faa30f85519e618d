//! checksum (placeholder).
