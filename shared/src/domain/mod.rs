//! The domain: types that are valid by construction, the rules, the ports and the operations.

pub mod auth;
pub mod create;
pub mod email;
pub mod erasure;
pub mod error;
pub mod export;
pub mod flows;
pub mod ids;
pub mod json;
pub mod linking;
pub mod listing;
pub mod login;
pub mod mail;
pub mod metadata;
pub mod ops;
pub mod password;
pub mod patch;
pub mod ports;
pub mod profile;
pub mod render;
pub mod ticket;
pub mod time;
pub mod user;

pub use error::Error;
