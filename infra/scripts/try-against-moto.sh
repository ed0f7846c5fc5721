#!/usr/bin/env bash
# End-to-end check of the fargate-runner module, the rendered root config and
# the Terraform buildspec against a private moto server on 127.0.0.1.
#
#   infra/scripts/try-against-moto.sh
#
# Needs: terraform (1.10+), the hashicorp/aws 5.100.0 provider in a filesystem
# mirror (TF_PROVIDER_MIRROR, default /opt/tf-plugins), and a venv with
# moto[server], awscli and PyYAML (VENV, default <repo>/.local/venv).
# Starts its own moto server on a free port and kills it (by PID) on exit.
#
# Steps:
#   A  DEPLOY: buildspec apply -> plan shows no changes -> "RegisterWorker"
#      (PutSecretValue + scale to 1) -> plan shows no changes -> buildspec apply
#      again (idempotent) -> UPDATE (new image, re-rendered config) -> buildspec
#      destroy -> nothing tagged is left; bad inputs are rejected
#   B  FAILURE MIDWAY: apply with a VPC the emulator rejects -> fails with
#      Terraform's error -> the partial stack exists -> buildspec destroy with
#      the same backend key -> nothing tagged is left
#   C  TIMINGS: plain terraform init / apply / plan / destroy, timed each
#   D  SHARED CLUSTER: existing_cluster_name -> apply/destroy leave the cluster
#   E  a non-default VPC without subnet_ids is refused at plan time
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
VENV=${VENV:-$repo/.local/venv}
TF_PROVIDER_MIRROR=${TF_PROVIDER_MIRROR:-/opt/tf-plugins}
example="$repo/infra/examples/worker-root.tf.json"

scratch=$(mktemp -d "${TMPDIR:-/tmp}/tfwork-try.XXXXXX")
moto_pid=""
cleanup() {
  if [ -n "$moto_pid" ]; then
    kill "$moto_pid" 2>/dev/null || true
    wait "$moto_pid" 2>/dev/null || true # it takes a second or two to exit
  fi
  rm -rf "$scratch"
}
trap cleanup EXIT

# --- environment -------------------------------------------------------------
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true
export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
export PATH="$VENV/bin:$PATH"
cat >"$scratch/terraformrc" <<EOF
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
export TF_CLI_CONFIG_FILE="$scratch/terraformrc"
# The unpacked mirror is symlinked into .terraform, so no plugin cache is needed.

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
MOTO_IAM_LOAD_MANAGED_POLICIES=true MOTO_ECS_SERVICE_RUNNING=1 \
  "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$scratch/moto.log" 2>&1 &
moto_pid=$!
export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
for _ in $(seq 50); do
  curl -fs -o /dev/null "$AWS_ENDPOINT_URL/moto-api/" && break
  sleep 0.2
done

STATE_BUCKET=alethia-worker-tfstate
CONFIG_BUCKET=alethia-worker-jobs
aws s3api create-bucket --bucket "$STATE_BUCKET" >/dev/null
aws s3api create-bucket --bucket "$CONFIG_BUCKET" >/dev/null

# --- helpers -------------------------------------------------------------------
step() { printf '\n=== %s\n' "$*"; }
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
TIMINGS=""
timed() { # timed LABEL cmd...   (keeps the command's status)
  local label=$1 t rc=0
  shift
  t=$(now)
  "$@" || rc=$?
  TIMINGS+="$(printf '%-34s %6ss' "$label" "$(since "$t")")"$'\n'
  return $rc
}

# render NAME JOB_ID [jq-like sed edits...] -> s3 URI of the rendered config
render() {
  local name=$1 job=$2
  shift 2
  sed -e "s/w-example-01/$name/g" -e "s/job-0001/$job/g" -e "s/\"bucket\": \"alethia-worker-tfstate\"/\"bucket\": \"$STATE_BUCKET\"/" "$@" \
    "$example" >"$scratch/$name.tf.json"
  aws s3 cp --only-show-errors "$scratch/$name.tf.json" "s3://$CONFIG_BUCKET/configs/$name/main.tf.json"
  echo "s3://$CONFIG_BUCKET/configs/$name/main.tf.json"
}

# buildspec ACTION NAME CONFIG_URI   -> runs infra/buildspec/terraform.yml like the local engine
buildspec() {
  # Providers via TF_PROVIDER_MIRROR (the script writes its own CLI config), as the engine would.
  env TF_PROVIDER_MIRROR="$TF_PROVIDER_MIRROR" \
    TF_ACTION="$1" WORKER_NAME="$2" TF_CONFIG_S3_URI="$3" TF_BACKEND_EXTRA_ARGS="${TF_BACKEND_EXTRA_ARGS:-}" \
    TF_OUTPUTS_S3_URI="s3://$CONFIG_BUCKET/outputs/$2/outputs.json" \
    "$VENV/bin/python" "$here/run-buildspec.py" "$repo/infra/buildspec/terraform.yml" "$repo"
}

# workdir NAME CONFIG_FILE -> a terraform work dir laid out like the buildspec's
workdir() {
  local d="$scratch/wd-$1"
  rm -rf "$d"
  mkdir -p "$d"
  cp -R "$repo/infra/modules" "$d/modules"
  cp "$repo/infra/buildspec/worker-root.terraform.lock.hcl" "$d/.terraform.lock.hcl"
  cp "$2" "$d/main.tf.json"
  echo "$d"
}

tf() { terraform -chdir="$WD" "$@" -no-color; }

# assert_nothing_left NAME: nothing tagged alethia:worker=NAME may remain
assert_nothing_left() {
  local n=$1 left="" arns c
  local tagq="tags[?key=='alethia:worker' && value=='$n']"
  arns=$(aws ecs list-clusters --query 'clusterArns[]' --output text)
  if [ -n "$arns" ]; then
    # moto keeps deleted clusters/services listed with status INACTIVE (AWS shows them for a while too).
    # shellcheck disable=SC2086
    left+=" "$(aws ecs describe-clusters --clusters $arns --include TAGS \
      --query "clusters[?status!='INACTIVE' && $tagq].clusterArn" --output text)
    for c in $arns; do
      local svcs
      svcs=$(aws ecs list-services --cluster "$c" --query 'serviceArns[]' --output text)
      [ -z "$svcs" ] && continue
      # shellcheck disable=SC2086
      left+=" "$(aws ecs describe-services --cluster "$c" --services $svcs --include TAGS \
        --query "services[?status!='INACTIVE' && $tagq].serviceArn" --output text)
    done
  fi
  left+=" "$(aws ecs list-task-definitions --family-prefix "alethia-worker-$n" --status ACTIVE \
    --query 'taskDefinitionArns[]' --output text)
  local inactive
  inactive=$(aws ecs list-task-definitions --family-prefix "alethia-worker-$n" --status INACTIVE \
    --query 'length(taskDefinitionArns)' --output text)
  local role
  for role in $(aws iam list-roles --query 'Roles[].RoleName' --output text); do
    if [ -n "$(aws iam list-role-tags --role-name "$role" --query "Tags[?Key=='alethia:worker' && Value=='$n'].Key" --output text)" ] ||
      [[ $role == alethia-worker-$n-* ]]; then left+=" role:$role"; fi
  done
  local lg
  for lg in $(aws logs describe-log-groups --query 'logGroups[].arn' --output text); do
    lg=${lg%:\*}
    if [ -n "$(aws logs list-tags-for-resource --resource-arn "$lg" --query "tags.\"alethia:worker\"" --output text | grep -vx None)" ]; then
      left+=" $lg"
    fi
  done
  left+=" "$(aws logs describe-log-groups --log-group-name-prefix "/alethia/workers/$n" --query 'logGroups[].logGroupName' --output text)
  left+=" "$(aws ec2 describe-security-groups --filters "Name=tag:alethia:worker,Values=$n" \
    --query 'SecurityGroups[].GroupId' --output text)
  left+=" "$(aws secretsmanager list-secrets --include-planned-deletion \
    --query "SecretList[?Tags[?Key=='alethia:worker' && Value=='$n'] || starts_with(Name, 'alethia/workers/$n/')].ARN" --output text)
  # Resource Groups Tagging API: everything it still knows, for the record.
  local rgta
  rgta=$(aws resourcegroupstaggingapi get-resources --tag-filters "Key=alethia:worker,Values=$n" \
    --query 'ResourceTagMappingList[].ResourceARN' --output text | tr '\t' '\n' | sed 's/^/    /')
  if [ -n "$(echo "$left" | tr -d '[:space:]')" ]; then
    fail "left behind for $n: $left"
  fi
  echo "nothing left for $n (task definition revisions INACTIVE: $inactive; tagging API still lists, INACTIVE in ECS:"
  echo "${rgta:-    (none)})"
}

# count_tagged NAME: live resources tagged with the worker (for the partial stack)
count_tagged() {
  aws resourcegroupstaggingapi get-resources --tag-filters "Key=alethia:worker,Values=$1" \
    --query 'ResourceTagMappingList[].ResourceARN' --output text | wc -w
}

# --- A: deploy, register, plan, destroy through the buildspec -------------------
N=w-try-01
step "A1 buildspec apply $N"
cfg=$(render $N job-try-01)
timed "A1 buildspec apply (init+apply)" buildspec apply $N "$cfg" >"$scratch/a1.log" 2>&1 || {
  cat "$scratch/a1.log"
  fail "buildspec apply"
}
grep -E '^\[|^EXPORTED|^terraform-run' "$scratch/a1.log"
aws s3 cp --only-show-errors "s3://$CONFIG_BUCKET/outputs/$N/outputs.json" - | head -c 300
echo

step "A2 plan after apply must show no changes"
WD=$(workdir $N "$scratch/$N.tf.json")
timed "init (plain)" tf init -input=false >/dev/null
timed "plan -detailed-exitcode" tf plan -input=false -detailed-exitcode -lock-timeout=120s >"$scratch/a2.plan" ||
  { cat "$scratch/a2.plan"; fail "plan after apply reports changes"; }
tail -2 "$scratch/a2.plan"

step "A3 RegisterWorker: PutSecretValue + scale to 1, then plan again"
secret=$(tf output -raw secret_arn)
cluster=$(tf output -raw cluster_name)
service=$(tf output -raw service_name)
aws secretsmanager put-secret-value --secret-id "$secret" \
  --secret-string '{"worker_id":"wk-0001","token":"tok-not-in-state"}' --query VersionStages --output text
aws ecs update-service --cluster "$cluster" --service "$service" --desired-count 1 \
  --query 'service.[serviceName,desiredCount]' --output text
tf plan -input=false -detailed-exitcode -lock-timeout=120s >"$scratch/a3.plan" ||
  { cat "$scratch/a3.plan"; fail "plan after RegisterWorker reports changes"; }
tail -2 "$scratch/a3.plan"
if aws s3 cp --only-show-errors "s3://$STATE_BUCKET/workers/$N/terraform.tfstate" - | grep -q tok-not-in-state; then
  fail "token found in Terraform state"
fi
echo "token is not in the state"

step "A4 buildspec apply again (retry of the same step) changes nothing"
timed "A4 buildspec apply, no changes" buildspec apply $N "$cfg" >"$scratch/a4.log" 2>&1 || {
  cat "$scratch/a4.log"
  fail "second apply"
}
grep -E 'Apply complete|^EXPORTED' "$scratch/a4.log"
[ "$(aws ecs describe-services --cluster "$cluster" --services "$service" --query 'services[0].desiredCount' --output text)" = 1 ] ||
  fail "desired count was reset"

step "A5 UPDATE_WORKER via Terraform: re-render with a new image, apply"
cfg=$(render $N job-try-01 -e 's#runner:1.0.0#runner:1.1.0#')
timed "A5 buildspec apply, new image" buildspec apply $N "$cfg" >"$scratch/a5u.log" 2>&1 || {
  cat "$scratch/a5u.log"
  fail "update apply"
}
grep -E '^Plan:|Apply complete|deposed' "$scratch/a5u.log"
aws ecs describe-services --cluster "$cluster" --services "$service" \
  --query 'services[0].[desiredCount,taskDefinition]' --output text
[ "$(aws ecs describe-services --cluster "$cluster" --services "$service" --query 'services[0].desiredCount' --output text)" = 1 ] ||
  fail "desired count was reset by the update"
[ "$(aws ecs list-task-definitions --family-prefix "alethia-worker-$N" --status ACTIVE --query 'length(taskDefinitionArns)' --output text)" = 1 ] ||
  fail "expected exactly one ACTIVE revision after the update"

step "A6 buildspec destroy $N"
timed "A6 buildspec destroy (init+destroy)" buildspec destroy $N "$cfg" >"$scratch/a6.log" 2>&1 || {
  cat "$scratch/a6.log"
  fail "buildspec destroy"
}
grep -E 'Destroy complete|^EXPORTED' "$scratch/a6.log"
assert_nothing_left $N
state_left=$(aws s3 cp --only-show-errors "s3://$STATE_BUCKET/workers/$N/terraform.tfstate" - | "$VENV/bin/python" -c 'import json,sys; print(len(json.load(sys.stdin)["resources"]))')
echo "resources left in state: $state_left"
[ "$state_left" = 0 ] || fail "state not empty"

step "A7 buildspec rejects a config whose backend key is another worker's, and a bad TF_ACTION"
if buildspec destroy w-someone-else "$cfg" >"$scratch/a7.log" 2>&1; then fail "wrong worker accepted"; fi
grep terraform-run: "$scratch/a7.log"
if buildspec plan $N "$cfg" >"$scratch/a8.log" 2>&1; then fail "TF_ACTION=plan accepted"; fi
grep -E 'terraform-run:|^\[pre_build\] exit' "$scratch/a8.log"

# --- B: failure midway ---------------------------------------------------------
N=w-fail-01
step "B1 buildspec apply $N with a VPC the emulator rejects"
cfg=$(render $N job-fail-01 -e 's/"vpc_id": null/"vpc_id": "vpc-0123456789abcdef0"/' \
  -e 's/"subnet_ids": null/"subnet_ids": ["subnet-0123456789abcdef0"]/')
if timed "B1 buildspec apply (fails)" buildspec apply $N "$cfg" >"$scratch/b1.log" 2>&1; then
  fail "apply with a bad VPC succeeded"
fi
grep -E -A3 '^Error|^\[build\] exit|^\[post_build\]|^EXPORTED|finished \(' "$scratch/b1.log"
echo "live resources tagged $N after the failure: $(count_tagged $N)"
[ "$(count_tagged $N)" -gt 0 ] || fail "expected a partial stack"

step "B2 buildspec destroy $N (same backend key) removes the partial stack"
timed "B2 buildspec destroy partial" buildspec destroy $N "$cfg" >"$scratch/b2.log" 2>&1 || {
  cat "$scratch/b2.log"
  fail "destroy of the partial stack"
}
grep -E 'Destroy complete' "$scratch/b2.log"
assert_nothing_left $N

# --- C: plain terraform timings ------------------------------------------------
N=w-time-01
step "C plain terraform init / apply / plan / destroy for $N"
render $N job-time-01 >/dev/null
WD=$(workdir $N "$scratch/$N.tf.json")
timed "C init" tf init -input=false >/dev/null
timed "C apply" tf apply -input=false -auto-approve -lock-timeout=120s >"$scratch/c.apply" || {
  cat "$scratch/c.apply"
  fail apply
}
timed "C plan (no changes)" tf plan -input=false -detailed-exitcode -lock-timeout=120s >/dev/null || fail "plan shows changes"
timed "C destroy" tf destroy -input=false -auto-approve -lock-timeout=120s >/dev/null || fail destroy
assert_nothing_left $N

# --- D: shared cluster -----------------------------------------------------------
N=w-shared-01
step "D worker $N in an existing shared cluster"
aws ecs create-cluster --cluster-name alethia-workers --query 'cluster.status' --output text
render $N job-shared-01 -e 's#"stop_timeout": 120#"stop_timeout": 120, "existing_cluster_name": "alethia-workers"#' >/dev/null
WD=$(workdir $N "$scratch/$N.tf.json")
tf init -input=false >/dev/null
timed "D apply (shared cluster)" tf apply -input=false -auto-approve -lock-timeout=120s >"$scratch/d.apply" || {
  cat "$scratch/d.apply"
  fail apply
}
tf plan -input=false -detailed-exitcode >/dev/null || fail "plan shows changes"
timed "D destroy (shared cluster)" tf destroy -input=false -auto-approve -lock-timeout=120s >/dev/null || fail destroy
assert_nothing_left $N
[ "$(aws ecs describe-clusters --clusters alethia-workers --query 'clusters[0].status' --output text)" = ACTIVE ] ||
  fail "shared cluster was touched"
echo "shared cluster alethia-workers still ACTIVE"

# --- E: a non-default VPC without subnet_ids is refused at plan time -----------------
N=w-novpc-01
step "E vpc_id of a non-default VPC without subnet_ids fails at plan, nothing created"
vpc=$(aws ec2 create-vpc --cidr-block 10.42.0.0/16 --query Vpc.VpcId --output text)
render $N job-novpc-01 -e "s/\"vpc_id\": null/\"vpc_id\": \"$vpc\"/" >/dev/null
WD=$(workdir $N "$scratch/$N.tf.json")
tf init -input=false >/dev/null
if tf plan -input=false >"$scratch/e.plan" 2>&1; then fail "plan without subnets succeeded"; fi
grep -E -A2 '^Error' "$scratch/e.plan"
[ "$(count_tagged $N)" = 0 ] || fail "resources were created"

step "timings (moto on 127.0.0.1:$port)"
printf '%s' "$TIMINGS"
echo "ALL CHECKS PASSED"
