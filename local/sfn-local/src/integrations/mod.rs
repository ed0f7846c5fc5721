//! Task integrations: what a Task state's `Resource` runs. The engine picks
//! the first registered [`TaskIntegration`] that accepts the Resource ARN; a
//! Resource nobody accepts fails the execution with a message naming it.

pub mod codebuild;
pub mod lambda;

use async_trait::async_trait;
use serde_json::Value;

use crate::error::StatesError;

/// What a task is being run for (used in names, logs and build ids).
#[derive(Debug, Clone)]
pub struct TaskContext {
    pub execution_arn: String,
    pub execution_name: String,
    pub state_name: String,
}

/// Runs Task states for the Resource ARNs it accepts.
///
/// Contract: `run` performs one attempt (Retry is the engine's job) and
/// answers the task's raw result, or the error the state's Retry/Catch
/// match on, named as AWS names it (e.g. the Lambda function's `errorType`,
/// `Lambda.ServiceException`, `States.TaskFailed`). Dropping the future
/// cancels the task (timeouts, StopExecution).
#[async_trait]
pub trait TaskIntegration: Send + Sync {
    fn accepts(&self, resource: &str) -> bool;
    async fn run(
        &self,
        resource: &str,
        parameters: Value,
        ctx: &TaskContext,
    ) -> Result<Value, StatesError>;
}

/// How history events name a Resource: `(resourceType, resource)`, e.g.
/// `arn:aws:states:::lambda:invoke` → `("lambda", "invoke")`.
pub fn event_names(resource: &str) -> (String, String) {
    let service_part = resource
        .strip_prefix("arn:aws:states:::")
        .or_else(|| resource.strip_prefix("arn:aws-us-gov:states:::"))
        .or_else(|| resource.strip_prefix("arn:aws-cn:states:::"));
    match service_part {
        Some(rest) => match rest.rsplit_once(':') {
            Some((kind, api)) => (kind.to_string(), api.to_string()),
            None => (rest.to_string(), String::new()),
        },
        None => ("unknown".to_string(), resource.to_string()),
    }
}

/// Whether the Resource is a plain Lambda function ARN (the older form that
/// passes the effective input and returns the bare output).
pub fn is_function_arn(resource: &str) -> bool {
    resource.starts_with("arn:") && resource.contains(":lambda:") && resource.contains(":function:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_follow_the_arn() {
        assert_eq!(
            event_names("arn:aws:states:::lambda:invoke"),
            ("lambda".into(), "invoke".into())
        );
        assert_eq!(
            event_names("arn:aws:states:::codebuild:startBuild.sync"),
            ("codebuild".into(), "startBuild.sync".into())
        );
        assert_eq!(
            event_names("arn:aws:states:::aws-sdk:ec2:describeVpcs"),
            ("aws-sdk:ec2".into(), "describeVpcs".into())
        );
        assert!(is_function_arn(
            "arn:aws:lambda:us-east-1:123456789012:function:f"
        ));
        assert!(!is_function_arn("arn:aws:states:::lambda:invoke"));
    }
}
