//! Integration tests: every operation against moto, through the same gateway and handlers
//! that `make dev` serves and Lambda runs.

mod access;
mod auth0;
mod browser;
mod credentials;
mod email;
mod erasure;
mod events;
mod faults;
mod feedback;
mod idempotency;
mod isolation;
mod linking;
mod listing;
mod malformed;
mod metadata;
mod openapi;
mod operations;
mod rate_limits;
mod receipts;
mod reset_page;
mod restore;
mod runtime;
mod sdk;
mod server;
mod settings;
mod store_contract;
mod support;
mod template;
mod throttle;
mod unblock;
mod users;
mod validation;
