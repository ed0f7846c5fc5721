#!/usr/bin/env bash
# Offline checks of the Terraform in infra/: fmt, and `terraform validate` of the
# fargate-runner module and of the example rendered root config, with the
# provider from a filesystem mirror (TF_PROVIDER_MIRROR, default /opt/tf-plugins)
# and no backend. Works in scratch copies so nothing is written under infra/.
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
