# The HTTP API (payload format 2.0) in front of job-api and runners-api.
# Each function routes on the path itself (shared/handlers), so API Gateway
# only needs one greedy route per prefix.

locals {
  api_routes = {
    "ANY /api/jobs"                      = "job-api"
    "ANY /api/jobs/{proxy+}"             = "job-api"
    "ANY /api/cloud-identities/{proxy+}" = "job-api"
    "ANY /api/runners"                   = "runners-api"
    "ANY /api/runners/{proxy+}"          = "runners-api"
  }

  api_functions = toset(values(local.api_routes))
}

resource "aws_apigatewayv2_api" "this" {
  name          = "${local.name}-api"
  description   = "worker-jobs: job API and runner registry"
  protocol_type = "HTTP"
}

resource "aws_apigatewayv2_integration" "this" {
  for_each = local.api_functions

  api_id                 = aws_apigatewayv2_api.this.id
  integration_type       = "AWS_PROXY"
  integration_method     = "POST"
  integration_uri        = aws_lambda_function.this[each.key].invoke_arn
  payload_format_version = "2.0"
  # API Gateway's limit is 30 s; the functions time out at 29 s first.
  timeout_milliseconds = 30000
}

# The job-api function does no authentication of its own: anyone who can
# reach these routes can create jobs and cloud identities. AWS_IAM (default)
# or JWT puts API Gateway in front; NONE is for private test deployments.
resource "aws_apigatewayv2_authorizer" "jwt" {
  count = var.job_api_authorization == "JWT" ? 1 : 0

  api_id           = aws_apigatewayv2_api.this.id
  name             = "${local.name}-jwt"
  authorizer_type  = "JWT"
  identity_sources = ["$request.header.Authorization"]

  jwt_configuration {
    issuer   = var.jwt_issuer
    audience = var.jwt_audience
  }

  lifecycle {
    precondition {
      condition     = var.jwt_issuer != null && length(var.jwt_audience) > 0
      error_message = "job_api_authorization = JWT needs jwt_issuer and at least one jwt_audience."
    }
  }
}

resource "aws_apigatewayv2_route" "this" {
  #checkov:skip=CKV_AWS_309:The runner routes authenticate in runners-api itself (a runner's own token, or the registry's admin token): Runners cannot sign with IAM or carry the platform's JWTs. The job routes use var.job_api_authorization (AWS_IAM by default).
  for_each = local.api_routes

  api_id    = aws_apigatewayv2_api.this.id
  route_key = each.key
  target    = "integrations/${aws_apigatewayv2_integration.this[each.value].id}"

  # Runners authenticate with their own tokens (and the platform with the
  # admin token), checked by runners-api itself.
  authorization_type = each.value == "job-api" ? var.job_api_authorization : "NONE"
  authorizer_id      = each.value == "job-api" && var.job_api_authorization == "JWT" ? aws_apigatewayv2_authorizer.jwt[0].id : null
}

resource "aws_cloudwatch_log_group" "api_access" {
  name              = "/aws/apigateway/${local.name}-api"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.platform.arn
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.this.id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_burst_limit = var.api_throttling_burst_limit
    throttling_rate_limit  = var.api_throttling_rate_limit
  }

  # No headers, query strings or bodies: tokens travel in Authorization
  # headers and must stay out of the logs.
  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api_access.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      requestTime        = "$context.requestTime"
      sourceIp           = "$context.identity.sourceIp"
      httpMethod         = "$context.httpMethod"
      routeKey           = "$context.routeKey"
      path               = "$context.path"
      status             = "$context.status"
      responseLength     = "$context.responseLength"
      protocol           = "$context.protocol"
      integrationStatus  = "$context.integrationStatus"
      integrationLatency = "$context.integrationLatency"
      integrationError   = "$context.integrationErrorMessage"
      authorizerError    = "$context.authorizer.error"
    })
  }
}

resource "aws_lambda_permission" "api" {
  for_each = local.api_functions

  statement_id  = "AllowHttpApi"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this[each.key].function_name
  principal     = "apigateway.amazonaws.com"
  # Any stage and route of this API only.
  source_arn = "${aws_apigatewayv2_api.this.execution_arn}/*/*"
}
