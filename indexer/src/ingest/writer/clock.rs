//! Producers' clocks: an event's `ts` is its producer's wall clock, and clocks are wrong
//! (a skewed host, a test event with `"ts":0`). A `ts` far ahead would pin the product at
//! the top of the `newest` sort and make freshness look perfect; one decades behind (an
//! unset clock, `0`) is no date at all. So an implausible `ts` is replaced by the message's
//! Kafka timestamp (the log's own clock) before merging, and counted
//! (`indexer_clock_skew_events_total{direction}`). The Kafka timestamp is in the log, so a
//! rebuild clamps exactly as the live pipeline did (only a message without one falls back
//! to the indexer's clock).
//!
//! A `ts` months or years old is plausible (a backfill publishing records with their
//! last-modified dates) and kept; it is not a change waiting to become searchable, though,
//! so source freshness is measured only for events published within
//! [`MAX_CHANGE_AGE_MS`] of their `ts` ([`is_change`]): a backfill never breaches the
//! freshness objective, while the pipeline latency (Kafka timestamp to searchable) still
//! measures every event.

use crate::telemetry::SkewDirection;

/// How far ahead of its Kafka timestamp an event's `ts` may be (clock drift, batching).
pub const MAX_AHEAD_MS: u64 = 5 * 60 * 1000;
/// How far behind it: decades (a republished old record keeps its `ts` up to this).
pub const MAX_BEHIND_MS: u64 = 20 * 365 * 24 * 3600 * 1000;
/// An event published more than this after its `ts` is a backfill, not a change.
pub const MAX_CHANGE_AGE_MS: u64 = 24 * 3600 * 1000;

/// Whether an event with `ts` published at `kafka_ts_ms` is a change (its source freshness
/// is measured), not a backfill of an old record.
pub fn is_change(ts: u64, kafka_ts_ms: Option<i64>) -> bool {
    match kafka_ts_ms {
        Some(k) if k > 0 => ts.saturating_add(MAX_CHANGE_AGE_MS) >= k as u64,
        _ => true,
    }
}

/// The `ts` to merge an event with: its own, or the reference clock (`kafka_ts_ms`, else
/// `now_ms`) when it is more than [`MAX_AHEAD_MS`] ahead of it or [`MAX_BEHIND_MS`] behind.
pub fn plausible_ts(
    ts: u64,
    kafka_ts_ms: Option<i64>,
    now_ms: impl FnOnce() -> u64,
) -> (u64, Option<SkewDirection>) {
    let reference = match kafka_ts_ms {
        Some(k) if k > 0 => k as u64,
        _ => now_ms(),
    };
    if ts > reference.saturating_add(MAX_AHEAD_MS) {
        (reference, Some(SkewDirection::future))
    } else if ts.saturating_add(MAX_BEHIND_MS) < reference {
        (reference, Some(SkewDirection::past))
    } else {
        (ts, None)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const K: i64 = 1_764_201_900_000;

    #[test]
    fn plausible_timestamps_are_kept_and_implausible_ones_clamped_to_the_log() {
        let k = K as u64;
        assert_eq!(plausible_ts(k - 1_000, Some(K), || 0), (k - 1_000, None));
        assert_eq!(
            plausible_ts(k + MAX_AHEAD_MS, Some(K), || 0),
            (k + MAX_AHEAD_MS, None)
        );
        assert_eq!(
            plausible_ts(k + MAX_AHEAD_MS + 1, Some(K), || 0),
            (k, Some(SkewDirection::future))
        );
        assert_eq!(
            plausible_ts(0, Some(K), || 0),
            (k, Some(SkewDirection::past)),
            "the old banner's \"ts\":0"
        );
        assert_eq!(
            plausible_ts(u64::MAX, Some(K), || 0),
            (k, Some(SkewDirection::future))
        );
        assert_eq!(
            plausible_ts(0, None, || k),
            (k, Some(SkewDirection::past)),
            "no Kafka timestamp: the indexer's clock"
        );
        assert_eq!(plausible_ts(k, Some(-1), || k + 7), (k, None));
        let two_years = 2 * 365 * 24 * 3600 * 1000;
        assert_eq!(
            plausible_ts(k - two_years, Some(K), || 0),
            (k - two_years, None),
            "a backfilled record keeps its date"
        );
    }

    #[test]
    fn only_events_published_within_a_day_of_their_ts_are_changes() {
        let k = K as u64;
        assert!(is_change(k - 1_000, Some(K)));
        assert!(is_change(k - MAX_CHANGE_AGE_MS, Some(K)));
        assert!(!is_change(k - MAX_CHANGE_AGE_MS - 1, Some(K)), "a backfill");
        assert!(is_change(0, None), "unknown: measured");
    }

    proptest! {
        /// The result is always within the bounds around the reference, and clamping is
        /// idempotent (a rebuild that clamps again gets the same `ts`).
        #[test]
        fn clamped_timestamps_are_within_bounds_and_stable(ts in any::<u64>(), k in 1i64..i64::MAX / 2) {
            let (out, skew) = plausible_ts(ts, Some(k), || 0);
            let k = k as u64;
            prop_assert!(out <= k + MAX_AHEAD_MS && out + MAX_BEHIND_MS >= k);
            prop_assert_eq!(skew.is_none(), out == ts);
            prop_assert_eq!(plausible_ts(out, Some(k as i64), || 0), (out, None));
        }
    }
}
