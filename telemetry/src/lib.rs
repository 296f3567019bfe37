//! Placeholder until telemetry lands.
