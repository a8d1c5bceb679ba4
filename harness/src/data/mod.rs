//! The data channel (JSON over HTTP): the harness's push receiver and its
//! client for requests and dispatch input. (Placeholder: being written.)

/// The harness's data channel to one terminal.
pub struct DataChannel {}
