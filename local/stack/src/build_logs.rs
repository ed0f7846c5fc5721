//! The local engine's Terraform builds write their output into the
//! emulator's CloudWatch Logs as CodeBuild does on AWS (group
//! `/aws/codebuild/<project>`, a stream per build), so that the job API's
//! log route reads it the same way here and there.

use std::collections::HashSet;
use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use aws_types::SdkConfig;
use sfn_local::BuildLogSink;

pub struct CloudWatchSink {
    client: Client,
    /// Groups and streams created so far.
    created: Mutex<HashSet<String>>,
}

impl CloudWatchSink {
    pub fn new(sdk: &SdkConfig) -> Self {
        CloudWatchSink {
            client: Client::new(sdk),
            created: Mutex::new(HashSet::new()),
        }
    }

    fn first_time(&self, what: String) -> bool {
        self.created
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(what)
    }
}

#[async_trait]
impl BuildLogSink for CloudWatchSink {
    async fn append(&self, group: &str, stream: &str, lines: Vec<String>) {
        if self.first_time(group.to_string()) {
            // An existing group is fine (another stack's, or an earlier build's).
            let _ = self
                .client
                .create_log_group()
                .log_group_name(group)
                .send()
                .await;
        }
        if self.first_time(format!("{group}\n{stream}")) {
            let _ = self
                .client
                .create_log_stream()
                .log_group_name(group)
                .log_stream_name(stream)
                .send()
                .await;
        }
        let now = chrono::Utc::now().timestamp_millis();
        let events: Vec<InputLogEvent> = lines
            .into_iter()
            .filter_map(|line| {
                InputLogEvent::builder()
                    // CloudWatch refuses empty messages.
                    .message(if line.is_empty() {
                        " ".to_string()
                    } else {
                        line
                    })
                    .timestamp(now)
                    .build()
                    .ok()
            })
            .collect();
        if let Err(e) = self
            .client
            .put_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .set_log_events(Some(events))
            .send()
            .await
        {
            tracing::warn!(
                group,
                stream,
                "cannot write the build's log: {}",
                jobs_adapters::aws::source_chain(&e)
            );
        }
    }
}
