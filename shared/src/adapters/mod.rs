//! Implementations of the domain's ports.

pub mod argon;
pub mod dynamo;
pub mod ses;
