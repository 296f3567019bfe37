//! `init_logging` installs the global subscriber once (its own test binary: global state).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use outscope_telemetry::{LogFormat, LoggingError, init_logging};

#[test]
fn init_logging_installs_once_then_reports_already_initialised() {
    assert!(matches!(
        init_logging("not a level!!", LogFormat::Json),
        Err(LoggingError::InvalidLevel { .. })
    ));
    let handle = init_logging("info", LogFormat::Json).unwrap();
    handle.set_level("warn").unwrap();
    assert!(matches!(
        init_logging("info", LogFormat::Text),
        Err(LoggingError::AlreadyInitialised)
    ));
}
