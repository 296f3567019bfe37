//! Structured request bodies for outscope's inspection phase: a span-preserving JSON
//! parser, the JSONPath subset that names card objects, form-urlencoded pairs, and a
//! byte-exact splicer. Pure: no I/O, no async, no logging. Nothing here decides whether
//! bytes are a card number: that is `outscope-scanner`'s job.

pub mod form;
pub mod json;
pub mod jsonpath;
pub mod multipart;
pub mod splice;
