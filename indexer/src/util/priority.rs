//! The CPU priority of ingestion threads, and the core count.

/// Lowers the CPU priority of the calling thread to `nice` (Linux; elsewhere nothing), and
/// so of every thread it starts afterwards: the Kafka consumer, the writer, Tantivy's
/// indexing and merge threads. When searches and ingestion compete for the cores, searches
/// win and ingestion uses the rest, as a search engine's separate search and indexing thread
/// pools do; on an idle machine it changes nothing. Never fails the pipeline: a refusal is
/// logged.
pub fn lower_thread_priority(nice: i32) {
    if nice <= 0 {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid and setpriority have no memory-safety preconditions; with
        // PRIO_PROCESS and a thread id, setpriority changes only that thread.
        let rc = unsafe {
            let tid = libc::gettid() as libc::id_t;
            // Only ever lower: a process already started nicer keeps its own setting.
            if libc::getpriority(libc::PRIO_PROCESS, tid) >= nice {
                return;
            }
            libc::setpriority(libc::PRIO_PROCESS, tid, nice)
        };
        if rc != 0 {
            tracing::warn!(nice, error = %std::io::Error::last_os_error(), "cannot lower the priority of the ingestion threads");
        }
    }
}

/// Cores available to the process (1 when unknown).
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::lower_thread_priority;

    fn current_nice() -> i32 {
        // SAFETY: as in `lower_thread_priority`; getpriority only reads.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }
    }

    #[test]
    fn the_ingestion_priority_applies_to_the_thread_and_the_threads_it_starts() {
        let process = current_nice();
        let (own, child) = std::thread::spawn(|| {
            lower_thread_priority(3);
            let own = current_nice();
            let child = std::thread::spawn(current_nice).join().unwrap();
            (own, child)
        })
        .join()
        .unwrap();
        // Never raised: a process started nicer keeps its niceness.
        assert_eq!(own, process.max(3));
        assert_eq!(child, own);
        // Other threads keep theirs.
        assert_eq!(current_nice(), process);
    }
}
