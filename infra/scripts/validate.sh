#!/usr/bin/env bash
# Offline checks of the Terraform in infra/: fmt, and `terraform validate` of the
# fargate-runner module, of the example rendered root config and of the
# platform stack (infra/platform), with the provider from a filesystem mirror
# (TF_PROVIDER_MIRROR, default /opt/tf-plugins) and no backend; then a
# cross-check that the platform deploys every function the state machines call.
# Works in scratch copies so nothing is written under infra/.
#
#   infra/scripts/validate.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
infra=$(cd "$here/.." && pwd)
TF_PROVIDER_MIRROR=${TF_PROVIDER_MIRROR:-/opt/tf-plugins}

scratch=$(mktemp -d "${TMPDIR:-/tmp}/tfwork-validate.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
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
export TF_CLI_CONFIG_FILE="$scratch/terraformrc" CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
# validate needs no credentials, but keep the provider away from any real endpoint.
export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true

echo "== terraform fmt -check"
terraform fmt -check -recursive -diff "$infra"

echo "== module fargate-runner"
mkdir "$scratch/module"
cp -R "$infra/modules/fargate-runner/." "$scratch/module/"
terraform -chdir="$scratch/module" init -backend=false -input=false -no-color >/dev/null
terraform -chdir="$scratch/module" validate -no-color

echo "== example root config (as the buildspec lays it out)"
mkdir "$scratch/root"
cp -R "$infra/modules" "$scratch/root/modules"
cp "$infra/examples/worker-root.tf.json" "$scratch/root/main.tf.json"
cp "$infra/buildspec/worker-root.terraform.lock.hcl" "$scratch/root/.terraform.lock.hcl"
# -lockfile=readonly: fail if the committed lock file does not match the config.
terraform -chdir="$scratch/root" init -backend=false -input=false -no-color -lockfile=readonly >/dev/null
terraform -chdir="$scratch/root" validate -no-color

echo "== platform stack (infra/platform)"
# The stack reads ../tables.json and ../../statemachines: copy that layout.
# Only the committed *.tf files and lock file: no local overrides, tfvars or .terraform.
repo="$scratch/platform-repo"
mkdir -p "$repo/infra/platform" "$repo/statemachines"
for f in "$infra"/platform/*.tf; do
  case "$(basename "$f")" in override.tf | *_override.tf) continue ;; esac
  cp "$f" "$repo/infra/platform/"
done
cp "$infra/platform/.terraform.lock.hcl" "$repo/infra/platform/"
cp "$infra/tables.json" "$repo/infra/tables.json"
cp "$infra"/../statemachines/*.asl.json "$repo/statemachines/"
TF_DATA_DIR="$scratch/platform-data" terraform -chdir="$repo/infra/platform" init -backend=false -input=false -no-color -lockfile=readonly >/dev/null
TF_DATA_DIR="$scratch/platform-data" terraform -chdir="$repo/infra/platform" validate -no-color

echo "== platform deploys what the state machines call"
# terraform console needs an initialised backend: a local one, in scratch only.
printf 'terraform {\n  backend "local" {\n    path = "%s"\n  }\n}\n' "$scratch/console.tfstate" >"$repo/infra/platform/backend_override.tf"
TF_DATA_DIR="$scratch/console-data" terraform -chdir="$repo/infra/platform" init -input=false -no-color -lockfile=readonly >/dev/null
deployed=$(echo 'join(" ", concat([for c, f in local.functions : f.name], [local.codebuild_project_name]))' |
  TF_DATA_DIR="$scratch/console-data" terraform -chdir="$repo/infra/platform" console -var build_source_s3=example-bucket/infra.zip 2>/dev/null | tr -d '"')
[ -n "$deployed" ] || { echo "could not list the platform's functions (terraform console)" >&2; exit 1; }
missing=0
called=$(sed -n 's/.*"\(FunctionName\|ProjectName\)": *"\([^"]*\)".*/\2/p' "$infra"/../statemachines/*.asl.json | sort -u)
crates=$(cd "$infra/../functions" && for d in */; do printf 'worker-jobs-%s\n' "${d%/}"; done)
for name in $called $crates; do
  case " $deployed " in
    *" $name "*) ;;
    *) echo "not deployed by infra/platform: $name" >&2; missing=1 ;;
  esac
done
[ "$missing" = 0 ]
echo "ok: $(echo "$called" | wc -w) names called by the state machines, $(echo "$crates" | wc -w) function crates, all deployed"
