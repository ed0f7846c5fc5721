# ---------------------------------------------------------------------------
# General
# ---------------------------------------------------------------------------

variable "aws_region" {
  description = "Region to deploy to. null = the provider's usual resolution (AWS_REGION, profile)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Extra tags for every resource (provider default_tags). alethia:managed-by = worker-jobs-platform is always added."
  type        = map(string)
  default     = {}
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary attached to every IAM role this stack creates (Lambda, Step Functions, CodeBuild). null = none."
  type        = string
  default     = null

  validation {
    condition     = var.permissions_boundary_arn == null || can(regex("^arn:[a-z-]+:iam::[0-9]{12}:policy/.+$", coalesce(var.permissions_boundary_arn, "x")))
    error_message = "permissions_boundary_arn must be an IAM policy ARN (arn:<partition>:iam::<account>:policy/<name>) or null."
  }
}

variable "log_retention_days" {
  description = "Retention of every CloudWatch log group this stack creates (Lambda, state machines, API access logs, CodeBuild)."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

variable "xray_tracing" {
  description = "Active X-Ray tracing on the Lambda functions and the state machines."
  type        = bool
  default     = true
}

# ---------------------------------------------------------------------------
# Names the code depends on
# ---------------------------------------------------------------------------

variable "table_prefix" {
  description = "Prefix of the DynamoDB table names (TABLE_PREFIX of every function): physical name = prefix + key in infra/tables.json."
  type        = string
  default     = "worker-jobs-"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{1,200}$", var.table_prefix))
    error_message = "table_prefix must be 1-200 characters of letters, digits, '_', '.' and '-' (DynamoDB table name characters)."
  }
}

variable "state_machine_prefix" {
  description = "Prefix of the state machine names: name = prefix + file name without .asl.json. The job API starts them as STATE_MACHINE_ARN_PREFIX + \"connection_test\" etc., and the prefix is passed to it accordingly."
  type        = string
  default     = "worker-jobs-"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,60}$", var.state_machine_prefix))
    error_message = "state_machine_prefix must be 1-60 characters of letters, digits, '_' and '-' (state machine names are at most 80 characters)."
  }
}

variable "table_deletion_protection" {
  description = "DynamoDB deletion protection on every table. Turn off (and apply) before `terraform destroy` of a test deployment."
  type        = bool
  default     = true
}

# ---------------------------------------------------------------------------
# Lambda functions
# ---------------------------------------------------------------------------

variable "lambda_artifacts_dir" {
  description = "Directory holding <crate>/bootstrap.zip for every function, as `cargo lambda build --release` leaves them in $CARGO_TARGET_DIR/lambda. null = <repository>/target/lambda."
  type        = string
  default     = null
}

variable "lambda_architecture" {
  description = "Instruction set of the built bootstrap binaries: arm64 (`cargo lambda build --release --arm64`) or x86_64 (`cargo lambda build --release`). Must match the zips."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.lambda_architecture)
    error_message = "lambda_architecture must be arm64 or x86_64."
  }
}

variable "function_overrides" {
  description = "Per-function overrides, keyed by crate name (e.g. \"discover-resources\"): memory_size (MB), timeout (s), reserved_concurrency (null = unreserved). Unset fields keep the defaults in lambda.tf."
  type = map(object({
    memory_size          = optional(number)
    timeout              = optional(number)
    reserved_concurrency = optional(number)
  }))
  default = {}

  validation {
    condition = alltrue([for k in keys(var.function_overrides) : contains([
      "mark-running", "await-turn", "begin-build", "verify-identity", "discover-resources", "generate-config", "register-worker",
      "abandon-deployment", "deregister-worker", "requeue-jobs", "check-deployment", "report-success", "report-failure",
      "job-api", "runners-api", "lease-sweeper", "refresh-scheduler", "job-sweeper", "execution-reconciler",
    ], k)])
    error_message = "function_overrides keys must be crate names: mark-running, await-turn, begin-build, verify-identity, discover-resources, generate-config, register-worker, abandon-deployment, deregister-worker, requeue-jobs, check-deployment, report-success, report-failure, job-api, runners-api, lease-sweeper, refresh-scheduler, job-sweeper, execution-reconciler."
  }

  validation {
    condition = alltrue([for o in values(var.function_overrides) : (
      (o.memory_size == null || (coalesce(o.memory_size, 128) >= 128 && coalesce(o.memory_size, 128) <= 10240)) &&
      (o.timeout == null || (coalesce(o.timeout, 1) >= 1 && coalesce(o.timeout, 1) <= 900)) &&
      (o.reserved_concurrency == null || coalesce(o.reserved_concurrency, 0) >= 0)
    )])
    error_message = "function_overrides: memory_size must be 128-10240, timeout 1-900, reserved_concurrency >= 0."
  }
}

variable "rust_log" {
  description = "RUST_LOG of every function (tracing EnvFilter syntax)."
  type        = string
  default     = "info"
}

# ---------------------------------------------------------------------------
# job-api, refresh-scheduler, execution-reconciler
# ---------------------------------------------------------------------------

variable "runner_image" {
  description = "RUNNER_IMAGE: default Runner container image for DEPLOY_WORKER jobs that name none. null = the code's default."
  type        = string
  default     = null
}

variable "runner_default_cpu" {
  description = "RUNNER_DEFAULT_CPU: default Fargate CPU units of a Runner. null = the code's default (512)."
  type        = number
  default     = null
}

variable "runner_default_memory" {
  description = "RUNNER_DEFAULT_MEMORY: default Fargate memory (MiB) of a Runner. null = the code's default (1024)."
  type        = number
  default     = null
}

variable "runner_default_pool" {
  description = "RUNNER_DEFAULT_POOL: default Runner pool. null = the code's default (\"default\")."
  type        = string
  default     = null
}

# ---------------------------------------------------------------------------
# runners-api
# ---------------------------------------------------------------------------

variable "heartbeat_ttl_seconds" {
  description = "HEARTBEAT_TTL_SECONDS: a Runner without a heartbeat for this long is no longer ONLINE."
  type        = number
  default     = 90

  validation {
    condition     = var.heartbeat_ttl_seconds >= 10
    error_message = "heartbeat_ttl_seconds must be at least 10."
  }
}

# ---------------------------------------------------------------------------
# State machine steps
# ---------------------------------------------------------------------------

variable "platform_api_url" {
  description = "PLATFORM_API_URL: the base URL deployed Runners call (register, heartbeat, claim). null = this stack's HTTP API."
  type        = string
  default     = null

  validation {
    condition     = var.platform_api_url == null || can(regex("^https://[^/]+", coalesce(var.platform_api_url, "x")))
    error_message = "platform_api_url must be an https URL (Runners send their tokens to it) or null."
  }
}

variable "registry_url" {
  description = "REGISTRY_URL: base URL where the steps call the runner registry (/api/runners/...). null = this stack's HTTP API; set it to the platform's API when the platform hosts the registry."
  type        = string
  default     = null

  validation {
    condition     = var.registry_url == null || can(regex("^https://[^/]+", coalesce(var.registry_url, "x")))
    error_message = "registry_url must be an https URL (the registry's admin token is sent to it) or null."
  }
}

variable "discovery_concurrency" {
  description = "DISCOVERY_CONCURRENCY: regions scanned in parallel by discover-resources."
  type        = number
  default     = 8

  validation {
    condition     = var.discovery_concurrency >= 1 && var.discovery_concurrency <= 64
    error_message = "discovery_concurrency must be 1-64."
  }
}

variable "runner_log_retention_days" {
  description = "RUNNER_LOG_RETENTION_DAYS: retention of each deployed Runner's log group."
  type        = number
  default     = 30
}

variable "runner_stop_timeout_seconds" {
  description = "RUNNER_STOP_TIMEOUT_SECONDS: seconds a Runner container gets to drain on stop (Fargate maximum 120)."
  type        = number
  default     = 120

  validation {
    condition     = var.runner_stop_timeout_seconds >= 2 && var.runner_stop_timeout_seconds <= 120
    error_message = "runner_stop_timeout_seconds must be 2-120."
  }
}

variable "runner_module_source" {
  description = "RUNNER_MODULE_SOURCE: module source the rendered worker configs use, relative to the build's work directory (the buildspec copies infra/modules there)."
  type        = string
  default     = "./modules/fargate-runner"
}

# ---------------------------------------------------------------------------
# HTTP API
# ---------------------------------------------------------------------------

variable "job_api_authorization" {
  description = "Authorization of the job API routes (/api/jobs, /api/cloud-identities): AWS_IAM (SigV4-signed calls from the platform; grant execute-api:Invoke on the job_api_execution_arn output), JWT (jwt_issuer/jwt_audience) or NONE. The job-api function itself does no authentication. The runners routes are always NONE: the function checks runner and admin tokens itself."
  type        = string
  default     = "AWS_IAM"

  validation {
    condition     = contains(["AWS_IAM", "JWT", "NONE"], var.job_api_authorization)
    error_message = "job_api_authorization must be AWS_IAM, JWT or NONE."
  }
}

variable "owner_header" {
  description = "The header naming the organization a job API call acts for (job_api_authorization = AWS_IAM or NONE): the platform signs the call and sets it."
  type        = string
  default     = "X-Organization-Id"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.owner_header))
    error_message = "owner_header must be a header name: 1-64 letters, digits, '-' and '_'."
  }
}

variable "owner_claim" {
  description = "The JWT claim naming the organization a job API call acts for (job_api_authorization = JWT)."
  type        = string
  default     = "org_id"

  validation {
    condition     = can(regex("^[A-Za-z0-9_:.-]{1,64}$", var.owner_claim))
    error_message = "owner_claim must be a claim name: 1-64 letters, digits and '_:.-'."
  }
}

variable "jwt_issuer" {
  description = "Issuer URL of the JWT authorizer (job_api_authorization = JWT)."
  type        = string
  default     = null
}

variable "jwt_audience" {
  description = "Accepted audiences of the JWT authorizer (job_api_authorization = JWT)."
  type        = list(string)
  default     = []
}

variable "api_throttling_burst_limit" {
  description = "Default burst limit of every route of the HTTP API."
  type        = number
  default     = 100
}

variable "api_throttling_rate_limit" {
  description = "Default steady-state requests per second of every route of the HTTP API."
  type        = number
  default     = 50
}

# ---------------------------------------------------------------------------
# Schedules
# ---------------------------------------------------------------------------

variable "lease_sweep_schedule" {
  description = "EventBridge schedule expression of the lease sweeper (requeues the jobs of runners that stopped heartbeating)."
  type        = string
  default     = "rate(1 minute)"

  validation {
    condition     = can(regex("^(rate|cron)\\(.+\\)$", var.lease_sweep_schedule))
    error_message = "lease_sweep_schedule must be an EventBridge rate(...) or cron(...) expression."
  }
}

variable "sweep_schedule" {
  description = "EventBridge schedule expression of the job sweeper (starts jobs whose StartExecution was lost)."
  type        = string
  default     = "rate(5 minutes)"

  validation {
    condition     = can(regex("^(rate|cron)\\(.+\\)$", var.sweep_schedule))
    error_message = "sweep_schedule must be an EventBridge rate(...) or cron(...) expression."
  }
}

variable "refresh_schedule" {
  description = "EventBridge schedule expression of the resource refresh (a FETCH_RESOURCES job per cloud identity)."
  type        = string
  default     = "rate(6 hours)"

  validation {
    condition     = can(regex("^(rate|cron)\\(.+\\)$", var.refresh_schedule))
    error_message = "refresh_schedule must be a rate(...) or cron(...) expression."
  }
}

variable "refresh_schedule_enabled" {
  description = "Whether the refresh schedule is enabled."
  type        = bool
  default     = true
}

# ---------------------------------------------------------------------------
# CodeBuild (the Terraform step)
# ---------------------------------------------------------------------------

variable "build_source_s3" {
  description = "\"bucket/key\" of a zip whose ROOT contains the repository's infra/ directory (infra/buildspec, infra/modules), e.g. from `zip -r infra.zip infra -x 'infra/platform/*'` at the repository root. The buildspec is read from infra/buildspec/terraform.yml inside it."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+$", var.build_source_s3))
    error_message = "build_source_s3 must be \"bucket/key\" (no s3:// scheme)."
  }
}

variable "codebuild_architecture" {
  description = "CodeBuild image: x86_64 (amazonlinux2-x86_64-standard:5.0) or aarch64 (amazonlinux2-aarch64-standard:3.0). aarch64 needs linux_arm64 hashes in infra/buildspec/worker-root.terraform.lock.hcl first (it holds linux_amd64 only)."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "aarch64"], var.codebuild_architecture)
    error_message = "codebuild_architecture must be x86_64 or aarch64."
  }
}

variable "codebuild_compute_type" {
  description = "CodeBuild compute type."
  type        = string
  default     = "BUILD_GENERAL1_SMALL"
}

variable "build_timeout_minutes" {
  description = "CodeBuild build timeout. Keep it below the Terraform Task states' TimeoutSeconds (3600) so that a stuck build ends as a build failure rather than a state timeout that leaves the build running."
  type        = number
  default     = 30

  validation {
    condition     = var.build_timeout_minutes >= 5 && var.build_timeout_minutes <= 55
    error_message = "build_timeout_minutes must be 5-55."
  }
}

variable "codebuild_concurrent_build_limit" {
  description = "Maximum concurrent Terraform builds (null = account limit). Each worker has its own state and lock, so builds of different workers may run in parallel."
  type        = number
  default     = null
}

# ---------------------------------------------------------------------------
# S3
# ---------------------------------------------------------------------------

variable "state_bucket_name" {
  description = "Name of the bucket holding the workers' Terraform states (TF_STATE_BUCKET). null = worker-jobs-tfstate-<account>-<region>."
  type        = string
  default     = null
}

variable "config_bucket_name" {
  description = "Name of the bucket holding the rendered worker configs (TF_CONFIG_BUCKET). null = worker-jobs-config-<account>-<region>."
  type        = string
  default     = null
}

variable "config_expiration_days" {
  description = "Rendered configs expire after this many days (every job renders its own; DESTROY_WORKER re-renders)."
  type        = number
  default     = 30

  validation {
    condition     = var.config_expiration_days >= 1
    error_message = "config_expiration_days must be at least 1."
  }
}

variable "state_noncurrent_version_days" {
  description = "Old versions of worker states (and the delete markers the lock files leave) are kept this many days."
  type        = number
  default     = 90

  validation {
    condition     = var.state_noncurrent_version_days >= 1
    error_message = "state_noncurrent_version_days must be at least 1."
  }
}

variable "bucket_force_destroy" {
  description = "Allow `terraform destroy` to delete non-empty buckets (test deployments only: the state bucket holds the only record of deployed workers)."
  type        = bool
  default     = false
}

# ---------------------------------------------------------------------------
# Registry admin token
# ---------------------------------------------------------------------------

variable "manage_admin_token_value" {
  description = "true: Terraform fills the admin token secret with a Secrets Manager-generated random value through a write-only attribute (never in plan or state). false: the secret is created empty and an operator puts the value (see README)."
  type        = bool
  default     = true
}

variable "admin_token_version" {
  description = "Bump to make Terraform write a new random admin token (manage_admin_token_value = true). Running functions cache the token: see README on rotation."
  type        = number
  default     = 1
}

variable "identity_secret_prefix" {
  description = "IDENTITY_SECRET_PREFIX: name prefix of the Secrets Manager secrets that hold Azure identities' client secrets (one per identity)."
  type        = string
  default     = "worker-jobs/cloud-identities/"

  validation {
    condition     = can(regex("^[A-Za-z0-9/_+=.@-]+/$", var.identity_secret_prefix))
    error_message = "identity_secret_prefix must be secret-name characters ending in /."
  }
}

variable "refresh_batch" {
  description = "REFRESH_BATCH: cloud identities one scheduled refresh run starts at most (oldest inventory first)."
  type        = number
  default     = 100

  validation {
    condition     = var.refresh_batch >= 1 && var.refresh_batch <= 1000
    error_message = "refresh_batch must be 1-1000."
  }
}

variable "provider_endpoints" {
  description = "The Google and Azure endpoints the identity steps call (GOOGLE_STS_URL, GOOGLE_IAMCREDENTIALS_URL, GOOGLE_COMPUTE_URL, GOOGLE_DNS_URL, AZURE_AUTHORITY_URL, AZURE_RESOURCE_MANAGER_URL). Unset keys use the public endpoints; set them for sovereign clouds or a private service connect endpoint."
  type        = map(string)
  default     = {}

  validation {
    condition = alltrue([
      for k, v in var.provider_endpoints :
      contains(["GOOGLE_STS_URL", "GOOGLE_IAMCREDENTIALS_URL", "GOOGLE_COMPUTE_URL", "GOOGLE_DNS_URL", "AZURE_AUTHORITY_URL", "AZURE_RESOURCE_MANAGER_URL"], k) && can(regex("^https://[^/]+", v))
    ])
    error_message = "provider_endpoints keys must be GOOGLE_STS_URL, GOOGLE_IAMCREDENTIALS_URL, GOOGLE_COMPUTE_URL, GOOGLE_DNS_URL, AZURE_AUTHORITY_URL or AZURE_RESOURCE_MANAGER_URL, each an https URL (tokens are sent to them)."
  }
}

variable "job_retention_days" {
  description = "JOB_RETENTION_DAYS: finished jobs are deleted by DynamoDB TTL this many days after they ended."
  type        = number
  default     = 90

  validation {
    condition     = var.job_retention_days >= 1 && var.job_retention_days <= 3650
    error_message = "job_retention_days must be 1-3650."
  }
}
