//! Why the writer commits.

use prometheus_client::encoding::{EncodeLabelValue, LabelValueEncoder};

/// Why a commit happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommitTrigger {
    /// `commit_interval` has passed and there are changes.
    Interval,
    /// The number of changed products reached `max_docs_per_commit`.
    DocBudget,
    /// The changed products' state reached `max_pending_mb`.
    MemoryBudget,
    /// The process is stopping (SIGTERM, Ctrl-C) or the pipeline is being handed over.
    Shutdown,
}

impl CommitTrigger {
    /// Every trigger.
    pub const ALL: [CommitTrigger; 4] = [
        CommitTrigger::Interval,
        CommitTrigger::DocBudget,
        CommitTrigger::MemoryBudget,
        CommitTrigger::Shutdown,
    ];

    /// The trigger's name, as in the `trigger` label of `indexer_commits_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            CommitTrigger::Interval => "interval",
            CommitTrigger::DocBudget => "doc_budget",
            CommitTrigger::MemoryBudget => "memory_budget",
            CommitTrigger::Shutdown => "shutdown",
        }
    }
}

impl EncodeLabelValue for CommitTrigger {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.as_str())
    }
}
