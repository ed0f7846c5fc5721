output "api_url" {
  description = "Base URL of the HTTP API (routes under /api). The default PLATFORM_API_URL and REGISTRY_URL."
  value       = aws_apigatewayv2_api.this.api_endpoint
}

output "job_api_execution_arn" {
  description = "execute-api ARN of the job API routes, for the platform's execute-api:Invoke policy when job_api_authorization = AWS_IAM."
  value       = "${aws_apigatewayv2_api.this.execution_arn}/$default/*/api/*"
}

output "state_machine_arns" {
  description = "State machine ARNs by file name (connection_test, fetch_resources, deploy_worker, update_worker, destroy_worker)."
  value       = { for k, m in aws_sfn_state_machine.this : k => m.arn }
}

output "state_machine_arn_prefix" {
  description = "STATE_MACHINE_ARN_PREFIX given to job-api, refresh-scheduler and execution-reconciler."
  value       = local.state_machine_arn_prefix
}

output "table_names" {
  description = "DynamoDB table names by logical name (infra/tables.json)."
  value       = { for k, t in aws_dynamodb_table.this : k => t.name }
}

output "state_bucket" {
  description = "Bucket of the workers' Terraform states (TF_STATE_BUCKET)."
  value       = aws_s3_bucket.this["state"].id
}

output "config_bucket" {
  description = "Bucket of the rendered worker configs (TF_CONFIG_BUCKET)."
  value       = aws_s3_bucket.this["config"].id
}

output "admin_token_secret_arn" {
  description = "Secrets Manager secret of the runner registry's admin token (REGISTRY_ADMIN_TOKEN_SECRET_ID)."
  value       = aws_secretsmanager_secret.admin_token.arn
}

output "codebuild_project_name" {
  description = "CodeBuild project of the Terraform step."
  value       = aws_codebuild_project.terraform.name
}

output "codebuild_role_arn" {
  description = "Role the Terraform step runs with (creates and destroys Runner stacks)."
  value       = aws_iam_role.codebuild.arn
}

output "function_names" {
  description = "Lambda function names by crate."
  value       = { for k, f in aws_lambda_function.this : k => f.function_name }
}
