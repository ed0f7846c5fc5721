//! Build logs in memory, as CloudWatch Logs keeps them: streams of lines
//! per group, read from the head in pages whose token is where the next
//! page starts (a page with no lines: nothing more is written yet).

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use jobs_domain::StepError;
use jobs_domain::ports::{BuildLogs, LogPage, PortResult};

use crate::{Faults, lock};

#[derive(Default)]
pub struct MemoryBuildLogs {
    streams: Mutex<HashMap<(String, String), Vec<String>>>,
    pub faults: Faults,
}

impl MemoryBuildLogs {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends lines to a stream, as a running build does.
    pub fn append(&self, group: &str, stream: &str, lines: &[&str]) {
        lock(&self.streams)
            .entry((group.to_string(), stream.to_string()))
            .or_default()
            .extend(lines.iter().map(|l| l.to_string()));
    }
}

#[async_trait]
impl BuildLogs for MemoryBuildLogs {
    async fn page(
        &self,
        group: &str,
        stream: &str,
        token: Option<&str>,
        limit: usize,
    ) -> PortResult<LogPage> {
        self.faults.check("page")?;
        let from = match token {
            None => 0,
            Some(t) => t
                .strip_prefix("f/")
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| StepError::invalid(format!("{t:?} is not a log token")))?,
        };
        let streams = lock(&self.streams);
        let all = streams
            .get(&(group.to_string(), stream.to_string()))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let from = from.min(all.len());
        let to = (from + limit).min(all.len());
        Ok(LogPage {
            lines: all[from..to].to_vec(),
            next_token: format!("f/{to}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pages_read_every_line_once_then_what_is_written_later() {
        let logs = MemoryBuildLogs::new();
        let lines: Vec<String> = (0..25).map(|i| format!("line {i}")).collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        logs.append("g", "s", &refs);
        let mut read = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = logs.page("g", "s", token.as_deref(), 10).await.unwrap();
            if page.lines.is_empty() {
                break;
            }
            read.extend(page.lines);
            token = Some(page.next_token);
        }
        assert_eq!(read, lines);
        logs.append("g", "s", &["later"]);
        let page = logs.page("g", "s", token.as_deref(), 10).await.unwrap();
        assert_eq!(page.lines, vec!["later".to_string()]);
        assert!(logs.page("g", "s", Some("nope"), 10).await.is_err());
        assert!(
            logs.page("g", "other", None, 10)
                .await
                .unwrap()
                .lines
                .is_empty()
        );
    }
}
