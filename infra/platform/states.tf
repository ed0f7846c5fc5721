# The state machines, from statemachines/*.asl.json UNCHANGED (the local
# engine runs the very same files). Names = state_machine_prefix + file name
# without .asl.json; job-api starts them by that name, with the job id as
# the execution name.

resource "aws_cloudwatch_log_group" "states" {
  for_each = local.state_machine_files

  kms_key_id = aws_kms_key.platform.arn

  # /aws/vendedlogs/: keeps the CloudWatch Logs resource policy Step Functions
  # writes under its size limit however many machines log here.
  name              = "/aws/vendedlogs/states/${var.state_machine_prefix}${each.key}"
  retention_in_days = var.log_retention_days
}

resource "aws_sfn_state_machine" "this" {
  for_each = local.state_machine_files

  name       = "${var.state_machine_prefix}${each.key}"
  type       = "STANDARD"
  role_arn   = aws_iam_role.states.arn
  definition = file(each.value)

  # ERROR only and no execution data: payloads carry ids only, but history
  # data (inputs, outputs, error causes) stays out of the logs anyway.
  logging_configuration {
    log_destination = "${aws_cloudwatch_log_group.states[each.key].arn}:*"
    # Every transition with its data: payloads carry ids and small facts,
    # never a secret (the end-to-end tests search the history for tokens).
    include_execution_data = true
    level                  = "ALL"
  }

  tracing_configuration {
    enabled = var.xray_tracing
  }

  # The role must carry its permissions (log delivery, invoke) before the
  # machine is created, or creation fails on the logging configuration.
  depends_on = [aws_iam_role_policy.states]
}
