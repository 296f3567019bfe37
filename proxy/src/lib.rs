//! outscope: a self-hosted tokenizing payment edge proxy.
//!
//! Start at [`pipeline::handle`] for the request path and at ARCHITECTURE.md for the map.

pub mod app;
pub mod body;
pub mod cli;
pub mod datakeys;
pub mod demo;
pub mod errors;
pub mod forward;
pub mod healthcheck;
pub mod lifecycle;
pub mod limits;
pub mod pipeline;
pub mod protect;
pub mod rewrap;
pub mod routing;
pub mod runtime;
pub mod scan;
pub mod secrets;
pub mod server;
pub mod tls;
