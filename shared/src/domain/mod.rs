//! Pure types and rules: valid by construction, no I/O. This module imports nothing else of
//! the crate (see the layer rule in the README).

pub mod caller;
pub mod email;
pub mod erasure;
pub mod error;
pub mod export;
pub mod feedback;
pub mod idempotency;
pub mod ids;
pub mod json;
pub mod linking;
pub mod listing;
pub mod locale;
pub mod login;
pub mod mail_request;
pub mod message;
pub mod metadata;
pub mod new_user;
pub mod password;
pub mod profile;
pub mod rate_limit;
pub mod render;
pub mod stored_size;
pub mod template;
pub mod tenant;
pub mod throttle;
pub mod ticket;
pub mod time;
pub mod user;
pub mod user_patch;

pub use error::Error;
