data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  # Fixed base of every name the code or the ASL hard-codes: the functions
  # ("worker-jobs-<crate>", as FunctionName in statemachines/*.asl.json) and
  # the CodeBuild project ("worker-jobs-terraform"). One deployment per
  # account and region therefore.
  name = "worker-jobs"

  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name

  tags = merge(var.tags, {
    # Not "worker-jobs": that value marks the Runner stacks the CodeBuild
    # role may create and delete by tag (codebuild.tf), and this stack's own
    # resources must never match it.
    "alethia:managed-by" = "worker-jobs-platform"
  })

  # Tag the Runner stacks carry (provider default_tags in the rendered root,
  # jobs_domain::terraform::MANAGED_BY); the CodeBuild role scopes by it.
  runner_tag_key   = "alethia:managed-by"
  runner_tag_value = "worker-jobs"

  repo_root = "${path.module}/../.."

  # --- DynamoDB: the one definition shared with the Rust code -------------
  table_specs = {
    for k, v in jsondecode(file("${path.module}/../tables.json")) : k => v
    if !startswith(k, "_")
  }

  # --- State machines: every statemachines/*.asl.json, deployed unchanged.
  # A new file (e.g. update_worker) is picked up without editing this stack.
  state_machine_files = {
    for f in fileset("${local.repo_root}/statemachines", "*.asl.json") :
    trimsuffix(f, ".asl.json") => "${local.repo_root}/statemachines/${f}"
  }

  # What job-api hands to StartExecution: prefix + "connection_test" etc.
  state_machine_arn_prefix = "arn:${local.partition}:states:${local.region}:${local.account}:stateMachine:${var.state_machine_prefix}"

  codebuild_project_name = "${local.name}-terraform"

  # --- S3 ------------------------------------------------------------------
  state_bucket_name  = coalesce(var.state_bucket_name, "${local.name}-tfstate-${local.account}-${local.region}")
  config_bucket_name = coalesce(var.config_bucket_name, "${local.name}-config-${local.account}-${local.region}")

  # Every object the functions and the buildspec touch lives under workers/
  # (jobs_domain::worker::{state_key, config_key}).
  worker_object_prefix = "workers/"
}
