#!/usr/bin/env bash
# End-to-end check of the platform stack (infra/platform) against a private
# moto server on 127.0.0.1: terraform init (S3 backend in moto) -> apply ->
# check with the AWS CLI that everything exists and is wired as the state
# machines and the functions expect -> plan shows no changes -> destroy ->
# nothing the stack made is left.
#
#   infra/scripts/try-platform-against-moto.sh
#
# Needs: terraform (1.11+), the hashicorp/aws 5.100.0 provider in a filesystem
# mirror (TF_PROVIDER_MIRROR, default /opt/tf-plugins; nothing is downloaded),
# and a venv with moto[server] and awscli (VENV, default <repo>/.local/venv,
# made by local/setup.sh). Starts its own moto (local/moto_server.py) on a
# free port and kills it (by PID) on exit; works in a scratch copy of the
# stack, so nothing is written under infra/. The functions are stand-in zips
# (a `bootstrap` shell script): nothing is compiled.
#
# Checks after apply (expected lists come from functions/, statemachines/ and
# infra/tables.json):
#   - every crate in functions/ is a function worker-jobs-<crate>
#     (provided.al2023, its own role, the stand-in zip's code);
#   - every statemachines/*.asl.json is a state machine whose definition is the
#     file byte for byte; every FunctionName / ProjectName it calls exists, and
#     its role's policy allows invoking each function / starting builds of
#     each project;
#   - the HTTP API has the routes infra/README.md lists, each integrated with
#     the right function, and each function lets this API invoke it;
#   - the EventBridge rules: schedules -> refresh-scheduler, job-sweeper,
#     lease-sweeper; executions of these state machines ending FAILED,
#     TIMED_OUT or ABORTED -> execution-reconciler; each target lets its rule
#     invoke it;
#   - every table of infra/tables.json with its keys, GSIs (keys, projection)
#     and TTL attribute;
#   - the CodeBuild project, the two buckets, the admin token secret (with a
#     value) and the KMS alias;
#   - the functions' environment: TABLE_PREFIX, the buckets and the secret are
#     this stack's, and STATE_MACHINE_ARN_PREFIX + file name is a deployed
#     state machine (how job-api starts them).
# After destroy: no function, state machine, API, rule, table, bucket (other
# than the backend's and the build source's), role, log group, CodeBuild
# project, KMS alias, nor anything the tagging API lists with the stack's tag;
# the KMS key is pending deletion and the secret scheduled for deletion (as
# on AWS); the state holds no resource.
#
# Emulator gaps bridged here, in the moto process only (moto 5.2.5). For the
# first two the provider calls them for every aws_sfn_state_machine, moto
# answers 500 "not implemented", and the provider retries without end:
#   - ValidateStateMachineDefinition: answered by moto's own ASL static
#     analyser (the one behind its parser-based Step Functions provider), so
#     the definitions are really parsed; the script checks that broken ones
#     are refused. That analyser checks the grammar (state types, fields,
#     StartAt), not transition targets: asl-validator in local/test.sh does;
#   - ListStateMachineVersions: answered from moto's own record of versions;
#   - DeleteProject (CodeBuild) by ARN: the provider deletes a project by its
#     id, the ARN, which AWS accepts; moto looks up names only, answers 200
#     and deletes nothing. Here an ARN is resolved to its project first.
# Nothing else is patched: every other call goes to moto unchanged.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
VENV=${VENV:-$repo/.local/venv}
TF_PROVIDER_MIRROR=${TF_PROVIDER_MIRROR:-/opt/tf-plugins}
# KEEP_SCRATCH=1 keeps the scratch directory (logs, inventory) for a look.
# A hard limit per terraform command: a call the emulator cannot answer makes
# the provider retry for a long time rather than fail.
TF_STEP_TIMEOUT=${TF_STEP_TIMEOUT:-900}

scratch=$(mktemp -d "${TMPDIR:-/tmp}/tfwork-platform.XXXXXX")
moto_pid=""
cleanup() {
  if [ -n "$moto_pid" ]; then
    kill "$moto_pid" 2>/dev/null || true
    wait "$moto_pid" 2>/dev/null || true
  fi
  if [ -n "${KEEP_SCRATCH:-}" ]; then echo "scratch kept: $scratch"; else rm -rf "$scratch"; fi
}
trap cleanup EXIT
# Interrupted (Ctrl-C, kill): exit, so that the EXIT trap stops moto too.
trap 'exit 130' INT TERM HUP

# --- environment -------------------------------------------------------------
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN
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
export TF_DATA_DIR="$scratch/tf-data"

# --- helpers -------------------------------------------------------------------
step() { printf '\n=== %s\n' "$*"; }
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
TIMINGS=""
started=$(now)
timed() { # timed LABEL cmd...   (keeps the command's status)
  local label=$1 t rc=0
  shift
  t=$(now)
  "$@" || rc=$?
  TIMINGS+="$(printf '%-34s %6ss' "$label" "$(since "$t")")"$'\n'
  return $rc
}
py() { "$VENV/bin/python" "$@"; }

# --- moto, with the gaps above bridged -------------------------------------------
cat >"$scratch/moto_launcher.py" <<'EOF'
"""Runs local/moto_server.py (argv[1]) with the gaps below bridged (see the script's header)."""
import runpy
import sys

from moto.core.responses import ActionResult
from moto.stepfunctions.parser.asl.static_analyser.express_static_analyser import ExpressStaticAnalyser
from moto.stepfunctions.parser.asl.static_analyser.static_analyser import StaticAnalyser
from moto.stepfunctions.responses import StepFunctionResponse


def validate_state_machine_definition(self):
    analyser = ExpressStaticAnalyser() if self._get_param("type") == "EXPRESS" else StaticAnalyser()
    try:
        analyser.analyse(self._get_param("definition"))
    except Exception as e:  # the analyser raises ASLParserException and others
        diagnostic = {"severity": "ERROR", "code": "SCHEMA_VALIDATION_FAILED", "message": repr(e)[:2000]}
        return ActionResult({"result": "FAIL", "diagnostics": [diagnostic], "truncated": False})
    return ActionResult({"result": "OK", "diagnostics": [], "truncated": False})


def list_state_machine_versions(self):
    machine = self.stepfunction_backend.describe_state_machine(self._get_param("stateMachineArn"))
    versions = sorted(getattr(machine, "versions", {}).values(), key=lambda v: v.version, reverse=True)
    return ActionResult({
        "stateMachineVersions": [{"stateMachineVersionArn": v.arn, "creationDate": v.creation_date} for v in versions]
    })


for name, fn in [("validate_state_machine_definition", validate_state_machine_definition),
                 ("list_state_machine_versions", list_state_machine_versions)]:
    if hasattr(StepFunctionResponse, name):
        sys.stderr.write(f"moto implements {name} itself: not replaced\n")
    else:
        setattr(StepFunctionResponse, name, fn)

# DeleteProject takes a project's name or ARN (the provider passes the ARN,
# its resource id); moto looks the name up only and silently deletes nothing.
from moto.codebuild.models import CodeBuildBackend

_delete_project = CodeBuildBackend.delete_project


def delete_project(self, project_name):
    for name, project in list(self.codebuild_projects.items()):
        if project_name == project.arn:
            project_name = name
    return _delete_project(self, project_name)


CodeBuildBackend.delete_project = delete_project

launcher = sys.argv[1]
sys.argv = [launcher] + sys.argv[2:]
runpy.run_path(launcher, run_name="__main__")
EOF

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# The python binary itself, not the py() function: $! must be moto's PID.
"$VENV/bin/python" "$scratch/moto_launcher.py" "$repo/local/moto_server.py" -H 127.0.0.1 -p "$port" >"$scratch/moto.log" 2>&1 &
moto_pid=$!
export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
for _ in $(seq 100); do
  curl -fs -o /dev/null "$AWS_ENDPOINT_URL/moto-api/" && break
  kill -0 "$moto_pid" 2>/dev/null || { cat "$scratch/moto.log"; fail "moto did not start"; }
  sleep 0.2
done
curl -fs -o /dev/null "$AWS_ENDPOINT_URL/moto-api/" || fail "moto is not answering on $AWS_ENDPOINT_URL"

ACCOUNT=$(aws sts get-caller-identity --query Account --output text)
REGION=$AWS_REGION
PREFIX=worker-jobs-          # local.name + "-", and the default table_prefix / state_machine_prefix
BACKEND_BUCKET=platform-tfstate-backend
BUILD_SOURCE=platform-build-artifacts/worker-jobs/infra.zip

# --- a scratch copy of the stack (the layout it reads: ../tables.json, ../../statemachines)
# Only the committed *.tf files and the lock file: no local overrides or tfvars.
work="$scratch/repo"
mkdir -p "$work/infra/platform" "$work/statemachines"
for f in "$repo"/infra/platform/*.tf; do
  case "$(basename "$f")" in override.tf | *_override.tf) continue ;; esac
  cp "$f" "$work/infra/platform/"
done
cp "$repo/infra/platform/.terraform.lock.hcl" "$work/infra/platform/"
cp "$repo/infra/tables.json" "$work/infra/tables.json"
cp "$repo"/statemachines/*.asl.json "$work/statemachines/"
tf() { timeout "$TF_STEP_TIMEOUT" terraform -chdir="$work/infra/platform" "$@" -no-color; }

# --- stand-in function zips: <dir>/lambda/<crate>/bootstrap.zip -------------------
CRATES=$(cd "$repo/functions" && for d in */; do if [ -f "$d/Cargo.toml" ]; then echo "${d%/}"; fi; done)
[ -n "$CRATES" ] || fail "no function crates in functions/"
artifacts="$scratch/artifacts/lambda"
# One zip per crate holding an executable `bootstrap` script, and its hash as
# Lambda reports it (CodeSha256: base64 of the zip's SHA-256).
py - "$artifacts" "$CRATES" <<'EOF' >"$scratch/zip-hashes"
import base64, hashlib, os, sys, zipfile

artifacts = sys.argv[1]
for crate in sys.argv[2].split():
    os.makedirs(os.path.join(artifacts, crate))
    path = os.path.join(artifacts, crate, "bootstrap.zip")
    entry = zipfile.ZipInfo("bootstrap", date_time=(2020, 1, 1, 0, 0, 0))
    entry.external_attr = 0o100755 << 16
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(entry, f"#!/bin/sh\n# stand-in for functions/{crate}, not the real function\nexit 1\n")
    digest = base64.b64encode(hashlib.sha256(open(path, "rb").read()).digest()).decode()
    print(crate, digest)
EOF
echo "stand-in zips for $(echo "$CRATES" | wc -w) crates"

TF_VARS=(
  -var "build_source_s3=$BUILD_SOURCE"
  -var "lambda_artifacts_dir=$artifacts"
  # A throwaway deployment (infra/README.md): so that destroy can remove them.
  -var table_deletion_protection=false
  -var bucket_force_destroy=true
)

# --- init ----------------------------------------------------------------------
step "init with the S3 backend in moto (bucket $BACKEND_BUCKET)"
aws s3api create-bucket --bucket "$BACKEND_BUCKET" >/dev/null
aws s3api create-bucket --bucket "${BUILD_SOURCE%%/*}" >/dev/null
# -lockfile=readonly: the committed lock file must match the config.
timed "init" tf init -input=false -lockfile=readonly \
  -backend-config="bucket=$BACKEND_BUCKET" -backend-config="key=worker-jobs/platform.tfstate" \
  -backend-config="region=$REGION" -backend-config="use_lockfile=true" >"$scratch/init.log" 2>&1 ||
  { cat "$scratch/init.log"; fail "terraform init"; }
echo "ok"

# --- the shim validates for real ---------------------------------------------------
step "ValidateStateMachineDefinition (bridged) refuses a broken definition"
for broken in '{"StartAt":"A","States":{"A":{"Type":"NoSuchType","End":true}}}' \
  '{"States":{"A":{"Type":"Pass","End":true}}}' '{not json'; do
  verdict=$(aws stepfunctions validate-state-machine-definition --definition "$broken" --query result --output text)
  [ "$verdict" = FAIL ] || fail "a broken definition was accepted ($verdict): $broken"
done
n=0
for f in "$repo"/statemachines/*.asl.json; do
  verdict=$(aws stepfunctions validate-state-machine-definition --definition "file://$f" --query result --output text)
  [ "$verdict" = OK ] || fail "$(basename "$f") refused by the ASL analyser"
  n=$((n + 1))
done
echo "ok: broken definitions FAIL, the $n files pass"

# --- apply ---------------------------------------------------------------------
step "apply"
timed "apply" tf apply -input=false -auto-approve -lock-timeout=120s "${TF_VARS[@]}" >"$scratch/apply.log" 2>&1 ||
  {
    grep -v 'Still creating' "$scratch/apply.log" | tail -80
    grep -E 'NotImplementedError|not been implemented' "$scratch/moto.log" | sort | uniq -c || true
    fail "terraform apply"
  }
grep -E '^Apply complete' "$scratch/apply.log"

# --- checks ----------------------------------------------------------------------
step "collect what moto holds"
inv="$scratch/inventory"
mkdir -p "$inv/machines" "$inv/tables"
# (Functions' resource policies are read by the checks, for the functions they need.)
aws lambda list-functions --output json >"$inv/functions.json"
aws stepfunctions list-state-machines --output json >"$inv/machines.json"
for f in "$repo"/statemachines/*.asl.json; do
  m=$(basename "$f" .asl.json)
  aws stepfunctions describe-state-machine \
    --state-machine-arn "arn:aws:states:$REGION:$ACCOUNT:stateMachine:${PREFIX}$m" \
    --output json >"$inv/machines/$m.json" 2>/dev/null || echo '{}' >"$inv/machines/$m.json"
done
# Every role with its inline policies, in one call.
aws iam get-account-authorization-details --filter Role --output json >"$inv/roles.json"
read -r api_id _ < <(aws apigatewayv2 get-apis --query "Items[?Name=='${PREFIX}api'].ApiId" --output text) || true
[ -n "${api_id:-}" ] || fail "HTTP API ${PREFIX}api not found"
aws apigatewayv2 get-apis --output json >"$inv/apis.json"
aws apigatewayv2 get-routes --api-id "$api_id" --output json >"$inv/routes.json"
aws apigatewayv2 get-integrations --api-id "$api_id" --output json >"$inv/integrations.json"
aws apigatewayv2 get-stages --api-id "$api_id" --output json >"$inv/stages.json"
aws events list-rules --output json >"$inv/rules.json"
: >"$inv/targets.jsonl"
for r in $(aws events list-rules --query 'Rules[].Name' --output text); do
  aws events list-targets-by-rule --rule "$r" --output json | py -c 'import json,sys; print(json.dumps({"rule": sys.argv[1], **json.load(sys.stdin)}))' "$r" >>"$inv/targets.jsonl"
done
py - "$repo/infra/tables.json" <<'EOF' >"$inv/table-names"
import json, sys
print("\n".join(k for k in json.load(open(sys.argv[1])) if not k.startswith("_")))
EOF
while read -r t; do
  aws dynamodb describe-table --table-name "${PREFIX}$t" --output json >"$inv/tables/$t.json" 2>/dev/null || echo '{}' >"$inv/tables/$t.json"
  aws dynamodb describe-time-to-live --table-name "${PREFIX}$t" --output json >"$inv/tables/$t.ttl.json" 2>/dev/null || echo '{}' >"$inv/tables/$t.ttl.json"
done <"$inv/table-names"
aws codebuild batch-get-projects --names "${PREFIX}terraform" --output json >"$inv/codebuild.json"
aws s3api list-buckets --output json >"$inv/buckets.json"
aws kms list-aliases --output json >"$inv/aliases.json"
tf output -json >"$inv/outputs.json"
# The catch-all after destroy relies on the tagging API seeing the stack's tag.
tagged=$(aws resourcegroupstaggingapi get-resources --tag-filters Key=alethia:managed-by,Values=worker-jobs-platform \
  --query 'ResourceTagMappingList[].ResourceARN' --output text | wc -w)
[ "$tagged" -gt 0 ] || fail "the tagging API lists nothing tagged alethia:managed-by=worker-jobs-platform"
echo "ok (the tagging API lists $tagged resources with the stack's tag)"

step "check functions, state machines, API, rules, tables, CodeBuild, buckets, secret"
# Admin token: written through the write-only attribute; it must hold a value.
secret_arn=$(py -c 'import json,sys; print(json.load(open(sys.argv[1]))["admin_token_secret_arn"]["value"])' "$inv/outputs.json")
token_len=$(aws secretsmanager get-secret-value --secret-id "$secret_arn" --query 'length(SecretString)' --output text 2>/dev/null || echo 0)
echo "$token_len" >"$inv/admin-token-length"
cp "$scratch/zip-hashes" "$inv/zip-hashes"

py - "$repo" "$inv" "$PREFIX" "$ACCOUNT" "$REGION" "$BUILD_SOURCE" "$CRATES" <<'EOF'
import glob, json, os, subprocess, sys

repo, inv, prefix, account, region, build_source, crates = sys.argv[1:8]
crates = crates.split()
problems = []
def bad(msg): problems.append(msg)
def load(*p):
    with open(os.path.join(inv, *p)) as f:
        return json.load(f)

fn_arn = lambda name: f"arn:aws:lambda:{region}:{account}:function:{name}"
roles = {r["RoleName"]: r for r in load("roles.json")["RoleDetailList"]}

def role_statements(role_name):
    stmts = []
    for p in roles[role_name].get("RolePolicyList", []):
        doc = p["PolicyDocument"]
        if isinstance(doc, str):
            doc = json.loads(doc)
        s = doc.get("Statement", [])
        stmts += s if isinstance(s, list) else [s]
    return stmts

def as_list(x):
    return x if isinstance(x, list) else [x]

def allows(stmts, action, resource):
    for s in stmts:
        if s.get("Effect") != "Allow":
            continue
        acts = as_list(s.get("Action", []))
        if not any(a == action or a == "*" or (a.endswith("*") and action.startswith(a[:-1])) for a in acts):
            continue
        for r in as_list(s.get("Resource", [])):
            if r == resource or r == "*" or (r.endswith("*") and resource.startswith(r[:-1])):
                return True
    return False

# --- functions: one per crate -------------------------------------------------
hashes = dict(line.split() for line in open(os.path.join(inv, "zip-hashes")))
deployed = {f["FunctionName"]: f for f in load("functions.json")["Functions"]}
functions = {}
for c in crates:
    name = prefix + c
    f = deployed.get(name)
    if not f:
        bad(f"function {name} (functions/{c}) does not exist")
        continue
    functions[name] = f
    if f.get("Runtime") != "provided.al2023" or f.get("Handler") != "bootstrap":
        bad(f"function {name}: runtime/handler {f.get('Runtime')}/{f.get('Handler')}, expected provided.al2023/bootstrap")
    if f.get("CodeSha256") != hashes[c]:
        bad(f"function {name}: code {f.get('CodeSha256')} is not the zip given ({hashes[c]})")
    role = f.get("Role", "").rsplit("/", 1)[-1]
    if role not in roles:
        bad(f"function {name}: role {f.get('Role')} does not exist")
    elif not allows(role_statements(role), "logs:PutLogEvents", f"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{name}:log-stream:x"):
        bad(f"function {name}: its role may not write its log group /aws/lambda/{name}")
extra = sorted(n for n in deployed if n.startswith(prefix) and n not in functions)
if extra:
    bad(f"functions without a crate in functions/: {extra}")
print(f"functions: {len(functions)}/{len(crates)} crates deployed")

# --- state machines: the files, unchanged, and what they call -----------------
def called(node, out):
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("FunctionName", "ProjectName") and isinstance(v, str):
                out.add((k, v))
            called(v, out)
    elif isinstance(node, list):
        for v in node:
            called(v, out)
    return out

machine_arns = set()
files = sorted(glob.glob(os.path.join(repo, "statemachines", "*.asl.json")))
codebuild = {p["name"]: p for p in load("codebuild.json").get("projects", [])}
for path in files:
    m = os.path.basename(path)[: -len(".asl.json")]
    d = load("machines", f"{m}.json")
    if not d:
        bad(f"state machine {prefix}{m} (statemachines/{m}.asl.json) does not exist")
        continue
    machine_arns.add(d["stateMachineArn"])
    text = open(path).read()
    if d.get("definition") != text:
        same = json.loads(d.get("definition") or "null") == json.loads(text)
        bad(f"state machine {prefix}{m}: definition differs from the file ({'same JSON, other bytes' if same else 'different JSON'})")
    role = d.get("roleArn", "").rsplit("/", 1)[-1]
    if role not in roles:
        bad(f"state machine {prefix}{m}: role {d.get('roleArn')} does not exist")
        continue
    stmts = role_statements(role)
    log = (d.get("loggingConfiguration") or {}).get("destinations") or []
    if not log or d["loggingConfiguration"].get("level") in (None, "OFF"):
        bad(f"state machine {prefix}{m}: no logging configuration")
    for kind, name in sorted(called(json.loads(text), set())):
        if kind == "FunctionName":
            if name not in functions:
                bad(f"state machine {prefix}{m} calls function {name}, which does not exist")
            if not allows(stmts, "lambda:InvokeFunction", fn_arn(name)):
                bad(f"state machine {prefix}{m}: role {role} may not invoke {name}")
        else:
            if name not in codebuild:
                bad(f"state machine {prefix}{m} starts CodeBuild project {name}, which does not exist")
            if not allows(stmts, "codebuild:StartBuild", f"arn:aws:codebuild:{region}:{account}:project/{name}"):
                bad(f"state machine {prefix}{m}: role {role} may not start builds of {name}")
extra = sorted(sm["name"] for sm in load("machines.json")["stateMachines"]
               if sm["name"].startswith(prefix) and sm["stateMachineArn"] not in machine_arns)
if extra:
    bad(f"state machines without a file in statemachines/: {extra}")
print(f"state machines: {len(machine_arns)}/{len(files)} files deployed")

# --- HTTP API: the routes infra/README.md lists ------------------------------
expected_routes = {
    "ANY /api/jobs": "job-api",
    "ANY /api/jobs/{proxy+}": "job-api",
    "ANY /api/cloud-identities/{proxy+}": "job-api",
    "ANY /api/runners": "runners-api",
    "ANY /api/runners/{proxy+}": "runners-api",
}
api = next(a for a in load("apis.json")["Items"] if a["Name"] == f"{prefix}api")
if api.get("ProtocolType") != "HTTP":
    bad(f"API {prefix}api: protocol {api.get('ProtocolType')}, expected HTTP")
integrations = {i["IntegrationId"]: i for i in load("integrations.json")["Items"]}
routes = {r["RouteKey"]: r for r in load("routes.json")["Items"]}
for key, crate in expected_routes.items():
    r = routes.get(key)
    if not r:
        bad(f"API route {key} is missing")
        continue
    target = r.get("Target", "")
    i = integrations.get(target.split("/", 1)[-1]) if target.startswith("integrations/") else None
    if not i:
        bad(f"API route {key}: target {target!r} is not an integration of the API")
        continue
    want = fn_arn(prefix + crate)
    uri = i.get("IntegrationUri", "")
    if i.get("IntegrationType") != "AWS_PROXY" or not (uri == want or uri.endswith(f"/functions/{want}/invocations")):
        bad(f"API route {key}: integration {i.get('IntegrationType')} {uri}, expected AWS_PROXY to {want}")
    if i.get("PayloadFormatVersion") != "2.0":
        bad(f"API route {key}: payload format {i.get('PayloadFormatVersion')}, expected 2.0")
extra = sorted(set(routes) - set(expected_routes))
if extra:
    bad(f"API routes not in infra/README.md: {extra}")
if "$default" not in {s["StageName"] for s in load("stages.json")["Items"]}:
    bad("API stage $default is missing")

def invoke_grants(crate):
    if prefix + crate not in functions:
        return []
    out = subprocess.run(["aws", "lambda", "get-policy", "--function-name", prefix + crate,
                          "--query", "Policy", "--output", "text"], capture_output=True, text=True)
    return json.loads(out.stdout).get("Statement", []) if out.returncode == 0 else []

def granted(crate, service, source_arn_ok):
    for s in invoke_grants(crate):
        principal = s.get("Principal", {})
        principal = principal.get("Service") if isinstance(principal, dict) else principal
        if principal != service or "lambda:InvokeFunction" not in as_list(s.get("Action")):
            continue
        src = (s.get("Condition") or {}).get("ArnLike", {}).get("AWS:SourceArn")
        if src and source_arn_ok(src):
            return True
    return False

api_arn = f"arn:aws:execute-api:{region}:{account}:{api['ApiId']}/"
for crate in sorted(set(expected_routes.values())):
    if not granted(crate, "apigateway.amazonaws.com", lambda s: s.startswith(api_arn)):
        bad(f"function {prefix}{crate}: no permission for API {api['ApiId']} to invoke it")
print(f"HTTP API: {len(routes)} routes, {len(integrations)} integrations")

# --- EventBridge rules -> functions ---------------------------------------------
rules = {r["Name"]: r for r in load("rules.json")["Rules"]}
targets = {}
for line in open(os.path.join(inv, "targets.jsonl")):
    t = json.loads(line)
    targets[t["rule"]] = [x["Arn"] for x in t.get("Targets", [])]
def rules_to(crate):
    return [n for n, arns in targets.items() if fn_arn(prefix + crate) in arns]
for crate in ("refresh-scheduler", "job-sweeper", "lease-sweeper"):
    found = [n for n in rules_to(crate) if rules[n].get("ScheduleExpression")]
    if len(found) != 1:
        bad(f"expected one schedule rule targeting {prefix}{crate}, found {found}")
        continue
    rule = rules[found[0]]
    if not granted(crate, "events.amazonaws.com", lambda s: s == rule["Arn"]):
        bad(f"function {prefix}{crate}: rule {rule['Name']} may not invoke it")
found = [n for n in rules_to("execution-reconciler") if rules[n].get("EventPattern")]
if len(found) != 1:
    bad(f"expected one event rule targeting {prefix}execution-reconciler, found {found}")
else:
    rule = rules[found[0]]
    p = json.loads(rule["EventPattern"])
    d = p.get("detail", {})
    if p.get("source") != ["aws.states"] or p.get("detail-type") != ["Step Functions Execution Status Change"]:
        bad(f"rule {rule['Name']}: pattern {p} is not Step Functions execution status changes")
    if sorted(d.get("status", [])) != ["ABORTED", "FAILED", "TIMED_OUT"]:
        bad(f"rule {rule['Name']}: statuses {d.get('status')}, expected FAILED, TIMED_OUT, ABORTED")
    if set(d.get("stateMachineArn", [])) != machine_arns:
        bad(f"rule {rule['Name']}: state machines {sorted(d.get('stateMachineArn', []))}, expected {sorted(machine_arns)}")
    if not granted("execution-reconciler", "events.amazonaws.com", lambda s: s == rule["Arn"]):
        bad(f"function {prefix}execution-reconciler: rule {rule['Name']} may not invoke it")
print(f"rules: {len([n for n in rules if n.startswith(prefix)])} of the stack's")

# --- DynamoDB tables from infra/tables.json --------------------------------------
specs = {k: v for k, v in json.load(open(os.path.join(repo, "infra", "tables.json"))).items() if not k.startswith("_")}
def keys(schema):
    return {k["KeyType"]: k["AttributeName"] for k in schema}
for t, spec in specs.items():
    d = load("tables", f"{t}.json").get("Table")
    name = prefix + t
    if not d:
        bad(f"table {name} (tables.json {t}) does not exist")
        continue
    want = {"HASH": spec["hash_key"], **({"RANGE": spec["range_key"]} if spec.get("range_key") else {})}
    if keys(d["KeySchema"]) != want:
        bad(f"table {name}: keys {keys(d['KeySchema'])}, expected {want}")
    have = {g["IndexName"]: g for g in d.get("GlobalSecondaryIndexes", [])}
    for g in spec.get("global_secondary_indexes", []):
        h = have.pop(g["name"], None)
        if not h:
            bad(f"table {name}: index {g['name']} is missing")
            continue
        want = {"HASH": g["hash_key"], **({"RANGE": g["range_key"]} if g.get("range_key") else {})}
        if keys(h["KeySchema"]) != want:
            bad(f"table {name} index {g['name']}: keys {keys(h['KeySchema'])}, expected {want}")
        proj = h.get("Projection", {})
        if "projection" in g:
            if proj.get("ProjectionType") != "INCLUDE" or sorted(proj.get("NonKeyAttributes", [])) != sorted(g["projection"]):
                bad(f"table {name} index {g['name']}: projection {proj}, expected INCLUDE {g['projection']}")
        elif proj.get("ProjectionType") != "ALL":
            bad(f"table {name} index {g['name']}: projection {proj}, expected ALL")
    if have:
        bad(f"table {name}: indexes not in tables.json: {sorted(have)}")
    ttl = load("tables", f"{t}.ttl.json").get("TimeToLiveDescription", {})
    if spec.get("ttl_attribute"):
        if ttl.get("AttributeName") != spec["ttl_attribute"] or ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            bad(f"table {name}: TTL {ttl}, expected {spec['ttl_attribute']} enabled")
print(f"tables: {len(specs)} from tables.json")

# --- CodeBuild, buckets, secret, key ------------------------------------------------
cb = codebuild.get(f"{prefix}terraform")
if not cb:
    bad(f"CodeBuild project {prefix}terraform does not exist")
else:
    if cb.get("source", {}).get("location") != build_source:
        bad(f"CodeBuild project: source {cb.get('source', {}).get('location')}, expected {build_source}")
    if cb.get("source", {}).get("buildspec") != "infra/buildspec/terraform.yml":
        bad(f"CodeBuild project: buildspec {cb.get('source', {}).get('buildspec')}, expected infra/buildspec/terraform.yml")
    if cb.get("serviceRole", "").rsplit("/", 1)[-1] not in roles:
        bad(f"CodeBuild project: service role {cb.get('serviceRole')} does not exist")
outputs = {k: v["value"] for k, v in load("outputs.json").items()}
buckets = {b["Name"] for b in load("buckets.json")["Buckets"]}
for b in (outputs["state_bucket"], outputs["config_bucket"]):
    if b not in buckets:
        bad(f"bucket {b} does not exist")
if int(open(os.path.join(inv, "admin-token-length")).read().strip() or 0) < 32:
    bad("the admin token secret holds no value (or a short one)")
if f"alias/{prefix[:-1]}" not in {a["AliasName"] for a in load("aliases.json")["Aliases"]}:
    bad(f"KMS alias alias/{prefix[:-1]} does not exist")
print(f"codebuild, buckets {outputs['state_bucket']} and {outputs['config_bucket']}, admin token, KMS alias")

# --- what the functions are told (environment) ---------------------------------------
expect_env = {
    "TABLE_PREFIX": prefix,
    "TF_STATE_BUCKET": outputs["state_bucket"],
    "TF_CONFIG_BUCKET": outputs["config_bucket"],
    "REGISTRY_ADMIN_TOKEN_SECRET_ID": outputs["admin_token_secret_arn"],
}
for name, f in sorted(functions.items()):
    env = (f.get("Environment") or {}).get("Variables") or {}
    if "TABLE_PREFIX" not in env:
        bad(f"function {name}: no TABLE_PREFIX")
    for k, v in expect_env.items():
        if k in env and env[k] != v:
            bad(f"function {name}: {k}={env[k]}, expected {v}")
    # job-api and the schedulers start (or look up) machines as prefix + file name.
    if "STATE_MACHINE_ARN_PREFIX" in env:
        for path in files:
            arn = env["STATE_MACHINE_ARN_PREFIX"] + os.path.basename(path)[: -len(".asl.json")]
            if arn not in machine_arns:
                bad(f"function {name}: STATE_MACHINE_ARN_PREFIX + file name = {arn}, which is not a deployed state machine")
print(f"environment of {len(functions)} functions")

if problems:
    print("\n".join("  - " + p for p in problems), file=sys.stderr)
    sys.exit(f"{len(problems)} problem(s) after apply")
print("all present and wired")
EOF

# --- plan ----------------------------------------------------------------------
step "plan after apply must show no changes"
rc=0
timed "plan -detailed-exitcode" tf plan -input=false -detailed-exitcode -lock-timeout=120s "${TF_VARS[@]}" >"$scratch/plan.log" 2>&1 || rc=$?
case $rc in
  0) tail -1 "$scratch/plan.log" ;;
  2)
    grep -E '^  # |^      [~+-] |^Plan:' "$scratch/plan.log" || cat "$scratch/plan.log"
    fail "plan after apply reports changes"
    ;;
  *)
    tail -40 "$scratch/plan.log"
    fail "terraform plan failed ($rc)"
    ;;
esac

# --- destroy ---------------------------------------------------------------------
step "destroy"
timed "destroy" tf destroy -input=false -auto-approve -lock-timeout=120s "${TF_VARS[@]}" >"$scratch/destroy.log" 2>&1 ||
  {
    grep -v 'Still destroying' "$scratch/destroy.log" | tail -60
    fail "terraform destroy"
  }
grep -E '^Destroy complete' "$scratch/destroy.log"

step "nothing the stack made is left"
left=()
add() { # add WHAT "names...": records a leftover unless the list is empty
  if [ -n "$(echo "$2" | tr -d '[:space:]')" ]; then left+=("$1: $(echo "$2" | tr '\t\n' '  ')"); fi
}
add functions "$(aws lambda list-functions --query "Functions[?starts_with(FunctionName, '$PREFIX')].FunctionName" --output text)"
add "state machines" "$(aws stepfunctions list-state-machines --query "stateMachines[?starts_with(name, '$PREFIX')].name" --output text)"
add APIs "$(aws apigatewayv2 get-apis --query "Items[?starts_with(Name, '$PREFIX')].Name" --output text)"
add rules "$(aws events list-rules --query "Rules[?starts_with(Name, '$PREFIX')].Name" --output text)"
add tables "$(aws dynamodb list-tables --query "TableNames[?starts_with(@, '$PREFIX')]" --output text)"
add buckets "$(aws s3api list-buckets --query "Buckets[?Name!='$BACKEND_BUCKET' && Name!='${BUILD_SOURCE%%/*}'].Name" --output text)"
add roles "$(aws iam list-roles --query "Roles[?starts_with(RoleName, '$PREFIX')].RoleName" --output text)"
add "log groups" "$(aws logs describe-log-groups --query "logGroups[?contains(logGroupName, '/$PREFIX')].logGroupName" --output text)"
add "CodeBuild projects" "$(aws codebuild list-projects --query "projects[?starts_with(@, '$PREFIX')]" --output text)"
add "KMS aliases" "$(aws kms list-aliases --query "Aliases[?AliasName=='alias/${PREFIX%-}'].AliasName" --output text)"
# Secrets (worker-jobs/registry-admin-token): destroy schedules deletion
# (30-day recovery window), as on AWS; one still live (no DeletedDate) is a leftover.
ours="(starts_with(Name, '$PREFIX') || starts_with(Name, '${PREFIX%-}/'))"
add "secrets (not scheduled for deletion)" "$(aws secretsmanager list-secrets --include-planned-deletion \
  --query "SecretList[?$ours && DeletedDate==null].Name" --output text)"
pending_secrets=$(aws secretsmanager list-secrets --include-planned-deletion \
  --query "SecretList[?$ours && DeletedDate!=null].Name" --output text)
# KMS keys cannot be deleted at once: destroy schedules deletion (7-30 days).
live_keys=""
pending_keys=0
for k in $(aws kms list-keys --query 'Keys[].KeyId' --output text); do
  read -r manager state desc < <(aws kms describe-key --key-id "$k" \
    --query 'KeyMetadata.[KeyManager,KeyState,Description]' --output text)
  [ "$manager" = CUSTOMER ] || continue
  case "$desc" in worker-jobs:*) ;; *) continue ;; esac
  if [ "$state" = PendingDeletion ]; then pending_keys=$((pending_keys + 1)); else live_keys+=" $k($state)"; fi
done
add "KMS keys not pending deletion" "$live_keys"
# Catch-all: whatever the tagging API still lists with the stack's default tag
# (alethia:managed-by = worker-jobs-platform), except the key and secret
# whose scheduled deletion is checked above.
add "tagged alethia:managed-by=worker-jobs-platform" "$(aws resourcegroupstaggingapi get-resources \
  --tag-filters Key=alethia:managed-by,Values=worker-jobs-platform --query 'ResourceTagMappingList[].ResourceARN' \
  --output text | tr '\t' '\n' | grep -Ev '^arn:aws:(kms:[^:]+:[0-9]+:key/|secretsmanager:)' || true)"
state_left=$(aws s3 cp --only-show-errors "s3://$BACKEND_BUCKET/worker-jobs/platform.tfstate" - |
  py -c 'import json,sys; print(len(json.load(sys.stdin)["resources"]))')
[ "$state_left" = 0 ] || left+=("state: $state_left resources still in worker-jobs/platform.tfstate")
if [ ${#left[@]} -gt 0 ]; then
  printf '  - %s\n' "${left[@]}" >&2
  fail "left behind after destroy"
fi
echo "nothing left (KMS keys pending deletion: $pending_keys; secrets scheduled for deletion: ${pending_secrets:-none}; state: 0 resources)"

step "timings (moto on 127.0.0.1:$port)"
printf '%s' "$TIMINGS"
printf '%-34s %6ss\n' "whole script" "$(since "$started")"
echo "ALL CHECKS PASSED"
