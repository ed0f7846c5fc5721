# Four EventBridge rules on the default bus:
#   refresh  - schedule -> refresh-scheduler (a FETCH_RESOURCES job per cloud
#              identity). An EventBridge rule rather than EventBridge Scheduler:
#              the handler keys its idempotency on the event's "time", which
#              scheduled rule events carry and keep across retries.
#   reconcile - an execution of ours ended FAILED/TIMED_OUT/ABORTED ->
#              execution-reconciler marks its job FAILED if no step did.
#   sweep    - schedule -> job-sweeper (starts a job accepted but never
#              started: its StartExecution was lost).
#   leases   - schedule -> lease-sweeper (requeues the jobs of runners that
#              stopped heartbeating).

resource "aws_cloudwatch_event_rule" "refresh" {
  name                = "${local.name}-refresh-resources"
  description         = "Refresh every cloud identity's discovered resources"
  schedule_expression = var.refresh_schedule
  state               = var.refresh_schedule_enabled ? "ENABLED" : "DISABLED"
}

resource "aws_cloudwatch_event_target" "refresh" {
  rule = aws_cloudwatch_event_rule.refresh.name
  arn  = aws_lambda_function.this["refresh-scheduler"].arn

  # A missed tick is made up by the next one; do not pile up old ones.
  retry_policy {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = 3
  }
}

resource "aws_lambda_permission" "refresh" {
  statement_id  = "AllowRefreshSchedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this["refresh-scheduler"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.refresh.arn
}

resource "aws_cloudwatch_event_rule" "execution_ended" {
  name        = "${local.name}-execution-ended"
  description = "An execution of a worker-jobs state machine ended FAILED, TIMED_OUT or ABORTED"

  event_pattern = jsonencode({
    source        = ["aws.states"]
    "detail-type" = ["Step Functions Execution Status Change"]
    detail = {
      status          = ["FAILED", "TIMED_OUT", "ABORTED"]
      stateMachineArn = [for m in aws_sfn_state_machine.this : m.arn]
    }
  })
}

resource "aws_cloudwatch_event_target" "execution_ended" {
  rule = aws_cloudwatch_event_rule.execution_ended.name
  arn  = aws_lambda_function.this["execution-reconciler"].arn

  retry_policy {
    maximum_event_age_in_seconds = 86400
    maximum_retry_attempts       = 185
  }
}

resource "aws_lambda_permission" "execution_ended" {
  statement_id  = "AllowExecutionEndedRule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this["execution-reconciler"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.execution_ended.arn
}

resource "aws_cloudwatch_event_rule" "sweep" {
  name                = "${local.name}-sweep-jobs"
  description         = "Start jobs accepted but never started"
  schedule_expression = var.sweep_schedule
}

resource "aws_cloudwatch_event_target" "sweep" {
  rule = aws_cloudwatch_event_rule.sweep.name
  arn  = aws_lambda_function.this["job-sweeper"].arn

  retry_policy {
    maximum_event_age_in_seconds = 600
    maximum_retry_attempts       = 2
  }
}

resource "aws_lambda_permission" "sweep" {
  statement_id  = "AllowSweepSchedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this["job-sweeper"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.sweep.arn
}

resource "aws_cloudwatch_event_rule" "leases" {
  name                = "${local.name}-sweep-leases"
  description         = "Requeue the jobs of runners that stopped heartbeating"
  schedule_expression = var.lease_sweep_schedule
}

resource "aws_cloudwatch_event_target" "leases" {
  rule = aws_cloudwatch_event_rule.leases.name
  arn  = aws_lambda_function.this["lease-sweeper"].arn

  retry_policy {
    maximum_event_age_in_seconds = 300
    maximum_retry_attempts       = 2
  }
}

resource "aws_lambda_permission" "leases" {
  statement_id  = "AllowLeaseSweepSchedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this["lease-sweeper"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.leases.arn
}
