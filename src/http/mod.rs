//! HTTP plumbing shared by every module: the envelope, extractor errors, middleware.

pub mod client_addr;
pub mod envelope;
pub mod extractors;
pub mod nul_bytes;
pub mod pagination;
pub mod rate_limit;
pub mod request_id;
pub mod security;
pub mod validation;
