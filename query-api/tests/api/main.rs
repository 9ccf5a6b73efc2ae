//! In-process tests of the read API against a small known index.

mod common;
mod hardening;
mod pickup;
mod search;
