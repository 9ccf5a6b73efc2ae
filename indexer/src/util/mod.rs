//! Small helpers every folder may use, and nothing else of the crate: the wall clock
//! ([`now_ms`]), a poison-tolerant lock ([`lock`]) and the CPU priority of the ingestion
//! threads ([`lower_thread_priority`]). Imports nothing of the crate.

mod priority;
mod sync;
mod time;

pub use priority::{available_cores, lower_thread_priority};
pub use sync::lock;
pub use time::now_ms;
