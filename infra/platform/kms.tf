# The platform's customer managed key: it encrypts the stack's CloudWatch log
# groups (Lambda, state machines, API access logs, CodeBuild) and the
# registry's admin token. Rotated yearly by KMS.
#
# Not for the tables, buckets or the Runners' own resources: those stay with
# the AWS managed keys (see the checkov:skip reasons at each), because a key
# here would have to be granted to every role that reads them and, for the
# Runners, exist in every region a Runner is deployed to.

data "aws_iam_policy_document" "platform_key" {
  #checkov:skip=CKV_AWS_109:A key policy: "*" is the key itself, and kms:* for the account root is AWS's default key policy (IAM policies in the account then decide who may use it).
  #checkov:skip=CKV_AWS_111:A key policy: "*" is the key itself, and kms:* for the account root is AWS's default key policy (IAM policies in the account then decide who may use it).
  #checkov:skip=CKV_AWS_356:A key policy: "*" is the key itself (KMS key policies name no other resource).
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account}:root"]
    }
  }

  # CloudWatch Logs encrypts this account's log groups in this region with it
  # (CloudWatch Logs user guide, "Encrypt log data using AWS KMS").
  statement {
    sid = "CloudWatchLogs"
    actions = [
      "kms:Encrypt*",
      "kms:Decrypt*",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:Describe*",
    ]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account}:log-group:*"]
    }
  }
}

resource "aws_kms_key" "platform" {
  description             = "worker-jobs: log groups and the registry admin token"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.platform_key.json
}

resource "aws_kms_alias" "platform" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.platform.key_id
}
