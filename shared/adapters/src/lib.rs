//! Real adapters behind the ports of `jobs-domain`: DynamoDB stores, the
//! Step Functions starter, the customer-account access (STS, EC2, Route 53,
//! IAM), Secrets Manager, S3, ECS, ECR (release images) and the runner
//! registry's HTTP client.
//!
//! Every AWS client is built from the standard SDK configuration, so
//! endpoints come from `AWS_ENDPOINT_URL` (never from user input).

pub mod aws;
pub mod cloud;
pub mod dynamo;
pub mod ecr;
pub mod ecs;
pub mod logs;
pub mod registry_http;
pub mod s3;
pub mod secrets;
pub mod sfn;
pub mod tables;
