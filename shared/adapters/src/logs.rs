//! The Terraform builds' output in CloudWatch Logs (`GetLogEvents` from the
//! stream's head), where CodeBuild writes it on AWS and the local Step
//! Functions engine writes it locally.

use async_trait::async_trait;
use aws_sdk_cloudwatchlogs::Client;
use jobs_domain::ports::{BuildLogs, LogPage, PortResult};
use jobs_domain::{ErrorKind, StepError};

use crate::aws::{classify, error_code};

pub struct CloudWatchBuildLogs {
    client: Client,
}

impl CloudWatchBuildLogs {
    pub fn new(client: Client) -> Self {
        CloudWatchBuildLogs { client }
    }

    pub fn from_sdk(sdk: &aws_types::SdkConfig) -> Self {
        Self::new(Client::new(sdk))
    }
}

/// `GetLogEvents` may answer empty pages before the end of a stream; this
/// many are skipped before a page counts as "nothing more yet".
const EMPTY_PAGES_SKIPPED: usize = 5;

#[async_trait]
impl BuildLogs for CloudWatchBuildLogs {
    async fn page(
        &self,
        group: &str,
        stream: &str,
        token: Option<&str>,
        limit: usize,
    ) -> PortResult<LogPage> {
        let mut token = token.filter(|t| !t.is_empty()).map(str::to_string);
        for _ in 0..EMPTY_PAGES_SKIPPED {
            let answer = self
                .client
                .get_log_events()
                .log_group_name(group)
                .log_stream_name(stream)
                .start_from_head(true)
                .limit(limit.clamp(1, 10_000) as i32)
                .set_next_token(token.clone())
                .send()
                .await;
            let out = match answer {
                Ok(out) => out,
                // Not written yet: the build has not logged anything.
                Err(e) if error_code(&e) == Some("ResourceNotFoundException") => {
                    return Ok(LogPage {
                        lines: Vec::new(),
                        next_token: token.unwrap_or_default(),
                    });
                }
                Err(e) if error_code(&e) == Some("InvalidParameterException") => {
                    return Err(StepError::new(
                        ErrorKind::InvalidInput,
                        format!(
                            "the log token is not one this API gave: {}",
                            crate::aws::source_chain(&e)
                        ),
                    ));
                }
                Err(e) => return Err(classify(&format!("reading the log {group} {stream}"), e)),
            };
            let lines: Vec<String> = out
                .events
                .unwrap_or_default()
                .into_iter()
                .filter_map(|e| e.message)
                .map(|m| m.trim_end_matches(['\n', '\r']).to_string())
                .collect();
            let next = out.next_forward_token;
            let same = next.is_none() || next == token;
            if !lines.is_empty() || same {
                return Ok(LogPage {
                    lines,
                    next_token: next.or(token).unwrap_or_default(),
                });
            }
            token = next;
        }
        Ok(LogPage {
            lines: Vec::new(),
            next_token: token.unwrap_or_default(),
        })
    }
}
