# One Alethia Runner ("worker") on ECS Fargate.
#
# The service starts with desired_count = 0. The RegisterWorker step puts
# {"worker_id": ..., "token": ...} into the credentials secret and then scales
# the service to 1; Terraform ignores desired_count from then on.
#
# Every resource has a fixed name derived from the worker's name: a build
# that finds resources its state lacks (after a killed apply; on every
# destroy) imports them by those names (adopt() in
# infra/buildspec/terraform-run.sh). A resource added here must be added there.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  name    = var.worker_name
  account = data.aws_caller_identity.current.account_id
  region  = data.aws_region.current.name

  # Also set as provider default_tags by the rendered root; repeated here so the
  # module tags its resources on its own.
  tags = merge(var.tags, {
    "alethia:worker"     = var.worker_name
    "alethia:job-id"     = var.job_id
    "alethia:managed-by" = "worker-jobs"
  })

  container_name = "runner"
}

# ---------------------------------------------------------------------------
# Network: default VPC and its default-for-AZ subnets unless given
# ---------------------------------------------------------------------------

data "aws_vpc" "default" {
  count   = var.vpc_id == null ? 1 : 0
  default = true
}

locals {
  vpc_id = var.vpc_id != null ? var.vpc_id : data.aws_vpc.default[0].id
}

data "aws_subnets" "default" {
  count = var.subnet_ids == null ? 1 : 0

  filter {
    name   = "vpc-id"
    values = [local.vpc_id]
  }
  filter {
    name   = "default-for-az"
    values = ["true"]
  }
}

locals {
  subnet_ids = var.subnet_ids != null ? var.subnet_ids : sort(data.aws_subnets.default[0].ids)
}

resource "aws_security_group" "runner" {
  name        = "alethia-worker-${local.name}"
  description = "Alethia worker ${local.name}: egress only"
  vpc_id      = local.vpc_id

  # No ingress: the Runner only calls out (platform API, image registry, AWS APIs).
  #checkov:skip=CKV_AWS_382:A Runner executes the platform's jobs, which reach destinations this template cannot know (package registries, git over SSH, customer endpoints); egress is bounded by the VPC and subnets the deploy names.
  egress {
    description = "All outbound"
    protocol    = "-1"
    from_port   = 0
    to_port     = 0
    cidr_blocks = ["0.0.0.0/0"]
  }

  tags = merge(local.tags, { Name = "alethia-worker-${local.name}" })
}

# ---------------------------------------------------------------------------
# ECS cluster (one per worker unless an existing one is given)
# ---------------------------------------------------------------------------

resource "aws_ecs_cluster" "runner" {
  count = var.existing_cluster_name == null ? 1 : 0
  name  = "alethia-worker-${local.name}"
  tags  = local.tags
}

data "aws_ecs_cluster" "existing" {
  count        = var.existing_cluster_name == null ? 0 : 1
  cluster_name = var.existing_cluster_name
}

locals {
  cluster_arn  = var.existing_cluster_name == null ? aws_ecs_cluster.runner[0].arn : data.aws_ecs_cluster.existing[0].arn
  cluster_name = var.existing_cluster_name == null ? aws_ecs_cluster.runner[0].name : data.aws_ecs_cluster.existing[0].cluster_name
}

# ---------------------------------------------------------------------------
# Logs
# ---------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "runner" {
  #checkov:skip=CKV_AWS_158:Encrypted by CloudWatch Logs; a customer managed key would have to exist in every region a Runner is deployed to.
  #checkov:skip=CKV_AWS_338:Retention is the platform's setting (RUNNER_LOG_RETENTION_DAYS): a Runner's logs are operational, not an audit trail.
  name              = "/alethia/workers/${local.name}"
  retention_in_days = var.log_retention_days
  tags              = local.tags
}

# ---------------------------------------------------------------------------
# Credentials secret. Created WITHOUT a value: RegisterWorker does
# PutSecretValue {"worker_id": ..., "token": ...}, so the token is never in
# Terraform state. recovery_window_in_days = 0 deletes it at once on destroy.
# ---------------------------------------------------------------------------

resource "aws_secretsmanager_secret" "credentials" {
  #checkov:skip=CKV_AWS_149:Encrypted with the account's aws/secretsmanager key: a customer managed key would have to exist in every region a Runner is deployed to.
  #checkov:skip=CKV2_AWS_57:Rotated by registration: every (re-)registration of the worker writes a new token and the old one stops working.
  name                    = "alethia/workers/${local.name}/credentials"
  description             = "Registration of Alethia worker ${local.name} (worker_id, token)"
  recovery_window_in_days = 0
  tags                    = local.tags
}

# ---------------------------------------------------------------------------
# IAM: execution role (pull image, write logs, read the secret) and an empty
# task role for the Runner's own AWS calls.
# ---------------------------------------------------------------------------

data "aws_iam_policy_document" "ecs_tasks_trust" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    # Confused-deputy guard: only ECS tasks of this account may assume it.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "alethia-worker-${local.name}-exec"
  description        = "ECS execution role of Alethia worker ${local.name}"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_trust.json
  tags               = local.tags
}

# Inline equivalent of AmazonECSTaskExecutionRolePolicy, with logs narrowed to
# this worker's log group, plus read access to this worker's secret only.
data "aws_iam_policy_document" "execution" {
  #checkov:skip=CKV_AWS_356:ecr:GetAuthorizationToken takes no resource ("*" is the only value IAM accepts); every other action names its resource.
  statement {
    sid = "PullImages"
    actions = [
      "ecr:GetAuthorizationToken",
      "ecr:BatchCheckLayerAvailability",
      "ecr:GetDownloadUrlForLayer",
      "ecr:BatchGetImage",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.runner.arn}:*"]
  }

  statement {
    sid       = "ReadOwnCredentials"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.credentials.arn]
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "alethia-worker-execution"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

resource "aws_iam_role" "task" {
  name               = "alethia-worker-${local.name}-task"
  description        = "Task role of Alethia worker ${local.name} (no permissions)"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_trust.json
  tags               = local.tags
}

# ---------------------------------------------------------------------------
# Task definition and service
# ---------------------------------------------------------------------------

resource "aws_ecs_task_definition" "runner" {
  family                   = "alethia-worker-${local.name}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.cpu)
  memory                   = tostring(var.memory)
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  container_definitions = jsonencode([
    {
      name        = local.container_name
      image       = var.image
      essential   = true
      stopTimeout = var.stop_timeout

      environment = [
        { name = "PLATFORM_API_URL", value = var.platform_api_url },
        { name = "RUNNER_POOL", value = var.runner_pool },
        { name = "WORKER_NAME", value = var.worker_name },
      ]

      # Resolved by the ECS agent at task start with the execution role.
      secrets = [
        { name = "WORKER_ID", valueFrom = "${aws_secretsmanager_secret.credentials.arn}:worker_id::" },
        { name = "WORKER_TOKEN", valueFrom = "${aws_secretsmanager_secret.credentials.arn}:token::" },
      ]

      logConfiguration = {
        logDriver = "awslogs"
        options = {
          "awslogs-group"         = aws_cloudwatch_log_group.runner.name
          "awslogs-region"        = local.region
          "awslogs-stream-prefix" = "runner"
        }
      }
    }
  ])

  tags = local.tags

  # A new image (UPDATE_WORKER re-rendering the config) registers a new
  # revision: move the service to it before the old one is deregistered.
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_ecs_service" "runner" {
  #checkov:skip=CKV_AWS_333:A public IP only when the deploy asks for it (assign_public_ip, default false), for public subnets without a NAT.
  name            = "alethia-worker-${local.name}"
  cluster         = local.cluster_arn
  task_definition = aws_ecs_task_definition.runner.arn
  launch_type     = "FARGATE"

  # 0 until RegisterWorker has put the credentials into the secret and scales
  # the service to 1 itself (see lifecycle below).
  desired_count = 0

  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  # A new trigger (the UPDATE_WORKER job's id) rolls the service even when
  # the task definition is unchanged: an update always redeploys.
  force_new_deployment = true
  triggers = {
    deployment = var.deployment_trigger
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = local.subnet_ids
    security_groups  = [aws_security_group.runner.id]
    assign_public_ip = var.assign_public_ip
  }

  propagate_tags = "SERVICE"
  tags           = local.tags

  lifecycle {
    precondition {
      condition     = length(local.subnet_ids) > 0
      error_message = "No subnets: pass subnet_ids (a VPC other than the default one has no default-for-AZ subnets)."
    }

    ignore_changes = [
      # Owned by RegisterWorker (0 -> 1) and DESTROY/UPDATE steps after creation.
      desired_count,
      # Created with the provider default (DISABLED) and never changed by us.
      # Ignored because the moto emulator does not store it, which would show as
      # a permanent diff; harmless on AWS.
      availability_zone_rebalancing,
    ]
  }

  # The execution role's policy must exist before a task can start.
  depends_on = [aws_iam_role_policy.execution]
}
