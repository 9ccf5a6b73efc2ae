//! Small helpers every folder may use, and nothing else of the crate: the wall clock
//! ([`now_ms`]), a poison-tolerant lock ([`lock`]), the CPU priority of the ingestion
//! threads ([`lower_thread_priority`]), caught panics ([`panic::catch`]) and disk space
//! ([`disk`]). Imports nothing of the crate.

pub mod disk;
pub mod panic;
mod priority;
mod sync;
mod time;

pub use priority::{available_cores, lower_thread_priority};
pub use sync::lock;
pub use time::now_ms;
