//! The converged IP messaging (CPM) message storage on top of the store: the OMA DS data
//! objects that carry folders, files and messages (`objects`), and the operations the service
//! performs on a user's storage (`service`). Devices sync the same items through the engine;
//! the service API (`server::api`) exposes `service` over HTTP.

pub mod objects;
pub mod service;
