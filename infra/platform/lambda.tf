# One function per crate in functions/, named "worker-jobs-<crate>" (fixed:
# the state machines call the steps by these names; infra/scripts/validate.sh
# checks that every crate and every FunctionName in the ASL is listed here). Code comes from the
# zips `cargo lambda build --profile lambda-release --output-format zip [--arm64]`
# (local/build-lambdas.sh) writes to
# $CARGO_TARGET_DIR/lambda/<crate>/bootstrap.zip.

locals {
  # family: which configuration the binary parses at cold start
  # (shared/runtime/src/config.rs): step = StepConfig, job_api = JobApiConfig,
  # runners_api = RunnersApiConfig. Every step parses the full StepConfig, so
  # every step gets every step variable, whatever it uses.
  #
  # Timeouts of the steps are those asked for (60 s; discover-resources 600 s)
  # but never above the TimeoutSeconds of their Task state in the ASL
  # (MarkRunning/ReportSuccess/ReportFailure: 30 s), so that an invocation
  # never outlives the state that waits for it. The two APIs stay under API
  # Gateway's 30 s integration limit.
  function_defaults = {
    "mark-running"         = { family = "step", memory_size = 256, timeout = 30 }
    "await-turn"           = { family = "step", memory_size = 256, timeout = 30 }
    "begin-build"          = { family = "step", memory_size = 256, timeout = 30 }
    "verify-identity"      = { family = "step", memory_size = 256, timeout = 60 }
    "discover-resources"   = { family = "step", memory_size = 1024, timeout = 600 }
    "generate-config"      = { family = "step", memory_size = 256, timeout = 60 }
    "register-worker"      = { family = "step", memory_size = 256, timeout = 60 }
    "abandon-deployment"   = { family = "step", memory_size = 256, timeout = 60 }
    "deregister-worker"    = { family = "step", memory_size = 256, timeout = 60 }
    "requeue-jobs"         = { family = "step", memory_size = 256, timeout = 60 }
    "check-deployment"     = { family = "step", memory_size = 256, timeout = 60 }
    "report-success"       = { family = "step", memory_size = 256, timeout = 30 }
    "report-failure"       = { family = "step", memory_size = 256, timeout = 30 }
    "job-api"              = { family = "job_api", memory_size = 256, timeout = 29 }
    "runners-api"          = { family = "runners_api", memory_size = 256, timeout = 29 }
    "lease-sweeper"        = { family = "runners_api", memory_size = 256, timeout = 60 }
    "refresh-scheduler"    = { family = "job_api", memory_size = 256, timeout = 60 }
    "job-sweeper"          = { family = "job_api", memory_size = 256, timeout = 60 }
    "execution-reconciler" = { family = "job_api", memory_size = 256, timeout = 60 }
  }

  functions = {
    for crate, d in local.function_defaults : crate => {
      name        = "${local.name}-${crate}"
      family      = d.family
      memory_size = coalesce(try(var.function_overrides[crate].memory_size, null), d.memory_size)
      timeout     = coalesce(try(var.function_overrides[crate].timeout, null), d.timeout)
      # -1 = no reserved concurrency.
      reserved_concurrency = coalesce(try(var.function_overrides[crate].reserved_concurrency, null), -1)
      zip                  = "${local.lambda_artifacts_dir}/${crate}/bootstrap.zip"
    }
  }

  step_functions = [for crate, f in local.functions : crate if f.family == "step"]

  lambda_artifacts_dir = coalesce(var.lambda_artifacts_dir, "${local.repo_root}/target/lambda")

  # The HTTP API's own base URL (no trailing slash; routes start with /api).
  api_url = aws_apigatewayv2_api.this.api_endpoint

  env_common = {
    TABLE_PREFIX       = var.table_prefix
    RUST_LOG           = var.rust_log
    JOB_RETENTION_DAYS = tostring(var.job_retention_days)
  }

  env_by_family = {
    job_api = merge(local.env_common, {
      STATE_MACHINE_ARN_PREFIX   = local.state_machine_arn_prefix
      TF_CONFIG_BUCKET           = aws_s3_bucket.this["config"].id
      IDENTITY_SECRET_PREFIX     = var.identity_secret_prefix
      IDENTITY_SECRET_KMS_KEY_ID = aws_kms_key.platform.arn
      REFRESH_BATCH              = tostring(var.refresh_batch)
      # Whose records a call reads and writes: the verified token's claim
      # under JWT authorization, else a header of the (signed) call.
      OWNER_SOURCE = var.job_api_authorization == "JWT" ? "jwt:${var.owner_claim}" : "header:${var.owner_header}"
      }, {
      # Unset = the code's defaults (jobs_domain::params::Defaults).
      for k, v in {
        RUNNER_IMAGE          = var.runner_image
        RUNNER_DEFAULT_CPU    = var.runner_default_cpu == null ? null : tostring(var.runner_default_cpu)
        RUNNER_DEFAULT_MEMORY = var.runner_default_memory == null ? null : tostring(var.runner_default_memory)
        RUNNER_DEFAULT_POOL   = var.runner_default_pool
      } : k => v if v != null
    })

    runners_api = merge(local.env_common, {
      REGISTRY_ADMIN_TOKEN_SECRET_ID = aws_secretsmanager_secret.admin_token.arn
      HEARTBEAT_TTL_SECONDS          = tostring(var.heartbeat_ttl_seconds)
    })

    step = merge(local.env_common, {
      TF_STATE_BUCKET                = aws_s3_bucket.this["state"].id
      TF_STATE_REGION                = local.region
      TF_CONFIG_BUCKET               = aws_s3_bucket.this["config"].id
      PLATFORM_API_URL               = coalesce(var.platform_api_url, local.api_url)
      REGISTRY_URL                   = coalesce(var.registry_url, local.api_url)
      REGISTRY_ADMIN_TOKEN_SECRET_ID = aws_secretsmanager_secret.admin_token.arn
      DISCOVERY_CONCURRENCY          = tostring(var.discovery_concurrency)
      RUNNER_LOG_RETENTION_DAYS      = tostring(var.runner_log_retention_days)
      RUNNER_STOP_TIMEOUT_SECONDS    = tostring(var.runner_stop_timeout_seconds)
      RUNNER_MODULE_SOURCE           = var.runner_module_source
      }, {
      # The Runner release UPDATE_WORKER rolls out (resolved to its digest);
      # the Google and Azure endpoints (unset = the public ones).
      for k, v in merge({ RUNNER_IMAGE = var.runner_image }, var.provider_endpoints) : k => v if v != null
    })
  }
}

# Created before the functions so that Lambda does not create them itself
# (without retention) on the first invocation.
resource "aws_cloudwatch_log_group" "lambda" {
  for_each = local.functions

  kms_key_id        = aws_kms_key.platform.arn
  name              = "/aws/lambda/${each.value.name}"
  retention_in_days = var.log_retention_days
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:Invoked synchronously (Step Functions' lambda:invoke, API Gateway); the scheduled ones are EventBridge targets with their own retry policy: a dead-letter queue would receive nothing.
  #checkov:skip=CKV_AWS_117:The functions call AWS APIs and customer accounts only, through public endpoints; a VPC would add NAT gateways and no isolation.
  #checkov:skip=CKV_AWS_272:The zips are built by the project's own pipeline (local/build-lambdas.sh); add a signing profile where the organisation signs its artifacts.
  #checkov:skip=CKV_AWS_173:No secret is in the environment (the admin token is in Secrets Manager); variables are encrypted at rest with the AWS managed key.
  for_each = local.functions

  function_name = each.value.name
  description   = "worker-jobs: functions/${each.key}"
  role          = aws_iam_role.lambda[each.key].arn

  runtime       = "provided.al2023"
  handler       = "bootstrap"
  architectures = [var.lambda_architecture]
  memory_size   = each.value.memory_size
  timeout       = each.value.timeout

  reserved_concurrent_executions = each.value.reserved_concurrency

  filename = each.value.zip
  # try(): `terraform validate` (and CI without built artifacts) must not
  # need the zips; the precondition below stops a plan that lacks them.
  source_code_hash = try(filebase64sha256(each.value.zip), null)

  environment {
    variables = local.env_by_family[each.value.family]
  }

  tracing_config {
    mode = var.xray_tracing ? "Active" : "PassThrough"
  }

  lifecycle {
    precondition {
      condition     = fileexists(each.value.zip)
      error_message = "Missing ${each.value.zip}: build the functions first (CARGO_TARGET_DIR=<dir> cargo lambda build --profile lambda-release --output-format zip${var.lambda_architecture == "arm64" ? " --arm64" : ""}) and point lambda_artifacts_dir at <dir>/lambda."
    }
  }

  depends_on = [
    aws_cloudwatch_log_group.lambda,
    aws_iam_role_policy.lambda,
  ]
}
