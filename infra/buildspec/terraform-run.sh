#!/bin/sh
# The Terraform step of the worker jobs, called by terraform.yml (CodeBuild and
# the local Step Functions engine alike).
#
#   terraform-run.sh check                 validate the inputs (pre_build)
#   terraform-run.sh run EXPORTS_FILE      init + apply|destroy in a fresh temp dir;
#                                          on apply, write the exported variables
#                                          to EXPORTS_FILE as NAME=value lines
#
# Inputs are documented in terraform.yml. Exit status: 0 success, 2 bad input,
# otherwise the failing command's status (Terraform's own error on stderr).
set -eu

log() { printf 'terraform-run: %s\n' "$*" >&2; }
die() {
  log "$*"
  exit 2
}

# Outputs exported as CodeBuild exported-variables: "output_name VARIABLE".
EXPORTS='cluster_arn TF_OUT_CLUSTER_ARN
service_name TF_OUT_SERVICE_NAME
secret_arn TF_OUT_SECRET_ARN
task_definition_arn TF_OUT_TASK_DEFINITION_ARN
log_group_name TF_OUT_LOG_GROUP_NAME'

check_inputs() {
  case "${TF_ACTION:-}" in
    apply | destroy | plan) ;;
    *) die "TF_ACTION must be 'apply', 'destroy' or 'plan' (got '${TF_ACTION:-}')" ;;
  esac
  case "${TF_CONFIG_S3_URI:-}" in
    s3://?*/?*) ;;
    *) die "TF_CONFIG_S3_URI must be s3://bucket/key (got '${TF_CONFIG_S3_URI:-}')" ;;
  esac
  if ! printf '%s' "${WORKER_NAME:-}" | grep -Eqx '[a-z0-9][a-z0-9-]{0,38}[a-z0-9]'; then
    die "WORKER_NAME must be 2-40 chars of [a-z0-9-] (got '${WORKER_NAME:-}')"
  fi
  [ -n "${CODEBUILD_SRC_DIR:-}" ] || die "CODEBUILD_SRC_DIR must be set (repository root)"
  [ -d "$CODEBUILD_SRC_DIR/infra/modules" ] || die "no infra/modules under CODEBUILD_SRC_DIR=$CODEBUILD_SRC_DIR"
  command -v terraform >/dev/null 2>&1 || die "terraform is not on PATH"
  command -v aws >/dev/null 2>&1 || die "aws (AWS CLI) is not on PATH"
}

run() {
  exports_file=$1
  check_inputs
  : >"$exports_file"

  work=$(mktemp -d "${TMPDIR:-/tmp}/tf-$WORKER_NAME.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  log "$TF_ACTION worker $WORKER_NAME in $work"

  cp -R "$CODEBUILD_SRC_DIR/infra/modules" "$work/modules"
  lock="$CODEBUILD_SRC_DIR/infra/buildspec/worker-root.terraform.lock.hcl"
  if [ -f "$lock" ]; then cp "$lock" "$work/.terraform.lock.hcl"; fi

  aws s3 cp --only-show-errors "$TF_CONFIG_S3_URI" "$work/main.tf.json"
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
  terraform init -input=false -no-color ${TF_BACKEND_EXTRA_ARGS:-}

  if [ "$TF_ACTION" = plan ]; then
    # A drift check: exit 0 when the stack matches its configuration,
    # 3 when Terraform would change something.
    set +e
    terraform plan -input=false -lock-timeout=120s -no-color -detailed-exitcode
    code=$?
    set -e
    case $code in
      0) log "plan: no changes" ;;
      2) log "plan: changes pending"; exit 3 ;;
      *) exit "$code" ;;
    esac
    return 0
  fi

  if [ "$TF_ACTION" = destroy ]; then
    terraform destroy -input=false -auto-approve -lock-timeout=120s -no-color
    return 0
  fi

  terraform apply -input=false -auto-approve -lock-timeout=120s -no-color
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
  check) check_inputs ;;
  run)
    [ $# -eq 2 ] || die "usage: $0 run EXPORTS_FILE"
    run "$2"
    ;;
  *) die "usage: $0 check | run EXPORTS_FILE" ;;
esac
