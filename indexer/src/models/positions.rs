//! Positions in the log: per topic-partition, the next offset to consume.

use std::collections::BTreeMap;
use std::fmt;

/// One partition of one topic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    /// The topic's name.
    pub topic: String,
    /// The partition's number.
    pub partition: i32,
}

impl TopicPartition {
    /// The partition `partition` of `topic`.
    pub fn new(topic: impl Into<String>, partition: i32) -> TopicPartition {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl<T: Into<String>> From<(T, i32)> for TopicPartition {
    fn from((topic, partition): (T, i32)) -> TopicPartition {
        TopicPartition::new(topic, partition)
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.topic, self.partition)
    }
}

/// Where one record is in the log.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordAt {
    /// Its topic-partition.
    pub partition: TopicPartition,
    /// Its offset.
    pub offset: i64,
}

impl RecordAt {
    /// The record at `offset` of `partition`.
    pub fn new(partition: TopicPartition, offset: i64) -> RecordAt {
        RecordAt { partition, offset }
    }
}

impl fmt::Display for RecordAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} partition {} offset {}",
            self.partition.topic, self.partition.partition, self.offset
        )
    }
}

/// The next offset to consume of every topic-partition a stage knows (the offset after the
/// last record it processed, valid or not). What an index commit stores, what a pipeline
/// resumes from, what a rebuild chases.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Positions(BTreeMap<TopicPartition, i64>);

impl Positions {
    /// No positions: every partition starts from its earliest offset.
    pub fn new() -> Positions {
        Positions::default()
    }

    /// The next offset of `partition`, if known.
    pub fn get(&self, partition: &TopicPartition) -> Option<i64> {
        self.0.get(partition).copied()
    }

    /// Sets the next offset of `partition`.
    pub fn insert(&mut self, partition: impl Into<TopicPartition>, next_offset: i64) {
        self.0.insert(partition.into(), next_offset);
    }

    /// Whether `partition` has a position.
    pub fn contains(&self, partition: &TopicPartition) -> bool {
        self.0.contains_key(partition)
    }

    /// Every partition with its next offset, in topic then partition order.
    pub fn iter(&self) -> impl Iterator<Item = (&TopicPartition, i64)> + '_ {
        self.0.iter().map(|(k, &v)| (k, v))
    }

    /// How many partitions have a position.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no partition has a position.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Records these positions lack to reach `target`, summed over `target`'s partitions
    /// (being ahead on one partition does not make up for another).
    pub fn behind(&self, target: &Positions) -> i64 {
        target
            .iter()
            .map(|(k, t)| (t - self.get(k).unwrap_or(0)).max(0))
            .sum()
    }

    /// These positions, none past its `floor` (partitions without one are kept as they
    /// are): what a commit may store when records from a floor on are not settled yet.
    pub fn capped(&self, floors: &Positions) -> Positions {
        self.iter()
            .map(|(k, v)| (k.clone(), floors.get(k).map_or(v, |f| v.min(f))))
            .collect()
    }
}

impl<K: Into<TopicPartition>> FromIterator<(K, i64)> for Positions {
    fn from_iter<I: IntoIterator<Item = (K, i64)>>(iter: I) -> Positions {
        Positions(iter.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_ordered_by_topic_then_partition() {
        let p: Positions = [(("b", 0), 1), (("a", 2), 2), (("a", 1), 3)]
            .into_iter()
            .collect();
        let order: Vec<String> = p.iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(order, ["a[1]", "a[2]", "b[0]"]);
    }

    #[test]
    fn capped_positions_never_pass_their_floor() {
        let p: Positions = [(("a", 0), 10), (("a", 1), 5), (("b", 0), 7)]
            .into_iter()
            .collect();
        let floors: Positions = [(("a", 0), 4), (("a", 1), 9), (("c", 0), 1)]
            .into_iter()
            .collect();
        let capped = p.capped(&floors);
        assert_eq!(capped.get(&("a", 0).into()), Some(4), "held at the floor");
        assert_eq!(capped.get(&("a", 1).into()), Some(5), "already below it");
        assert_eq!(capped.get(&("b", 0).into()), Some(7), "no floor");
        assert!(!capped.contains(&("c", 0).into()), "floors add nothing");
    }
}
