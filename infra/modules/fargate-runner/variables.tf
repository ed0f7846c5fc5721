# ---------------------------------------------------------------------------
# Identity of the worker and of the job that deploys it
# ---------------------------------------------------------------------------

variable "worker_name" {
  description = "Deterministic worker name. Used in every resource name, so it must be unique per account+region and short enough for IAM role names."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,38}[a-z0-9]$", var.worker_name))
    error_message = "worker_name must be 2-40 characters of lowercase letters, digits and '-', starting and ending with a letter or digit."
  }
}

variable "job_id" {
  description = "Id of the DEPLOY_WORKER job that created this worker (tag only; keep it stable across re-renders of the same worker)."
  type        = string

  validation {
    condition     = length(var.job_id) > 0 && length(var.job_id) <= 256
    error_message = "job_id must be 1-256 characters."
  }
}

variable "tags" {
  description = "Extra tags for every resource (the alethia:* tags are always added)."
  type        = map(string)
  default     = {}
}

# ---------------------------------------------------------------------------
# What runs
# ---------------------------------------------------------------------------

variable "image" {
  description = "Container image of the Runner, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/alethia-runner:1.4.2."
  type        = string
}

variable "cpu" {
  description = "Fargate task CPU units."
  type        = number
  default     = 512

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.cpu)
    error_message = "cpu must be one of the Fargate sizes 256, 512, 1024, 2048, 4096, 8192, 16384."
  }
}

variable "memory" {
  description = "Fargate task memory in MiB (must be a valid combination with cpu)."
  type        = number
  default     = 1024

  validation {
    condition     = var.memory >= 512 && var.memory <= 122880
    error_message = "memory must be between 512 and 122880 MiB."
  }
}

variable "cpu_architecture" {
  description = "X86_64 or ARM64."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "platform_api_url" {
  description = "Base URL of the platform API the Runner registers/heartbeats against (PLATFORM_API_URL)."
  type        = string

  validation {
    condition     = can(regex("^https?://", var.platform_api_url))
    error_message = "platform_api_url must start with http:// or https://."
  }
}

variable "runner_pool" {
  description = "Runner pool the worker serves (RUNNER_POOL)."
  type        = string
}

variable "stop_timeout" {
  description = "Seconds the container gets between SIGTERM and SIGKILL to drain its current job (Fargate maximum is 120)."
  type        = number
  default     = 120

  validation {
    condition     = var.stop_timeout >= 2 && var.stop_timeout <= 120
    error_message = "stop_timeout must be between 2 and 120 seconds on Fargate."
  }
}

variable "log_retention_days" {
  description = "CloudWatch Logs retention of the worker's log group."
  type        = number
  default     = 30
}

# ---------------------------------------------------------------------------
# Where it runs
# ---------------------------------------------------------------------------

variable "existing_cluster_name" {
  description = "Run the service in this existing ECS cluster instead of creating a cluster for the worker. The cluster is then never modified or destroyed by this module."
  type        = string
  default     = null
}

variable "vpc_id" {
  description = "VPC for the worker's security group. null = the region's default VPC."
  type        = string
  default     = null
}

variable "subnet_ids" {
  description = "Subnets for the worker's task. null = the default-for-AZ subnets of the VPC (only sensible with the default VPC)."
  type        = list(string)
  default     = null

  validation {
    condition     = var.subnet_ids == null || length(coalesce(var.subnet_ids, [])) > 0
    error_message = "subnet_ids must be null or a non-empty list."
  }
}

variable "assign_public_ip" {
  description = "Give the task a public IP. Needed in public subnets (such as the default VPC's) to reach the image registry and the platform; use false in private subnets with a NAT gateway or VPC endpoints."
  type        = bool
  default     = true
}

variable "deployment_trigger" {
  description = "Changing it forces a new deployment of the service even when the task definition did not change (UPDATE_WORKER passes its job id)."
  type        = string
  default     = ""
}
