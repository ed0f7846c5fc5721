# Two buckets:
#   state  - the workers' Terraform states, workers/<name>/terraform.tfstate,
#            locked with S3-native lock objects (<key>.tflock, use_lockfile);
#            versioned so that a bad apply can be rolled back by hand.
#   config - the rendered root configs, workers/<name>/<job id>/main.tf.json,
#            written by generate-config and read by the CodeBuild project.
#            Short-lived: each job renders its own (DESTROY_WORKER re-renders),
#            so old ones expire.
# Both: SSE-S3, all public access blocked, ACLs disabled, TLS-only. SSE-S3
# rather than KMS because generate-config sends x-amz-server-side-encryption:
# AES256 on every PutObject (jobs_adapters::s3).

locals {
  buckets = {
    state  = local.state_bucket_name
    config = local.config_bucket_name
  }
}

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_145:SSE-S3: the rendered configurations and Terraform states hold no secret (tokens never reach them; tested), and the writers send AES256 on every PutObject.
  #checkov:skip=CKV_AWS_18:Access to both buckets is by two roles only (generate-config, the CodeBuild project), recorded by CloudTrail; server access logs would add a third bucket to run.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to these objects: the jobs read them by key.
  #checkov:skip=CKV_AWS_21:The state bucket is versioned (aws_s3_bucket_versioning.state); the config bucket holds rendered configurations that each job renders again.
  #checkov:skip=CKV2_AWS_61:Both have lifecycle rules (aws_s3_bucket_lifecycle_configuration.state and .config), which checkov does not match through for_each.
  #checkov:skip=CKV_AWS_144:State is versioned in one region, like the functions that use it; replicate where the organisation's recovery plan asks for it.
  for_each = local.buckets

  bucket        = each.value
  force_destroy = var.bucket_force_destroy
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each = aws_s3_bucket.this

  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

data "aws_iam_policy_document" "bucket_tls_only" {
  for_each = aws_s3_bucket.this

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      each.value.arn,
      "${each.value.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id
  policy = data.aws_iam_policy_document.bucket_tls_only[each.key].json

  # S3 rejects a bucket policy while the public access block is being set.
  depends_on = [aws_s3_bucket_public_access_block.this]
}

# --- state bucket ------------------------------------------------------------

resource "aws_s3_bucket_versioning" "state" {
  bucket = aws_s3_bucket.this["state"].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "state" {
  bucket = aws_s3_bucket.this["state"].id

  rule {
    id     = "expire-old-state-versions"
    status = "Enabled"

    filter {}

    # Every apply leaves a version of the state, every lock a version and a
    # delete marker of <key>.tflock: keep history bounded.
    noncurrent_version_expiration {
      noncurrent_days = var.state_noncurrent_version_days
    }

    expiration {
      expired_object_delete_marker = true
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.state]
}

# --- config bucket -----------------------------------------------------------

resource "aws_s3_bucket_lifecycle_configuration" "config" {
  bucket = aws_s3_bucket.this["config"].id

  rule {
    id     = "expire-rendered-configs"
    status = "Enabled"

    filter {}

    expiration {
      days = var.config_expiration_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}
