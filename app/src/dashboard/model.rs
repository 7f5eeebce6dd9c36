//! The types the browser sees of dashboard. None of them carries a secret.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayCount {
    /// YYYY-MM-DD (UTC).
    pub day: String,
    pub inbound: i64,
    pub outbound: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeCount {
    pub code: Option<i64>,
    pub meaning: String,
    pub count: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dashboard {
    /// The last 14 days, oldest first.
    pub days: Vec<DayCount>,
    /// From a guest's message to the agent's reply, over the same days.
    pub median_reply_ms: Option<i64>,
    pub replies_measured: i64,
    pub failures: Vec<CodeCount>,
    pub rejections: Vec<CodeCount>,
    /// Connector name and health label, and whether it is healthy.
    pub connectors: Vec<(String, String, bool)>,
    /// How long messages are kept, in days (`None`: until deleted), and how many agents keep
    /// theirs for a period of their own.
    pub retention_days: Option<i64>,
    pub agents_with_own_period: i64,
}
