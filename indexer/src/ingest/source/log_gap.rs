//! Log gaps: a stored offset the log no longer has (issue #14 item 5).
//!
//! The index stores, with each commit, the next offset of every partition. On start the
//! source resumes there, so when retention deleted records past that offset while the
//! indexer was down (the offset is below the log start), or the topic was deleted and
//! recreated (the offset is past the log end), librdkafka's `auto.offset.reset` would jump
//! to the earliest offset **silently**: products changed by the lost records would stay
//! stale forever. So the source asks for the partition's watermarks before assigning a
//! resumed partition, and a gap is never skipped silently: it is counted
//! (`indexer_offset_resets_total{topic,partition,reason}`), shown in `/status`
//! (`kafka.log_gaps`) and, unless accepted, as the ingestion problem `log_gap`, and handled
//! by `--on-log-gap`:
//! - `fail` (default): the partition is not consumed (the others are); the message names it
//!   and the fix, `indexer reindex --force`. Nothing is committed past the gap.
//! - `rebuild`: the same, and a forced online reindex starts (the new index replays what
//!   the log still has; the pipeline restarts on it, past the gap).
//! - `continue`: consume from the log start, accepting the loss (logged at WARN).
//!
//! The same holds while running: retention can overtake a consumer that lags (or a topic
//! be recreated under it). `auto.offset.reset` is `error`, so librdkafka reports the
//! out-of-range fetch instead of jumping to the log start, and the source checks its
//! partitions against their log bounds and handles a gap the same way (reason `truncated`
//! or `beyond_end`; `fail` stops consuming that partition).
//!
//! Not detected: a topic recreated and refilled past the stored offset (Kafka keeps no
//! epoch we could compare without leader-epoch support in the stored positions).

use std::str::FromStr;

use crate::telemetry::GapReason;

/// What to do with a log gap (`--on-log-gap`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogGapPolicy {
    /// Hold the partition and say how to fix it.
    #[default]
    Fail,
    /// Hold the partition and start a forced reindex.
    Rebuild,
    /// Consume from the log start, accepting the loss.
    Continue,
}

impl FromStr for LogGapPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<LogGapPolicy, String> {
        match s.trim() {
            "fail" => Ok(LogGapPolicy::Fail),
            "rebuild" => Ok(LogGapPolicy::Rebuild),
            "continue" => Ok(LogGapPolicy::Continue),
            other => Err(format!("expected fail, rebuild or continue, got {other:?}")),
        }
    }
}

/// Whether resuming at `stored` (the next offset to read) skips records, given the
/// partition's log start `low` and end `high` (the next offset to be written).
pub fn classify(stored: i64, low: i64, high: i64) -> Option<GapReason> {
    if stored < low {
        Some(GapReason::Truncated)
    } else if stored > high {
        Some(GapReason::BeyondEnd)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn offsets_within_the_log_are_no_gap() {
        assert_eq!(classify(0, 0, 0), None, "empty topic");
        assert_eq!(classify(5, 0, 10), None);
        assert_eq!(
            classify(10, 0, 10),
            None,
            "caught up: the next offset is the end"
        );
        assert_eq!(classify(8, 8, 10), None, "at the log start");
    }

    #[test]
    fn offsets_outside_the_log_are_gaps() {
        assert_eq!(classify(1, 8, 70), Some(GapReason::Truncated));
        assert_eq!(classify(50, 0, 3), Some(GapReason::BeyondEnd));
    }

    #[test]
    fn policies_parse_and_default_to_fail() {
        assert_eq!(LogGapPolicy::default(), LogGapPolicy::Fail);
        for (s, p) in [
            ("fail", LogGapPolicy::Fail),
            ("rebuild", LogGapPolicy::Rebuild),
            ("continue", LogGapPolicy::Continue),
        ] {
            assert_eq!(s.parse::<LogGapPolicy>(), Ok(p));
        }
        assert!("skip".parse::<LogGapPolicy>().unwrap_err().contains("fail"));
    }

    proptest! {
        /// Independent model: a gap exactly when some offset between the stored one and the
        /// first readable one is not in the log `[low, high)`.
        #[test]
        fn a_gap_is_reported_exactly_when_records_would_be_skipped(
            low in 0i64..100, len in 0i64..100, stored in 0i64..300,
        ) {
            let high = low + len;
            let skipped_below = (stored..low).count() > 0;
            let beyond = stored > high;
            let expected = match (skipped_below, beyond) {
                (true, _) => Some(GapReason::Truncated),
                (false, true) => Some(GapReason::BeyondEnd),
                _ => None,
            };
            prop_assert_eq!(classify(stored, low, high), expected);
        }
    }
}
