#!/bin/sh
# Installs terraform ${TF_VERSION} into /usr/local/bin (real CodeBuild images
# only; the buildspec calls this only when no terraform is on PATH).
# Needs curl, unzip, sha256sum and outbound HTTPS. Untested on this machine.
set -eu
: "${TF_VERSION:?TF_VERSION must be set}"
case "$(uname -m)" in
  x86_64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "install-terraform: unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac
zip="terraform_${TF_VERSION}_linux_${arch}.zip"
base="https://releases.hashicorp.com/terraform/${TF_VERSION}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
curl -fsSL -o "$tmp/$zip" "$base/$zip"
curl -fsSL -o "$tmp/SHA256SUMS" "$base/terraform_${TF_VERSION}_SHA256SUMS"
(cd "$tmp" && grep " $zip\$" SHA256SUMS | sha256sum -c -)
unzip -o -q -d /usr/local/bin "$tmp/$zip"
terraform version
