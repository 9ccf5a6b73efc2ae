//! The last 15 minutes of operating figures, sampled every 5 seconds, for the dashboard
//! (`GET /status/history`): freshness percentiles (re-indexed changes, and the live path's
//! price and stock changes shown in place), events per second by outcome, lag per partition,
//! index size.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::telemetry::{CounterSnapshot, Freshness, Status};
use crate::util::{lock, now_ms};

/// Time between two points.
pub const INTERVAL: Duration = Duration::from_secs(5);
/// Points kept (15 minutes).
const KEEP: usize = 180;
/// Freshness percentiles of a point cover this much time before it (smoother than 5 s).
const FRESHNESS_WINDOW: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EventRates {
    pub applied: f64,
    pub stale: f64,
    pub invalid: f64,
    pub dlq: f64,
}

/// One sample.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Point {
    /// Epoch milliseconds.
    pub t: u64,
    /// Source freshness (event `ts` to searchable) over the last 30 s; `null` without
    /// changes in that time.
    pub freshness_p50_ms: Option<u64>,
    pub freshness_p95_ms: Option<u64>,
    pub freshness_p99_ms: Option<u64>,
    /// Source freshness of the live path (price and stock shown in place, issue #15) over
    /// the last 30 s; `null` without such changes in that time.
    pub live_freshness_p50_ms: Option<u64>,
    pub live_freshness_p99_ms: Option<u64>,
    /// Pipeline latency (Kafka timestamp to searchable) p99 over the last 30 s.
    pub latency_p99_ms: Option<u64>,
    pub events_per_s: EventRates,
    /// Lag per `topic/partition`.
    pub lag: BTreeMap<String, i64>,
    pub total_lag: i64,
    pub docs: u64,
    pub segments: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryResponse {
    pub interval_s: u64,
    pub points: Vec<Point>,
}

#[derive(Debug, Default)]
pub struct History {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    points: VecDeque<Point>,
    previous: Option<(Instant, CounterSnapshot)>,
}

impl History {
    /// Takes one sample of `status`.
    pub fn sample(&self, status: &Status) {
        let now = Instant::now();
        let counters = status.counters.snapshot();
        let source = Freshness::window(&status.freshness.source, now, FRESHNESS_WINDOW);
        let latency = Freshness::window(&status.freshness.pipeline, now, FRESHNESS_WINDOW);
        let live = Freshness::window(&status.freshness_live.source, now, FRESHNESS_WINDOW);
        let partitions = status.partitions();
        let index = status.index();
        let mut inner = lock(&self.inner);
        let rate = |f: fn(&CounterSnapshot) -> u64| match &inner.previous {
            Some((at, before)) => {
                let dt = now.duration_since(*at).as_secs_f64();
                if dt > 0.0 {
                    f(&counters).saturating_sub(f(before)) as f64 / dt
                } else {
                    0.0
                }
            }
            None => 0.0,
        };
        let point = Point {
            t: now_ms(),
            freshness_p50_ms: source.map(|p| p.p50_ms),
            freshness_p95_ms: source.map(|p| p.p95_ms),
            freshness_p99_ms: source.map(|p| p.p99_ms),
            live_freshness_p50_ms: live.map(|p| p.p50_ms),
            live_freshness_p99_ms: live.map(|p| p.p99_ms),
            latency_p99_ms: latency.map(|p| p.p99_ms),
            events_per_s: EventRates {
                applied: rate(|c| c.applied),
                stale: rate(|c| c.stale),
                invalid: rate(|c| c.invalid),
                dlq: rate(|c| c.dlq),
            },
            total_lag: partitions.iter().filter_map(|p| p.lag).sum(),
            lag: partitions
                .into_iter()
                .filter_map(|p| Some((format!("{}/{}", p.topic, p.partition), p.lag?)))
                .collect(),
            docs: index.docs,
            segments: index.segments,
        };
        inner.previous = Some((now, counters));
        inner.points.push_back(point);
        while inner.points.len() > KEEP {
            inner.points.pop_front();
        }
    }

    pub fn response(&self) -> HistoryResponse {
        HistoryResponse {
            interval_s: INTERVAL.as_secs(),
            points: lock(&self.inner).points.iter().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn samples_rates_lag_and_keeps_fifteen_minutes() {
        let status = Status::new("b".into(), true, "g".into(), Duration::from_secs(5));
        status.add_partition("t", 0, 0);
        status.set_watermarks("t", 0, 0, 40);
        let history = History::default();
        history.sample(&status);
        status.counters.applied.fetch_add(100, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(20));
        history.sample(&status);
        let r = history.response();
        assert_eq!(r.points.len(), 2);
        assert_eq!(
            r.points[0].events_per_s.applied, 0.0,
            "no rate without a previous sample"
        );
        assert!(r.points[1].events_per_s.applied > 0.0);
        assert_eq!(r.points[1].lag["t/0"], 40);
        assert_eq!(r.points[1].total_lag, 40);
        for _ in 0..KEEP + 10 {
            history.sample(&status);
        }
        assert_eq!(history.response().points.len(), KEEP);
    }

    #[test]
    fn each_freshness_path_has_its_own_series() {
        let status = Status::new("b".into(), true, "g".into(), Duration::from_secs(5));
        let history = History::default();
        status
            .freshness_live
            .record(Instant::now(), [(Some(7), Some(5)), (Some(9), Some(6))]);
        history.sample(&status);
        let point = &history.response().points[0];
        assert_eq!(point.live_freshness_p99_ms, Some(9));
        assert_eq!(point.live_freshness_p50_ms, Some(7));
        assert_eq!(point.freshness_p99_ms, None, "no re-indexed change");
        status
            .freshness
            .record(Instant::now(), [(Some(1500), Some(1400))]);
        history.sample(&status);
        let point = &history.response().points[1];
        let p99 = point.freshness_p99_ms.unwrap_or(0);
        assert!((1490..=1510).contains(&p99), "{p99} (histogram precision)");
        assert_eq!(point.live_freshness_p99_ms, Some(9));
    }
}
