#!/bin/sh
# The Terraform step of the worker jobs, called by terraform.yml (CodeBuild and
# the local Step Functions engine alike).
#
#   terraform-run.sh check                 validate the inputs (pre_build)
#   terraform-run.sh run EXPORTS_FILE      init + apply|destroy|plan in a fresh temp dir;
#                                          on apply, write the exported variables
#                                          to EXPORTS_FILE as NAME=value lines
#
# Inputs are documented in terraform.yml. Exit status: 0 success, 2 bad input,
# 3 plan found changes, otherwise the failing command's status.
#
# While it runs, `run` reports its progress to TF_PROGRESS_S3_URI, which the
# job API shows: {"id": the build, "log_group", "log_stream", "plan": {"add",
# "change", "destroy"} once planned}. The plan is made, reported, then applied
# as planned; its three numbers are also exported (TF_PLAN_ADD, ...).
#
# What a person reads when a build fails must reach them on AWS too, where a
# failed startBuild.sync task's Cause is the Build object, not this log. So
# `run` writes a result object to TF_RESULT_S3_URI whenever it ends:
#   {"action", "worker", "exit_status", "build_id",
#    "errors": Terraform's `Error:` diagnostics, "tail": the last lines printed}
#
# A build can also be killed outright (a lost container, a SIGKILL) in the
# middle of an apply: Terraform then neither saves what it created since its
# last state snapshot nor releases its state lock. `run` therefore marks the
# worker's build as in flight (s3://<config bucket>/workers/<name>/
# terraform-inflight.json, removed on every exit it controls). A build that
# finds the mark knows the previous one died. One lifecycle job runs per
# worker at a time (the run queue), so the lock it finds is the dead build's
# and is released, and whatever the Runner template creates under its fixed
# names but the state lacks is imported (adopted) before the apply or
# destroy: nothing is left behind.
set -eu

# Outputs exported as CodeBuild exported-variables: "output_name VARIABLE".
EXPORTS='cluster_arn TF_OUT_CLUSTER_ARN
service_name TF_OUT_SERVICE_NAME
secret_arn TF_OUT_SECRET_ARN
task_definition_arn TF_OUT_TASK_DEFINITION_ARN
log_group_name TF_OUT_LOG_GROUP_NAME'

# Everything this script and Terraform print, for the result object.
transcript=$(mktemp "${TMPDIR:-/tmp}/tf-transcript.XXXXXX")

log() { printf 'terraform-run: %s\n' "$*" | tee -a "$transcript" >&2; }
die() {
  log "$*"
  exit 2
}

# Runs a command with its output streamed and kept in the transcript; the
# status is the command's. `tee` ignores interrupts: an interrupted Terraform
# keeps writing while it saves its state, and must not lose its output pipe.
logged() {
  {
    rc=0
    "$@" 2>&1 || rc=$?
    echo "$rc" >"$transcript.status"
  } | (
    trap '' INT TERM
    exec tee -a "$transcript"
  )
  return "$(cat "$transcript.status")"
}

# stdin as the body of a JSON string: control characters dropped, tabs as
# spaces, backslashes and quotes escaped, lines joined with \n.
json_text() {
  tr -d '\000-\010\013-\037' | tr '\t' ' ' | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' |
    awk 'NR > 1 { printf "\\n" } { printf "%s", $0 }'
}

# Terraform's diagnostics: each block from its `Error:` line to the closing
# margin, at most 200 lines.
diagnostics() {
  awk 'index($0, "Error: ") { inside = 1 } inside { print; if (++n >= 200) exit } index($0, "╵") == 1 { inside = 0 }' "$transcript"
}

build_id=${CODEBUILD_BUILD_ID:-}
# CodeBuild logs to the project's group, /aws/codebuild/<project>, in the
# stream CODEBUILD_LOG_PATH names.
log_group=
if [ -n "$build_id" ]; then log_group="/aws/codebuild/${build_id%%:*}"; fi
log_stream=${CODEBUILD_LOG_PATH:-}
plan_json=null

# "id", "log_group", "log_stream" and "plan" as JSON members.
build_members() {
  printf '"id":"%s","log_group":"%s","log_stream":"%s","plan":%s' \
    "$(printf %s "$build_id" | json_text)" "$(printf %s "$log_group" | json_text)" \
    "$(printf %s "$log_stream" | json_text)" "$plan_json"
}

write_progress() {
  [ -n "${TF_PROGRESS_S3_URI:-}" ] || return 0
  { printf '{'; build_members; printf '}\n'; } |
    aws s3 cp --only-show-errors --content-type application/json - "$TF_PROGRESS_S3_URI" ||
    log "could not report progress to $TF_PROGRESS_S3_URI"
}

# Reads the plan's summary from Terraform's output ("Plan: 1 to add, 2 to
# change, 3 to destroy." or "No changes."), reports it and adds it to the
# exported variables.
record_plan() {
  line=$(grep -E '^(Plan: .* to destroy|No changes\.)' "$transcript" | tail -n 1 || true)
  case "$line" in
    "No changes."*) add=0 change=0 destroy=0 ;;
    Plan:*)
      add=$(printf %s "$line" | sed -n 's/.* \([0-9][0-9]*\) to add.*/\1/p')
      change=$(printf %s "$line" | sed -n 's/.* \([0-9][0-9]*\) to change.*/\1/p')
      destroy=$(printf %s "$line" | sed -n 's/.* \([0-9][0-9]*\) to destroy.*/\1/p')
      ;;
    *) return 0 ;;
  esac
  plan_json=$(printf '{"add":%d,"change":%d,"destroy":%d}' "${add:-0}" "${change:-0}" "${destroy:-0}")
  log "plan: ${add:-0} to add, ${change:-0} to change, ${destroy:-0} to destroy"
  printf 'TF_PLAN_ADD=%d\nTF_PLAN_CHANGE=%d\nTF_PLAN_DESTROY=%d\n' "${add:-0}" "${change:-0}" "${destroy:-0}" >>"$exports_file"
  write_progress
}

write_result() {
  [ -n "${TF_RESULT_S3_URI:-}" ] || return 0
  result="$transcript.json"
  {
    printf '{"action":"%s","worker":"%s","exit_status":%s,"build_id":"%s","log_group":"%s","log_stream":"%s","plan":%s,"errors":"' \
      "$(printf %s "${TF_ACTION:-}" | json_text)" "$(printf %s "${WORKER_NAME:-}" | json_text)" \
      "$1" "$(printf %s "$build_id" | json_text)" "$(printf %s "$log_group" | json_text)" \
      "$(printf %s "$log_stream" | json_text)" "$plan_json"
    diagnostics | json_text
    printf '","tail":"'
    tail -n 40 "$transcript" | json_text
    printf '"}\n'
  } >"$result"
  aws s3 cp --only-show-errors --content-type application/json "$result" "$TF_RESULT_S3_URI"
}

marker=
marker_written=0
work=

# On every exit `run` controls: the result object written, the in-flight
# mark removed, the work directory gone. The status is the run's.
finish() {
  code=$1
  trap - EXIT
  if [ "$marker_written" = 1 ]; then
    aws s3 rm --only-show-errors "$marker" || log "could not remove $marker (the next build will look for leftovers)"
  fi
  write_result "$code" || log "could not write the result object to ${TF_RESULT_S3_URI:-}"
  if [ -n "$work" ]; then rm -rf "$work"; fi
  rm -f "$transcript" "$transcript.status" "$transcript.json"
  exit "$code"
}

check_inputs() {
  case "${TF_ACTION:-}" in
    apply | destroy | plan) ;;
    *) die "TF_ACTION must be 'apply', 'destroy' or 'plan' (got '${TF_ACTION:-}')" ;;
  esac
  case "${TF_CONFIG_S3_URI:-}" in
    s3://?*/?*) ;;
    *) die "TF_CONFIG_S3_URI must be s3://bucket/key (got '${TF_CONFIG_S3_URI:-}')" ;;
  esac
  for uri in "${TF_RESULT_S3_URI:-s3://unset/result}" "${TF_PROGRESS_S3_URI:-s3://unset/progress}"; do
    case "$uri" in
      s3://?*/?*) ;;
      *) die "TF_RESULT_S3_URI and TF_PROGRESS_S3_URI must be s3://bucket/key (got '$uri')" ;;
    esac
  done
  if ! printf '%s' "${WORKER_NAME:-}" | grep -Eqx '[a-z0-9][a-z0-9-]{0,38}[a-z0-9]'; then
    die "WORKER_NAME must be 2-40 chars of [a-z0-9-] (got '${WORKER_NAME:-}')"
  fi
  if [ -n "${WORKER_REGION:-}" ] && ! printf '%s' "$WORKER_REGION" | grep -Eqx '[a-z]{2}(-[a-z]+)+-[0-9]'; then
    die "WORKER_REGION must be an AWS region such as eu-west-1 (got '$WORKER_REGION')"
  fi
  [ -n "${CODEBUILD_SRC_DIR:-}" ] || die "CODEBUILD_SRC_DIR must be set (repository root)"
  [ -d "$CODEBUILD_SRC_DIR/infra/modules" ] || die "no infra/modules under CODEBUILD_SRC_DIR=$CODEBUILD_SRC_DIR"
  command -v terraform >/dev/null 2>&1 || die "terraform is not on PATH"
  command -v aws >/dev/null 2>&1 || die "aws (AWS CLI) is not on PATH"
}

# Releases the lock a dead build left on the worker's state. One lifecycle
# job runs per worker at a time, so no live build holds it.
release_stale_lock() {
  bucket=$(sed -n 's/^ *"bucket": *"\([^"]*\)".*/\1/p' main.tf.json | head -n 1)
  lock_uri="s3://$bucket/workers/$WORKER_NAME/terraform.tfstate.tflock"
  id=$(aws s3 cp --only-show-errors "$lock_uri" - 2>/dev/null | sed -n 's/.*"ID": *"\([^"]*\)".*/\1/p' | head -n 1)
  if [ -n "$id" ]; then
    log "releasing the state lock $id that the dead build held"
    logged terraform force-unlock -force "$id"
  fi
}

# Imports what the Runner template creates under its fixed names (see
# infra/modules/fargate-runner) but the state lacks: what a killed apply
# created after its last state snapshot, or anything else the state never
# learnt of. A resource added to the template must be added here.
adopt() {
  if [ -z "${WORKER_REGION:-}" ]; then
    log "WORKER_REGION is not set: cannot look for what the dead build created"
    return 0
  fi
  n="alethia-worker-$WORKER_NAME"
  known=$(terraform state list 2>/dev/null || true)
  adopt_one() {
    case "$2" in "" | None | "$n/" | "$n/None") return 0 ;; esac
    if printf '%s\n' "$known" | grep -Fqx "$1"; then return 0; fi
    log "adopting $1 ($2), which the state did not know"
    logged terraform import -input=false -no-color -lock-timeout="$lock_timeout" "$1" "$2" ||
      log "could not adopt $1 ($2)"
  }
  q() { aws "$@" --region "$WORKER_REGION" --output text 2>/dev/null || true; }
  adopt_one 'module.runner.aws_ecs_cluster.runner[0]' "$(q ecs describe-clusters --clusters "$n" --query "clusters[?status=='ACTIVE'].clusterName")"
  adopt_one module.runner.aws_iam_role.execution "$(q iam get-role --role-name "$n-exec" --query Role.RoleName)"
  adopt_one module.runner.aws_iam_role_policy.execution "$(q iam get-role-policy --role-name "$n-exec" --policy-name alethia-worker-execution --query RoleName | sed 's/$/:alethia-worker-execution/')"
  adopt_one module.runner.aws_iam_role.task "$(q iam get-role --role-name "$n-task" --query Role.RoleName)"
  adopt_one module.runner.aws_cloudwatch_log_group.runner "$(q logs describe-log-groups --log-group-name-prefix "/alethia/workers/$WORKER_NAME" --query "logGroups[?logGroupName=='/alethia/workers/$WORKER_NAME'].logGroupName")"
  adopt_one module.runner.aws_secretsmanager_secret.credentials "$(q secretsmanager describe-secret --secret-id "alethia/workers/$WORKER_NAME/credentials" --query ARN)"
  adopt_one module.runner.aws_security_group.runner "$(q ec2 describe-security-groups --filters "Name=group-name,Values=$n" "Name=tag:alethia:worker,Values=$WORKER_NAME" --query 'SecurityGroups[0].GroupId')"
  adopt_one module.runner.aws_ecs_task_definition.runner "$(q ecs describe-task-definition --task-definition "$n" --query taskDefinition.taskDefinitionArn)"
  adopt_one module.runner.aws_ecs_service.runner "$n/$(q ecs describe-services --cluster "$n" --services "$n" --query "services[?status=='ACTIVE'].serviceName")"
}

# After a destroy: revisions of the worker's task definition family that no
# state knew of (registered by a build that died before saving them).
deregister_strays() {
  [ -n "${WORKER_REGION:-}" ] || return 0
  family="alethia-worker-$WORKER_NAME"
  arns=$(aws ecs list-task-definitions --region "$WORKER_REGION" --family-prefix "$family" --status ACTIVE --query 'taskDefinitionArns[]' --output text 2>/dev/null || true)
  for arn in $arns; do
    case "$arn" in
      *":task-definition/$family:"[0-9]*)
        log "deregistering the stray revision $arn"
        aws ecs deregister-task-definition --region "$WORKER_REGION" --task-definition "$arn" >/dev/null
        ;;
    esac
  done
}

run() {
  exports_file=$1
  check_inputs
  : >"$exports_file"
  lock_timeout=${TF_LOCK_TIMEOUT:-120s}

  config_bucket=${TF_CONFIG_S3_URI#s3://}
  config_bucket=${config_bucket%%/*}
  marker="s3://$config_bucket/workers/$WORKER_NAME/terraform-inflight.json"
  previous_died=0
  if aws s3 ls "$marker" >/dev/null 2>&1; then previous_died=1; fi
  printf '{"build_id":"%s","action":"%s"}\n' "${CODEBUILD_BUILD_ID:-}" "$TF_ACTION" |
    aws s3 cp --only-show-errors - "$marker"
  marker_written=1
  write_progress

  work=$(mktemp -d "${TMPDIR:-/tmp}/tf-$WORKER_NAME.XXXXXX")
  log "$TF_ACTION worker $WORKER_NAME in $work"

  cp -R "$CODEBUILD_SRC_DIR/infra/modules" "$work/modules"
  lock="$CODEBUILD_SRC_DIR/infra/buildspec/worker-root.terraform.lock.hcl"
  if [ -f "$lock" ]; then cp "$lock" "$work/.terraform.lock.hcl"; fi

  logged aws s3 cp --only-show-errors "$TF_CONFIG_S3_URI" "$work/main.tf.json"
  # Guard against applying/destroying another worker's state by mistake.
  if ! grep -Fq "\"workers/$WORKER_NAME/terraform.tfstate\"" "$work/main.tf.json"; then
    die "$TF_CONFIG_S3_URI: backend key is not workers/$WORKER_NAME/terraform.tfstate"
  fi

  if [ -n "${TF_PLUGIN_CACHE_DIR:-}" ]; then mkdir -p "$TF_PLUGIN_CACHE_DIR"; fi
  # Offline runs (the local engine): install providers only from this mirror
  # (overrides any TF_CLI_CONFIG_FILE from the environment).
  if [ -n "${TF_PROVIDER_MIRROR:-}" ]; then
    cat >"$work/terraformrc" <<EOF
provider_installation {
  filesystem_mirror {
    path    = "$TF_PROVIDER_MIRROR"
    include = ["registry.terraform.io/hashicorp/*"]
  }
  direct {
    exclude = ["registry.terraform.io/*/*"]
  }
}
EOF
    export TF_CLI_CONFIG_FILE="$work/terraformrc"
  fi
  export TF_IN_AUTOMATION=1 TF_INPUT=0
  cd "$work"

  # TF_BACKEND_EXTRA_ARGS is split on whitespace on purpose (no quoting support).
  # shellcheck disable=SC2086
  logged terraform init -input=false -no-color ${TF_BACKEND_EXTRA_ARGS:-}

  if [ "$previous_died" = 1 ]; then
    log "the previous build of worker $WORKER_NAME ended without finishing (killed): releasing its lock and adopting what it created"
    release_stale_lock
    adopt
  elif [ "$TF_ACTION" = destroy ]; then
    # A destroy removes everything of the worker's, also what its state
    # never learnt of (a create whose answer was lost, a state restored
    # from an older copy).
    adopt
  fi

  if [ "$TF_ACTION" = plan ]; then
    # A drift check: exit 0 when the stack matches its configuration,
    # 3 when Terraform would change something.
    code=0
    logged terraform plan -input=false -lock-timeout="$lock_timeout" -no-color -detailed-exitcode || code=$?
    case $code in
      0) log "plan: no changes" ;;
      2)
        log "plan: changes pending"
        exit 3
        ;;
      *) exit "$code" ;;
    esac
    return 0
  fi

  # Plan, report the plan, apply what was planned.
  if [ "$TF_ACTION" = destroy ]; then
    logged terraform plan -destroy -input=false -lock-timeout="$lock_timeout" -no-color -out=tfplan
  else
    logged terraform plan -input=false -lock-timeout="$lock_timeout" -no-color -out=tfplan
  fi
  record_plan
  logged terraform apply -input=false -auto-approve -lock-timeout="$lock_timeout" -no-color tfplan

  if [ "$TF_ACTION" = destroy ]; then
    deregister_strays
    return 0
  fi

  terraform output -json -no-color >outputs.json
  if [ -n "${TF_OUTPUTS_S3_URI:-}" ]; then
    aws s3 cp --only-show-errors --content-type application/json outputs.json "$TF_OUTPUTS_S3_URI"
  fi

  printf '%s\n' "$EXPORTS" | while read -r output var; do
    value=$(terraform output -raw -no-color "$output")
    # Values are ARNs and names; keep the file safe to source as NAME=value.
    if ! printf '%s' "$value" | grep -Eqx '[A-Za-z0-9_.:/@+=-]*'; then
      die "output $output has characters unsafe for an exported variable: $value"
    fi
    printf '%s=%s\n' "$var" "$value" >>"$exports_file"
  done
  log "exported: $(tr '\n' ' ' <"$exports_file")"
}

case "${1:-}" in
  check)
    rm -f "$transcript"
    transcript=/dev/null
    check_inputs
    ;;
  run)
    [ $# -eq 2 ] || die "usage: $0 run EXPORTS_FILE"
    trap 'finish $?' EXIT
    # An interrupted build (StopBuild, a task timeout) still ends through
    # finish, after Terraform, interrupted too, has saved its state.
    trap 'exit 130' INT TERM
    run "$2"
    ;;
  *) die "usage: $0 check | run EXPORTS_FILE" ;;
esac
