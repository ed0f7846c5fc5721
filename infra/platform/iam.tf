# Roles of the Lambda functions (one each, least privilege) and of the state
# machines. The CodeBuild role, which creates the Runner stacks, is in
# codebuild.tf next to the project.
#
# ARNs of functions and state machines are built from their fixed names
# rather than taken from the resources: the functions' policies name the
# state machines, the state machines' role names the functions, and resource
# references both ways would be a dependency cycle.

locals {
  function_arn = {
    for crate, f in local.functions :
    crate => "arn:${local.partition}:lambda:${local.region}:${local.account}:function:${f.name}"
  }

  state_machine_arn = {
    for k, _ in local.state_machine_files : k => "${local.state_machine_arn_prefix}${k}"
  }

  # --- statements, combined per function below --------------------------
  st = {
    # Every step records itself on its job: read, then conditional PutItem
    # on the version it read (handlers::steps::modify_job).
    jobs_step = {
      Sid      = "JobsReadWrite"
      Effect   = "Allow"
      Action   = ["dynamodb:GetItem", "dynamodb:PutItem"]
      Resource = [local.table_arn["jobs"]]
    }

    jobs_by_runner = {
      Sid      = "JobsOfRunner"
      Effect   = "Allow"
      Action   = ["dynamodb:Query"]
      Resource = [local.index_arn["jobs/held-by-runner"]]
    }

    # The workers' run queues: joined when a lifecycle job is created, taken
    # in AwaitTurn, given up when the job ends (any function that ends jobs).
    worker_runs = {
      Sid      = "WorkerRunQueues"
      Effect   = "Allow"
      Action   = ["dynamodb:GetItem", "dynamodb:PutItem"]
      Resource = [local.table_arn["worker_runs"]]
    }

    # job-api: create (PutItem, in a transaction with the idempotency key),
    # get, update, an owner's listings (by type, status or both), and the
    # open jobs the sweeper and the refresh scheduler read.
    jobs_api = {
      Sid    = "JobsApi"
      Effect = "Allow"
      Action = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"]
      Resource = [
        local.table_arn["jobs"],
        local.index_arn["jobs/by-owner"],
        local.index_arn["jobs/by-owner-type"],
        local.index_arn["jobs/by-owner-status"],
        local.index_arn["jobs/by-owner-type-status"],
        local.index_arn["jobs/open-jobs"],
      ]
    }

    # runners-api: claim/complete runner jobs from a pool's queue.
    jobs_runner_queue = {
      Sid      = "RunnerJobs"
      Effect   = "Allow"
      Action   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"]
      Resource = [local.table_arn["jobs"], local.index_arn["jobs/runner-queue"]]
    }

    # Idempotency keys: written with the job (TransactWriteItems = PutItem on
    # both tables), read on a replay, deleted when a start fails.
    idempotency = {
      Sid      = "IdempotencyKeys"
      Effect   = "Allow"
      Action   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"]
      Resource = [local.table_arn["job_idempotency"]]
    }

    identities_read = {
      Sid      = "CloudIdentitiesRead"
      Effect   = "Allow"
      Action   = ["dynamodb:GetItem"]
      Resource = [local.table_arn["cloud_identities"]]
    }

    identities_read_write = {
      Sid      = "CloudIdentitiesReadWrite"
      Effect   = "Allow"
      Action   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
      Resource = [local.table_arn["cloud_identities"]]
    }

    identities_scan = {
      Sid      = "CloudIdentitiesList"
      Effect   = "Allow"
      Action   = ["dynamodb:Scan"]
      Resource = [local.table_arn["cloud_identities"]]
    }

    inventory_read = {
      Sid      = "InventoryRead"
      Effect   = "Allow"
      Action   = ["dynamodb:Query"]
      Resource = [local.table_arn["cloud_identity_inventory"]]
    }

    # Inventory chunks: a new generation is batch-written, the old one
    # queried and batch-deleted.
    inventory_write = {
      Sid      = "InventoryReadWrite"
      Effect   = "Allow"
      Action   = ["dynamodb:Query", "dynamodb:BatchWriteItem"]
      Resource = [local.table_arn["cloud_identity_inventory"]]
    }

    workers_read = {
      Sid      = "WorkersRead"
      Effect   = "Allow"
      Action   = ["dynamodb:GetItem"]
      Resource = [local.table_arn["workers"]]
    }

    workers_read_write = {
      Sid      = "WorkersReadWrite"
      Effect   = "Allow"
      Action   = ["dynamodb:GetItem", "dynamodb:PutItem"]
      Resource = [local.table_arn["workers"]]
    }

    runners = {
      Sid      = "Runners"
      Effect   = "Allow"
      Action   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Scan"]
      Resource = [local.table_arn["runners"]]
    }

    # UPDATE_WORKER: watch the service roll to the new task definition.
    describe_worker_service = {
      Sid      = "WatchWorkerServiceRollout"
      Effect   = "Allow"
      Action   = ["ecs:DescribeServices"]
      Resource = ["arn:${local.partition}:ecs:*:${local.account}:service/*/alethia-worker-*"]
    }

    # Customer roles. Discovery calls (ec2:Describe*, route53:ListHostedZones,
    # iam:ListUsers) run under the assumed role, not this one. The ExternalId
    # is enforced by the customer's trust policy. Roles of this very account
    # are excluded: a cloud identity naming one would otherwise let a user
    # make the platform assume an internal role that trusts the account.
    assume_customer_role = {
      Sid      = "AssumeCustomerRoles"
      Effect   = "Allow"
      Action   = ["sts:AssumeRole"]
      Resource = ["arn:${local.partition}:iam::*:role/*"]
      Condition = {
        StringNotEquals = { "aws:ResourceAccount" = [local.account] }
      }
    }

    config_put = {
      Sid      = "WriteRenderedConfigs"
      Effect   = "Allow"
      Action   = ["s3:PutObject"]
      Resource = ["${aws_s3_bucket.this["config"].arn}/${local.worker_object_prefix}*"]
    }

    # The Terraform builds' output, paged by GET /api/jobs/{id}/logs.
    build_logs_read = {
      Sid      = "ReadBuildLogs"
      Effect   = "Allow"
      Action   = ["logs:GetLogEvents"]
      Resource = ["${aws_cloudwatch_log_group.codebuild.arn}:log-stream:*"]
    }

    # What a Terraform build writes beside its configuration: its progress
    # while it runs (build id, log, plan; the job API shows it) and its
    # result (exit status, Terraform's errors; for the job's message).
    build_results_read = {
      Sid    = "ReadBuildReports"
      Effect = "Allow"
      Action = ["s3:GetObject"]
      Resource = [
        "${aws_s3_bucket.this["config"].arn}/${local.worker_object_prefix}*/terraform-result.json",
        "${aws_s3_bucket.this["config"].arn}/${local.worker_object_prefix}*/terraform-progress.json",
      ]
    }

    # The worker's credentials secret (created empty by the Runner stack):
    # read to see whether it is filled, then PutSecretValue {worker_id, token}.
    # Any region: workers are deployed where the job asks.
    worker_secrets = {
      Sid      = "WorkerCredentialSecrets"
      Effect   = "Allow"
      Action   = ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"]
      Resource = ["arn:${local.partition}:secretsmanager:*:${local.account}:secret:alethia/workers/*"]
    }

    # Scale the worker's service to 1 once its secret is filled (its cluster
    # is alethia-worker-<name> or an existing one, hence service/*/...).
    scale_worker_service = {
      Sid      = "ScaleWorkerService"
      Effect   = "Allow"
      Action   = ["ecs:UpdateService"]
      Resource = ["arn:${local.partition}:ecs:*:${local.account}:service/*/alethia-worker-*"]
    }

    # Azure identities' client secrets: the job API creates or replaces one
    # per identity (write-only: it never reads them back); the identity
    # steps read them to sign in. Encrypted with the platform key.
    identity_secrets_write = {
      Sid    = "IdentitySecretsWrite"
      Effect = "Allow"
      Action = ["secretsmanager:CreateSecret", "secretsmanager:PutSecretValue", "secretsmanager:TagResource"]
      Resource = [
        "arn:${local.partition}:secretsmanager:${local.region}:${local.account}:secret:${var.identity_secret_prefix}*",
      ]
    }
    identity_secrets_encrypt = {
      Sid      = "IdentitySecretsEncrypt"
      Effect   = "Allow"
      Action   = ["kms:GenerateDataKey", "kms:Decrypt"]
      Resource = [aws_kms_key.platform.arn]
    }
    identity_secrets_read = {
      Sid    = "IdentitySecretsRead"
      Effect = "Allow"
      Action = ["secretsmanager:GetSecretValue", "kms:Decrypt"]
      Resource = [
        "arn:${local.partition}:secretsmanager:${local.region}:${local.account}:secret:${var.identity_secret_prefix}*",
        aws_kms_key.platform.arn,
      ]
    }

    admin_token_read = {
      Sid      = "RegistryAdminToken"
      Effect   = "Allow"
      Action   = ["secretsmanager:GetSecretValue", "kms:Decrypt"]
      Resource = [aws_secretsmanager_secret.admin_token.arn, aws_kms_key.platform.arn]
    }

    start_any_machine = {
      Sid      = "StartJobExecutions"
      Effect   = "Allow"
      Action   = ["states:StartExecution"]
      Resource = values(local.state_machine_arn)
    }

    # The scheduler only ever starts FETCH_RESOURCES jobs.
    start_fetch_resources = {
      Sid      = "StartFetchResources"
      Effect   = "Allow"
      Action   = ["states:StartExecution"]
      Resource = ["${local.state_machine_arn_prefix}fetch_resources"]
    }

    # generate-config: resolve the Runner release's tag to its digest
    # (ecr:DescribeImages; any repository of this account: the release image
    # is configuration).
    release_images = {
      Sid      = "ReleaseImages"
      Effect   = "Allow"
      Action   = ["ecr:DescribeImages"]
      Resource = ["arn:${local.partition}:ecr:*:${local.account}:repository/*"]
    }

    xray = {
      Sid      = "XRay"
      Effect   = "Allow"
      Action   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
      Resource = ["*"]
    }
  }

  # What each function does (shared/handlers: which ports each handler
  # uses; shared/adapters: which API calls each port makes).
  function_statements = {
    "mark-running"         = [local.st.jobs_step]
    "await-turn"           = [local.st.jobs_step, local.st.worker_runs]
    "begin-build"          = [local.st.jobs_step]
    "verify-identity"      = [local.st.jobs_step, local.st.identities_read, local.st.assume_customer_role, local.st.identity_secrets_read]
    "discover-resources"   = [local.st.jobs_step, local.st.identities_read_write, local.st.inventory_write, local.st.assume_customer_role, local.st.identity_secrets_read]
    "generate-config"      = [local.st.jobs_step, local.st.workers_read_write, local.st.config_put, local.st.release_images]
    "register-worker"      = [local.st.jobs_step, local.st.workers_read_write, local.st.worker_secrets, local.st.scale_worker_service, local.st.admin_token_read]
    "abandon-deployment"   = [local.st.jobs_step, local.st.workers_read_write, local.st.scale_worker_service, local.st.admin_token_read, local.st.build_results_read]
    "deregister-worker"    = [local.st.jobs_step, local.st.workers_read_write, local.st.admin_token_read]
    "requeue-jobs"         = [local.st.jobs_step, local.st.jobs_by_runner]
    "check-deployment"     = [local.st.jobs_step, local.st.workers_read_write, local.st.describe_worker_service]
    "report-success"       = [local.st.jobs_step, local.st.worker_runs]
    "report-failure"       = [local.st.jobs_step, local.st.worker_runs, local.st.build_results_read]
    "job-api"              = [local.st.jobs_api, local.st.worker_runs, local.st.idempotency, local.st.identities_read_write, local.st.inventory_read, local.st.workers_read, local.st.start_any_machine, local.st.build_results_read, local.st.build_logs_read, local.st.identity_secrets_write, local.st.identity_secrets_encrypt]
    "runners-api"          = [local.st.runners, local.st.jobs_runner_queue, local.st.jobs_by_runner, local.st.admin_token_read]
    "lease-sweeper"        = [local.st.runners, local.st.jobs_runner_queue, local.st.jobs_by_runner, local.st.admin_token_read]
    "refresh-scheduler"    = [local.st.jobs_api, local.st.idempotency, local.st.identities_scan, local.st.start_fetch_resources]
    "job-sweeper"          = [local.st.jobs_api, local.st.start_any_machine]
    "execution-reconciler" = [local.st.jobs_step, local.st.worker_runs]
  }
}

# ---------------------------------------------------------------------------
# Lambda roles
# ---------------------------------------------------------------------------

data "aws_iam_policy_document" "lambda_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "lambda" {
  for_each = local.functions

  name                 = each.value.name
  description          = "Lambda ${each.value.name}"
  assume_role_policy   = data.aws_iam_policy_document.lambda_trust.json
  permissions_boundary = var.permissions_boundary_arn
}

resource "aws_iam_role_policy" "lambda" {
  for_each = local.functions

  name = "least-privilege"
  role = aws_iam_role.lambda[each.key].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [{
        Sid    = "OwnLogs"
        Effect = "Allow"
        Action = ["logs:CreateLogStream", "logs:PutLogEvents"]
        # The group is created by Terraform (lambda.tf): no CreateLogGroup.
        Resource = ["${aws_cloudwatch_log_group.lambda[each.key].arn}:*"]
      }],
      local.function_statements[each.key],
      var.xray_tracing ? [local.st.xray] : [],
    )
  })
}

# ---------------------------------------------------------------------------
# State machines' role
# ---------------------------------------------------------------------------

data "aws_iam_policy_document" "states_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }
    # Confused-deputy guard: only our own state machines.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["${local.state_machine_arn_prefix}*"]
    }
  }
}

resource "aws_iam_role" "states" {
  name                 = "${local.name}-states"
  description          = "Step Functions state machines of the worker jobs"
  assume_role_policy   = data.aws_iam_policy_document.states_trust.json
  permissions_boundary = var.permissions_boundary_arn
}

data "aws_iam_policy_document" "states" {
  statement {
    sid     = "InvokeSteps"
    actions = ["lambda:InvokeFunction"]
    # Unqualified and qualified (version/alias) ARNs of the nine steps.
    resources = flatten([
      for crate in local.step_functions : [local.function_arn[crate], "${local.function_arn[crate]}:*"]
    ])
  }

  statement {
    sid       = "RunTerraformBuilds"
    actions   = ["codebuild:StartBuild", "codebuild:StopBuild", "codebuild:BatchGetBuilds"]
    resources = ["arn:${local.partition}:codebuild:${local.region}:${local.account}:project/${local.codebuild_project_name}"]
  }

  # codebuild:startBuild.sync waits through a Step Functions-managed rule.
  statement {
    sid       = "SyncIntegrationRule"
    actions   = ["events:PutTargets", "events:PutRule", "events:DescribeRule"]
    resources = ["arn:${local.partition}:events:${local.region}:${local.account}:rule/StepFunctionsGetEventForCodeBuildStartBuildRule"]
  }

  # Vended log delivery to CloudWatch Logs: these actions have no
  # resource-level permissions.
  statement {
    sid = "LogDelivery"
    actions = [
      "logs:CreateLogDelivery",
      "logs:GetLogDelivery",
      "logs:UpdateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:DescribeResourcePolicies",
      "logs:DescribeLogGroups",
    ]
    resources = ["*"]
  }

  dynamic "statement" {
    for_each = var.xray_tracing ? [1] : []
    content {
      sid       = "XRay"
      actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
      resources = ["*"]
    }
  }
}

resource "aws_iam_role_policy" "states" {
  name   = "worker-jobs-states"
  role   = aws_iam_role.states.id
  policy = data.aws_iam_policy_document.states.json
}
