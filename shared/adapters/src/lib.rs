//! Real adapters behind the ports of `jobs-domain`: DynamoDB stores, the
//! Step Functions starter, the customer-account access (AWS: STS, EC2,
//! Route 53, IAM; Google Cloud and Azure over their REST APIs, chosen per
//! identity by [`providers`]), Secrets Manager, S3, ECS, ECR (release
//! images) and the runner registry's HTTP client.
//!
//! Every AWS client is built from the standard SDK configuration, so
//! endpoints come from `AWS_ENDPOINT_URL`; the Google and Azure endpoints
//! come from the operator's configuration. None comes from user input.

pub mod aws;
pub mod azure;
pub mod cloud;
pub mod dynamo;
pub mod ecr;
pub mod ecs;
pub mod gcp;
pub mod logs;
pub mod providers;
pub mod registry_http;
pub mod rest;
pub mod s3;
pub mod secrets;
pub mod sfn;
pub mod tables;
