# Every table of infra/tables.json (keys starting with "_" are comments), the
# same definition the Rust code (jobs_adapters::tables) and the local stack
# create their tables from, so names, keys and indexes cannot drift.

resource "aws_dynamodb_table" "this" {
  #checkov:skip=CKV_AWS_119:Encrypted at rest with the AWS owned key; the items hold no secret (tokens only as hashes, credentials never), and a customer managed key would have to be granted to every function that reads them.
  for_each = local.table_specs

  name         = "${var.table_prefix}${each.key}"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = each.value.hash_key
  range_key    = try(each.value.range_key, null)

  dynamic "attribute" {
    for_each = each.value.attributes
    content {
      name = attribute.key
      type = attribute.value
    }
  }

  dynamic "global_secondary_index" {
    for_each = try(each.value.global_secondary_indexes, [])
    content {
      name     = global_secondary_index.value.name
      hash_key = global_secondary_index.value.hash_key
      # try(): range_key is optional in tables.json.
      range_key = try(global_secondary_index.value.range_key, null)
      # An index with a projection copies only those attributes (what its
      # queries read: the job listings); the runner queues read whole items.
      projection_type    = can(global_secondary_index.value.projection) ? "INCLUDE" : "ALL"
      non_key_attributes = try(global_secondary_index.value.projection, null)
    }
  }

  point_in_time_recovery {
    enabled = true
  }

  # Finished jobs and idempotency keys expire (JOB_RETENTION_DAYS,
  # IDEMPOTENCY_KEY_RETENTION_HOURS): the code writes the attribute.
  dynamic "ttl" {
    for_each = try([each.value.ttl_attribute], [])
    content {
      attribute_name = ttl.value
      enabled        = true
    }
  }

  # AWS-managed key (aws/dynamodb): encryption at rest without extra KMS
  # grants on the function roles. A customer managed key would need
  # kms:Decrypt/Encrypt/GenerateDataKey on every role that touches a table.
  server_side_encryption {
    enabled = true
  }

  deletion_protection_enabled = var.table_deletion_protection
}

locals {
  table_arn = { for k, t in aws_dynamodb_table.this : k => t.arn }

  # "<table ARN>/index/<name>" for a logical table and index name.
  index_arn = {
    for pair in flatten([
      for k, spec in local.table_specs : [
        for idx in try(spec.global_secondary_indexes, []) : { table = k, index = idx.name }
      ]
    ]) : "${pair.table}/${pair.index}" => "${aws_dynamodb_table.this[pair.table].arn}/index/${pair.index}"
  }
}
