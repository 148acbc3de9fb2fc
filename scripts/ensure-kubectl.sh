#!/usr/bin/env bash
# Makes sure a kubectl is installed for the manifest test (test/deploy/k8s.unit.spec.ts renders
# deploy/k8s with `kubectl kustomize`; nothing talks to a cluster). Any kubectl on PATH will do:
# the manifests render the same with the kustomize v2.0.3 that Debian's kubernetes-client
# (kubectl 1.20) embeds and with today's. Prints the executable's path. KUBECTL_PATH names
# another executable to use instead.
set -euo pipefail

if [ -n "${KUBECTL_PATH:-}" ]; then
  if [ -x "$KUBECTL_PATH" ]; then
    echo "$KUBECTL_PATH"
    exit 0
  fi
  echo "ensure-kubectl: KUBECTL_PATH=$KUBECTL_PATH is not an executable" >&2
  exit 1
fi
if found="$(command -v kubectl)"; then
  echo "$found"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "ensure-kubectl: kubectl is missing and this user cannot install it" \
    "(not root, no password-less sudo). Run: sudo apt-get install -y kubernetes-client" \
    "or set KUBECTL_PATH to a kubectl executable." >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-kubectl: kubectl is missing and there is no apt-get here;" \
    "install kubectl and set KUBECTL_PATH to it." >&2
  exit 1
fi

# One installer at a time: parallel test workers may all find it missing.
exec 9>/tmp/cmis-ensure-kubectl.lock
flock 9
if [ ! -x /usr/bin/kubectl ]; then
  echo "ensure-kubectl: installing Debian's kubernetes-client package" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! { "${as_root[@]}" apt-get update -qq && "${as_root[@]}" apt-get install -y -qq --no-install-recommends kubernetes-client; } >&2; then
    echo "ensure-kubectl: apt-get could not install kubernetes-client (are Debian's package mirrors reachable?)" >&2
    exit 1
  fi
fi
if [ ! -x /usr/bin/kubectl ]; then
  echo "ensure-kubectl: the kubernetes-client package installed no /usr/bin/kubectl" >&2
  exit 1
fi
echo /usr/bin/kubectl
