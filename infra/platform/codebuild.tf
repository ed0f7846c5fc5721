# The Terraform step: CodeBuild project "worker-jobs-terraform" (the name the
# state machines use in codebuild:startBuild.sync). It runs
# infra/buildspec/terraform.yml from the source zip, which applies or
# destroys one Runner stack (infra/modules/fargate-runner) with the
# platform's own credentials: this role.
#
# Source: an S3 zip whose ROOT holds the infra/ directory, so that
# CODEBUILD_SRC_DIR/infra/modules and CODEBUILD_SRC_DIR/infra/buildspec exist
# (terraform-run.sh checks). The buildspec is taken from the same zip rather
# than inlined here, so buildspec, terraform-run.sh, the module and its lock
# file always come from one snapshot. Inputs (TF_ACTION, TF_CONFIG_S3_URI,
# WORKER_NAME) arrive as EnvironmentVariablesOverride from the state machine;
# the project sets none.

locals {
  build_source_bucket = split("/", var.build_source_s3)[0]

  codebuild_image = {
    x86_64  = { image = "aws/codebuild/amazonlinux2-x86_64-standard:5.0", type = "LINUX_CONTAINER" }
    aarch64 = { image = "aws/codebuild/amazonlinux2-aarch64-standard:3.0", type = "ARM_CONTAINER" }
  }[var.codebuild_architecture]

  codebuild_project_arn = "arn:${local.partition}:codebuild:${local.region}:${local.account}:project/${local.codebuild_project_name}"

  # Names and tags of what a Runner stack creates (fargate-runner/main.tf):
  # everything is named alethia-worker-<name> or /alethia/workers/<name>, and
  # tagged alethia:managed-by = worker-jobs (module tags and the rendered
  # root's default_tags). Any region: workers go where the job asks.
  runner_arns = {
    roles          = "arn:${local.partition}:iam::${local.account}:role/alethia-worker-*"
    clusters       = "arn:${local.partition}:ecs:*:${local.account}:cluster/alethia-worker-*"
    services       = "arn:${local.partition}:ecs:*:${local.account}:service/*/alethia-worker-*"
    task_defs      = "arn:${local.partition}:ecs:*:${local.account}:task-definition/alethia-worker-*:*"
    log_groups     = "arn:${local.partition}:logs:*:${local.account}:log-group:/alethia/workers/*"
    secrets        = "arn:${local.partition}:secretsmanager:*:${local.account}:secret:alethia/workers/*"
    security_group = "arn:${local.partition}:ec2:*:${local.account}:security-group/*"
    vpcs           = "arn:${local.partition}:ec2:*:${local.account}:vpc/*"
  }
}

resource "aws_cloudwatch_log_group" "codebuild" {
  name              = "/aws/codebuild/${local.codebuild_project_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.platform.arn
}

resource "aws_codebuild_project" "terraform" {
  name          = local.codebuild_project_name
  description   = "worker-jobs: terraform apply/destroy of one Runner stack (infra/buildspec/terraform.yml)"
  service_role  = aws_iam_role.codebuild.arn
  build_timeout = var.build_timeout_minutes
  # Longer in the queue than this and the state's 3600 s timeout is near.
  queued_timeout         = 30
  concurrent_build_limit = var.codebuild_concurrent_build_limit

  source {
    type      = "S3"
    location  = var.build_source_s3
    buildspec = "infra/buildspec/terraform.yml"
  }

  artifacts {
    type = "NO_ARTIFACTS"
  }

  environment {
    compute_type                = var.codebuild_compute_type
    image                       = local.codebuild_image.image
    type                        = local.codebuild_image.type
    image_pull_credentials_type = "CODEBUILD"
    privileged_mode             = false
  }

  logs_config {
    cloudwatch_logs {
      group_name = aws_cloudwatch_log_group.codebuild.name
    }
    s3_logs {
      status = "DISABLED"
    }
  }

  depends_on = [aws_iam_role_policy.codebuild]
}

# ---------------------------------------------------------------------------
# Role
# ---------------------------------------------------------------------------

data "aws_iam_policy_document" "codebuild_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["codebuild.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [local.codebuild_project_arn]
    }
  }
}

resource "aws_iam_role" "codebuild" {
  name                 = "${local.name}-codebuild-terraform"
  description          = "CodeBuild ${local.codebuild_project_name}: creates and destroys Runner stacks"
  assume_role_policy   = data.aws_iam_policy_document.codebuild_trust.json
  permissions_boundary = var.permissions_boundary_arn
}

data "aws_iam_policy_document" "codebuild" {
  #checkov:skip=CKV_AWS_356:The Describe/List calls the AWS provider makes while planning a Runner stack (ec2:Describe*, iam:List*, ...) take no resource or must see the whole account; every action that changes anything is scoped by name prefix or by the alethia:managed-by tag.
  # --- the build itself ----------------------------------------------------

  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.codebuild.arn}:*"]
  }

  statement {
    sid       = "SourceZip"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["arn:${local.partition}:s3:::${var.build_source_s3}"]
  }

  statement {
    sid       = "SourceBucket"
    actions   = ["s3:GetBucketAcl", "s3:GetBucketLocation"]
    resources = ["arn:${local.partition}:s3:::${local.build_source_bucket}"]
  }

  statement {
    sid       = "ReadRenderedConfigs"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.this["config"].arn}/${local.worker_object_prefix}*"]
  }

  # What each build writes back beside the configurations: its result object
  # (exit status, Terraform's errors) and its in-flight mark, which tells the
  # next build of the worker whether this one died (see terraform-run.sh).
  statement {
    sid       = "BuildResultsAndInflightMarks"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.this["config"].arn}/${local.worker_object_prefix}*"]
  }

  statement {
    sid       = "ConfigBucketListWorkers"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.this["config"].arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.worker_object_prefix}*"]
    }
  }

  # S3 backend: the state and its lock object (<key>.tflock, created with a
  # conditional PutObject and removed with DeleteObject).
  statement {
    sid       = "WorkerStates"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.this["state"].arn}/${local.worker_object_prefix}*"]
  }

  statement {
    sid       = "StateBucketList"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.this["state"].arn]
  }

  # --- EC2: the egress-only security group ----------------------------------

  # Describe* has no resource-level permissions (data.aws_vpc reads VPC
  # attributes and the main route table).
  statement {
    sid = "Ec2Read"
    actions = [
      "ec2:DescribeAccountAttributes",
      "ec2:DescribeNetworkInterfaces",
      "ec2:DescribeRouteTables",
      "ec2:DescribeSecurityGroupRules",
      "ec2:DescribeSecurityGroups",
      "ec2:DescribeSubnets",
      "ec2:DescribeVpcAttribute",
      "ec2:DescribeVpcs",
    ]
    resources = ["*"]
  }

  # CreateSecurityGroup is authorised on the VPC (no tags there) and on the
  # new group, which must be created carrying the Runner tag.
  statement {
    sid       = "Ec2CreateSecurityGroupInVpc"
    actions   = ["ec2:CreateSecurityGroup"]
    resources = [local.runner_arns.vpcs]
  }

  statement {
    sid       = "Ec2CreateTaggedSecurityGroup"
    actions   = ["ec2:CreateSecurityGroup"]
    resources = [local.runner_arns.security_group]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${local.runner_tag_key}"
      values   = [local.runner_tag_value]
    }
  }

  statement {
    sid       = "Ec2TagOnCreate"
    actions   = ["ec2:CreateTags"]
    resources = [local.runner_arns.security_group]
    condition {
      test     = "StringEquals"
      variable = "ec2:CreateAction"
      values   = ["CreateSecurityGroup"]
    }
  }

  # Security groups are named by id in ARNs: scope by tag.
  statement {
    sid = "Ec2ManageRunnerSecurityGroups"
    actions = [
      "ec2:AuthorizeSecurityGroupEgress",
      "ec2:AuthorizeSecurityGroupIngress",
      "ec2:RevokeSecurityGroupEgress",
      "ec2:RevokeSecurityGroupIngress",
      "ec2:UpdateSecurityGroupRuleDescriptionsEgress",
      "ec2:DeleteSecurityGroup",
      "ec2:CreateTags",
      "ec2:DeleteTags",
    ]
    resources = [local.runner_arns.security_group]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.runner_tag_key}"
      values   = [local.runner_tag_value]
    }
  }

  # --- ECS ------------------------------------------------------------------

  statement {
    sid       = "EcsClusters"
    actions   = ["ecs:CreateCluster", "ecs:DeleteCluster"]
    resources = [local.runner_arns.clusters]
  }

  # Any cluster: a worker may run in an existing one (data.aws_ecs_cluster).
  statement {
    sid       = "EcsDescribeClusters"
    actions   = ["ecs:DescribeClusters"]
    resources = ["arn:${local.partition}:ecs:*:${local.account}:cluster/*"]
  }

  statement {
    sid       = "EcsServices"
    actions   = ["ecs:CreateService", "ecs:UpdateService", "ecs:DeleteService", "ecs:DescribeServices"]
    resources = [local.runner_arns.services]
  }

  # Task definition registration has no usable resource-level scope. What a
  # task definition can do is bounded by the roles it may be given
  # (iam:PassRole below: alethia-worker-* only).
  statement {
    sid       = "EcsTaskDefinitions"
    actions   = ["ecs:RegisterTaskDefinition", "ecs:DeregisterTaskDefinition", "ecs:DescribeTaskDefinition", "ecs:ListTaskDefinitions"]
    resources = ["*"]
  }

  # Tag-on-create (ECS checks ecs:TagResource for tags in Create* calls) and
  # tag updates.
  statement {
    sid       = "EcsTags"
    actions   = ["ecs:TagResource", "ecs:UntagResource", "ecs:ListTagsForResource"]
    resources = [local.runner_arns.clusters, local.runner_arns.services, local.runner_arns.task_defs]
  }

  # --- IAM: the execution and task roles -----------------------------------

  statement {
    sid = "IamRunnerRoles"
    actions = [
      "iam:CreateRole",
      "iam:GetRole",
      "iam:DeleteRole",
      "iam:UpdateRole",
      "iam:UpdateRoleDescription",
      "iam:UpdateAssumeRolePolicy",
      "iam:TagRole",
      "iam:UntagRole",
      "iam:ListRoleTags",
      "iam:PutRolePolicy",
      "iam:GetRolePolicy",
      "iam:DeleteRolePolicy",
      "iam:ListRolePolicies",
      "iam:ListAttachedRolePolicies",
      "iam:ListInstanceProfilesForRole",
    ]
    resources = [local.runner_arns.roles]
  }

  statement {
    sid       = "IamPassRunnerRolesToEcsTasks"
    actions   = ["iam:PassRole"]
    resources = [local.runner_arns.roles]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }

  # The first ECS service in an account creates ECS's service-linked role.
  statement {
    sid       = "IamEcsServiceLinkedRole"
    actions   = ["iam:CreateServiceLinkedRole"]
    resources = ["arn:${local.partition}:iam::${local.account}:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS"]
    condition {
      test     = "StringEquals"
      variable = "iam:AWSServiceName"
      values   = ["ecs.amazonaws.com"]
    }
  }

  # --- CloudWatch Logs: the Runner's log group -------------------------------

  statement {
    sid = "RunnerLogGroups"
    actions = [
      "logs:CreateLogGroup",
      "logs:DeleteLogGroup",
      "logs:PutRetentionPolicy",
      "logs:DeleteRetentionPolicy",
      "logs:TagResource",
      "logs:UntagResource",
      "logs:ListTagsForResource",
      "logs:TagLogGroup",
      "logs:UntagLogGroup",
      "logs:ListTagsLogGroup",
    ]
    resources = [local.runner_arns.log_groups]
  }

  statement {
    sid       = "LogsDescribe"
    actions   = ["logs:DescribeLogGroups"]
    resources = ["*"]
  }

  # --- Secrets Manager: the Runner's credentials secret (created EMPTY) -------
  # No GetSecretValue/PutSecretValue: the value is written by register-worker
  # and read by ECS with the Runner's execution role, never by Terraform.

  statement {
    sid = "RunnerSecrets"
    actions = [
      "secretsmanager:CreateSecret",
      "secretsmanager:DeleteSecret",
      "secretsmanager:DescribeSecret",
      "secretsmanager:GetResourcePolicy",
      "secretsmanager:UpdateSecret",
      "secretsmanager:TagResource",
      "secretsmanager:UntagResource",
    ]
    resources = [local.runner_arns.secrets]
  }
}

resource "aws_iam_role_policy" "codebuild" {
  name   = "runner-stacks"
  role   = aws_iam_role.codebuild.id
  policy = data.aws_iam_policy_document.codebuild.json
}
