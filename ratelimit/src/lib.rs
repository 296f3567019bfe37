//! Placeholder until the rate limiter lands.
