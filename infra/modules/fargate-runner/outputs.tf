output "cluster_arn" {
  description = "ARN of the ECS cluster the service runs in."
  value       = local.cluster_arn
}

output "cluster_name" {
  description = "Name of the ECS cluster the service runs in."
  value       = local.cluster_name
}

output "service_name" {
  description = "Name of the ECS service (RegisterWorker scales it to 1)."
  value       = aws_ecs_service.runner.name
}

output "task_definition_arn" {
  description = "ARN (with revision) of the task definition."
  value       = aws_ecs_task_definition.runner.arn
}

output "secret_arn" {
  description = "ARN of the credentials secret (RegisterWorker does PutSecretValue on it)."
  value       = aws_secretsmanager_secret.credentials.arn
}

output "log_group_name" {
  description = "CloudWatch log group of the Runner container."
  value       = aws_cloudwatch_log_group.runner.name
}

output "execution_role_arn" {
  description = "ECS execution role ARN."
  value       = aws_iam_role.execution.arn
}

output "task_role_arn" {
  description = "ECS task role ARN (no permissions)."
  value       = aws_iam_role.task.arn
}

output "security_group_id" {
  description = "Egress-only security group of the task."
  value       = aws_security_group.runner.id
}
