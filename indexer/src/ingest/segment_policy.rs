//! Which segments Tantivy merges, for an index where documents are replaced all the time.
//!
//! # Why not Tantivy's `LogMergePolicy`
//!
//! Every price or stock change re-indexes its product: the old version is deleted, a new one
//! lands in the newest segment. In the ingestion benchmark a quarter of the catalog changes
//! every second, so every segment loses a quarter of its documents per second and a segment
//! two minutes old holds almost nothing alive. `LogMergePolicy` with a deleted-documents
//! threshold rewrites a whole size level as soon as one of its segments passes the
//! threshold: under that churn it rewrote the large, still mostly alive segments over and
//! over (merge threads used a quarter of the indexer's CPU).
//!
//! # This policy
//!
//! Merging costs about the number of *alive* documents rewritten; fully deleted segments are
//! dropped by Tantivy for free. So (like Lucene's `TieredMergePolicy`, simplified):
//!
//! 1. **Segment count**: above `max_segments`, the segments with the fewest alive documents
//!    are merged, at least `merge_width` at a time (so merges come in groups, and sizes grow
//!    geometrically for an index that only grows). Under churn those are the old, mostly dead
//!    segments: cheap to rewrite.
//! 2. **Deleted documents**: when deleted documents exceed `deletes_ratio` of all documents
//!    (alive + deleted, which searches walk), the segments with the highest deleted share are
//!    rewritten, most deleted first, until the index would be back at half the threshold.
//!    Again the old, mostly dead segments go first; a large young segment is rewritten only
//!    once deletes have piled up in it.
//!
//! The two groups never share a segment. Tantivy only offers segments that no running merge
//! holds, and calls the policy after every commit and every finished merge.

use tantivy::index::SegmentMeta;
use tantivy::indexer::{MergeCandidate, MergePolicy};

/// Alive and deleted documents of one segment: all the policy looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentStats {
    pub alive: u32,
    pub deleted: u32,
}

impl SegmentStats {
    fn total(self) -> u64 {
        u64::from(self.alive) + u64::from(self.deleted)
    }

    fn deleted_share(self) -> f64 {
        if self.total() == 0 {
            0.0
        } else {
            f64::from(self.deleted) / self.total() as f64
        }
    }
}

#[derive(Debug, Clone)]
pub struct UpdateHeavyMergePolicy {
    /// Above this many segments, the smallest are merged.
    pub max_segments: usize,
    /// Segments merged at once by the count rule, at least.
    pub merge_width: usize,
    /// Deleted share of the index above which deletes are reclaimed.
    pub deletes_ratio: f32,
}

impl UpdateHeavyMergePolicy {
    /// The merges to start, as groups of indexes into `segments`.
    pub fn plan(&self, segments: &[SegmentStats]) -> Vec<Vec<usize>> {
        let mut plan = Vec::new();
        let mut by_alive: Vec<usize> = (0..segments.len()).collect();
        by_alive.sort_by_key(|&i| (segments[i].alive, std::cmp::Reverse(segments[i].deleted)));
        let mut taken = vec![false; segments.len()];

        // 1. Segment count.
        let max_segments = self.max_segments.max(1);
        if segments.len() > max_segments {
            let width = (segments.len() - max_segments + 1)
                .max(self.merge_width.max(2))
                .min(segments.len());
            let group: Vec<usize> = by_alive[..width].to_vec();
            for &i in &group {
                taken[i] = true;
            }
            plan.push(group);
        }

        // 2. Deleted documents.
        let total: u64 = segments.iter().map(|s| s.total()).sum();
        let deleted: u64 = segments.iter().map(|s| u64::from(s.deleted)).sum();
        let ratio = f64::from(self.deletes_ratio);
        if total > 0 && deleted as f64 > ratio * total as f64 {
            // Reclaim down to half the threshold (hysteresis: not one small merge per commit):
            // every merged segment takes its deleted documents out of the total too.
            let target = ratio / 2.0;
            let mut by_share: Vec<usize> = (0..segments.len())
                .filter(|&i| !taken[i] && segments[i].deleted > 0)
                .collect();
            by_share.sort_by(|&a, &b| {
                segments[b]
                    .deleted_share()
                    .total_cmp(&segments[a].deleted_share())
            });
            let mut left = deleted as f64;
            let mut remaining = total as f64;
            let mut group = Vec::new();
            for i in by_share {
                if left <= target * remaining {
                    break;
                }
                left -= f64::from(segments[i].deleted);
                remaining -= f64::from(segments[i].deleted);
                group.push(i);
            }
            if !group.is_empty() {
                plan.push(group);
            }
        }
        plan
    }
}

impl MergePolicy for UpdateHeavyMergePolicy {
    fn compute_merge_candidates(&self, segments: &[SegmentMeta]) -> Vec<MergeCandidate> {
        let stats: Vec<SegmentStats> = segments
            .iter()
            .map(|s| SegmentStats {
                alive: s.num_docs(),
                deleted: s.num_deleted_docs(),
            })
            .collect();
        self.plan(&stats)
            .into_iter()
            .map(|group| MergeCandidate(group.into_iter().map(|i| segments[i].id()).collect()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy() -> UpdateHeavyMergePolicy {
        UpdateHeavyMergePolicy {
            max_segments: 8,
            merge_width: 4,
            deletes_ratio: 0.3,
        }
    }

    fn seg(alive: u32, deleted: u32) -> SegmentStats {
        SegmentStats { alive, deleted }
    }

    #[test]
    fn few_segments_with_few_deletes_are_left_alone() {
        let segments = vec![seg(100_000, 1_000), seg(20_000, 500), seg(5_000, 0)];
        assert!(policy().plan(&segments).is_empty());
    }

    #[test]
    fn too_many_segments_merge_the_smallest_at_least_merge_width_at_a_time() {
        let mut segments: Vec<SegmentStats> = (1..=9).map(|n| seg(n * 1_000, 0)).collect();
        segments.reverse();
        let plan = policy().plan(&segments);
        assert_eq!(plan.len(), 1);
        let mut alive: Vec<u32> = plan[0].iter().map(|&i| segments[i].alive).collect();
        alive.sort();
        assert_eq!(alive, vec![1_000, 2_000, 3_000, 4_000]);
    }

    #[test]
    fn far_too_many_segments_merge_enough_to_get_back_under_the_bound() {
        let segments: Vec<SegmentStats> = (0..20).map(|n| seg(1_000 + n, 0)).collect();
        let plan = policy().plan(&segments);
        assert_eq!(plan[0].len(), 13);
        assert_eq!(segments.len() - plan[0].len() + 1, 8);
    }

    #[test]
    fn deletes_over_the_ratio_reclaim_the_most_deleted_segments_first() {
        // 45% deleted overall; the old, mostly dead segment goes first, the large young one
        // (10% deleted) is not rewritten.
        let segments = vec![seg(90_000, 10_000), seg(2_000, 60_000), seg(8_000, 20_000)];
        let plan = policy().plan(&segments);
        assert_eq!(plan, vec![vec![1, 2]]);
    }

    #[test]
    fn regression_segments_with_few_deletes_are_not_rewritten_with_the_others() {
        // Tantivy's LogMergePolicy merged this whole size level because one segment passed
        // the deletes threshold.
        let segments = vec![seg(60_000, 32_000), seg(40_000, 1_000), seg(500, 12_000)];
        let plan = policy().plan(&segments);
        assert_eq!(plan, vec![vec![2, 0]]);
        let rewritten: u32 = plan[0].iter().map(|&i| segments[i].alive).sum();
        assert!(rewritten < 100_000);
        assert!(!plan[0].contains(&1));
    }

    #[test]
    fn an_index_without_documents_plans_nothing() {
        assert!(policy().plan(&[]).is_empty());
        assert!(policy().plan(&[seg(0, 0)]).is_empty());
    }

    /// Replays random update-heavy traffic (each step a new segment, then deletes spread over
    /// the alive documents), applying every planned merge at once.
    fn simulate(policy: &UpdateHeavyMergePolicy, steps: &[(u32, u32)]) -> (usize, f64) {
        let mut segments: Vec<SegmentStats> = Vec::new();
        let mut worst_count = 0;
        let mut worst_deleted: f64 = 0.0;
        for &(added, deleted_per_mille) in steps {
            for s in segments.iter_mut() {
                let gone = (u64::from(s.alive) * u64::from(deleted_per_mille) / 1000) as u32;
                s.alive -= gone;
                s.deleted += gone;
            }
            segments.retain(|s| s.alive > 0);
            segments.push(seg(added, 0));
            let plan = policy.plan(&segments);
            let mut taken = vec![false; segments.len()];
            let mut merged = Vec::new();
            for group in &plan {
                let mut alive = 0;
                for &i in group {
                    assert!(!taken[i], "a segment in two merges");
                    taken[i] = true;
                    alive += segments[i].alive;
                }
                merged.push(seg(alive, 0));
            }
            let mut next: Vec<SegmentStats> = segments
                .iter()
                .zip(&taken)
                .filter(|(_, t)| !**t)
                .map(|(s, _)| *s)
                .collect();
            next.extend(merged.into_iter().filter(|s| s.alive > 0));
            segments = next;
            worst_count = worst_count.max(segments.len());
            let total: u64 = segments.iter().map(|s| s.total()).sum();
            let deleted: u64 = segments.iter().map(|s| u64::from(s.deleted)).sum();
            if total > 0 {
                worst_deleted = worst_deleted.max(deleted as f64 / total as f64);
            }
        }
        (worst_count, worst_deleted)
    }

    proptest! {
        #[test]
        fn segment_count_and_deleted_share_stay_bounded(
            steps in proptest::collection::vec((1u32..50_000, 0u32..500), 1..200)
        ) {
            let policy = policy();
            let (count, deleted) = simulate(&policy, &steps);
            // After each step's merges: at most max_segments (merge results included).
            prop_assert!(count <= policy.max_segments, "{count} segments");
            // Reclaim happens at the threshold; nothing deleted after merges can exceed it.
            prop_assert!(deleted <= f64::from(policy.deletes_ratio) + 1e-9, "{deleted}");
        }
    }
}
