//! The converged IP messaging (CPM) message storage on top of the store: the OMA DS data
//! objects that carry folders, files and messages (`objects`), their field-level changes
//! (`fields`: a message's states without its body), and the operations the service performs on
//! a user's storage (`service`), reduced forms for limited devices (`shape`: truncation,
//! details plus link; `vfields`: field filters over vCard/iCalendar) and the signed links to whole objects (`link`). Devices sync the same
//! items through the engine; the service API (`server::api`) exposes `service` over HTTP.

pub mod fields;
pub mod link;
pub mod objects;
pub mod service;
pub mod shape;
pub mod vfields;
