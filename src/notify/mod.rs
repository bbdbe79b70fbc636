//! Server-alerted notifications (placeholder).
