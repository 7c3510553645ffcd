#!/usr/bin/env bash
# Builds the test control plane from Go modules into a cache OUTSIDE the clone:
#   ${KPO_TESTBED_CACHE:-$HOME/.cache/konnect-plugin-operator/testbed}/k8s-<version>/
#     bin/{kube-apiserver,etcd,kubectl,helm}
#     gateway-api-crds/*.yaml
# Builds only what is missing or stale (a stamp per artifact records its version and module
# sums), so a second run takes seconds. The last line printed is the bin directory.
# Versions: versions.env. Modules: kube/, etcd/, helm/ (regenerate with gen-modules.sh).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

cache="${KPO_TESTBED_CACHE:-$HOME/.cache/konnect-plugin-operator/testbed}"
root="$cache/k8s-${K8S_VERSION}"
bin="$root/bin"
crds="$root/gateway-api-crds"
mkdir -p "$bin" "$crds"

# GOMODCACHE/GOCACHE stay at Go's defaults (outside the clone). Static binaries, 2 cores.
export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED=0
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
command -v go >/dev/null || { echo "build.sh: go is not on PATH" >&2; exit 1; }

t_script=$SECONDS
log() { echo "[testbed] $*"; }

# Hash contents only: the clone's path must not matter (CI clones afresh on the same machine).
sum_of() { cat "$@" | sha256sum | cut -c1-16; }

# up_to_date NAME STAMP -> 0 when $bin/NAME exists and its stamp matches
up_to_date() { [ -x "$bin/$1" ] && [ -f "$bin/.$1.stamp" ] && [ "$(cat "$bin/.$1.stamp")" = "$2" ]; }

# build NAME MODULE_DIR STAMP PACKAGE LDFLAGS
build() {
  local name="$1" dir="$2" stamp="$3" pkg="$4" ldflags="$5"
  if up_to_date "$name" "$stamp"; then
    log "$name: up to date ($bin/$name)"
    return
  fi
  log "$name: building $pkg (in $dir) ..."
  local t0=$SECONDS
  (cd "$dir" && go build -p 2 -trimpath -ldflags "$ldflags" -o "$bin/.$name.tmp" "$pkg")
  mv -f "$bin/.$name.tmp" "$bin/$name"
  echo "$stamp" >"$bin/.$name.stamp"
  log "$name: built in $((SECONDS - t0))s"
}

mod_time() { # RFC3339 time of a module version from the proxy's .info
  go mod download -json "$1" | sed -n 's/^[[:space:]]*"Info": "\(.*\)",$/\1/p' | xargs cat \
    | sed -n 's/.*"Time":"\([^"]*\)".*/\1/p'
}

# --- kube-apiserver and kubectl (k8s.io/kubernetes) ---------------------------------------
kube_stamp="${K8S_VERSION} $(sum_of "$here/kube/go.mod" "$here/kube/go.sum")"
if ! up_to_date kube-apiserver "$kube_stamp" || ! up_to_date kubectl "$kube_stamp"; then
  k8s_major="${K8S_VERSION#v}"; k8s_major="${k8s_major%%.*}"
  k8s_minor="${K8S_VERSION#v*.}"; k8s_minor="${k8s_minor%%.*}"
  build_date="$(mod_time "k8s.io/kubernetes@${K8S_VERSION}")"
  kube_ldflags="-s -w"
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    kube_ldflags+=" -X $pkg.gitVersion=${K8S_VERSION} -X $pkg.gitMajor=${k8s_major}"
    kube_ldflags+=" -X $pkg.gitMinor=${k8s_minor} -X $pkg.gitTreeState=clean"
    kube_ldflags+=" -X $pkg.buildDate=${build_date}"
  done
  build kube-apiserver "$here/kube" "$kube_stamp" k8s.io/kubernetes/cmd/kube-apiserver "$kube_ldflags"
  build kubectl "$here/kube" "$kube_stamp" k8s.io/kubernetes/cmd/kubectl "$kube_ldflags"
else
  log "kube-apiserver, kubectl: up to date"
fi

# --- etcd (go.etcd.io/etcd/server/v3 at the version Kubernetes pins) -----------------------
etcd_stamp="${ETCD_VERSION} $(sum_of "$here/etcd/go.mod" "$here/etcd/go.sum")"
build etcd "$here/etcd" "$etcd_stamp" go.etcd.io/etcd/server/v3 "-s -w"

# --- helm ----------------------------------------------------------------------------------
helm_major="${HELM_VERSION%%.*}"
helm_stamp="${HELM_VERSION} $(sum_of "$here/helm/go.mod" "$here/helm/go.sum")"
if ! up_to_date helm "$helm_stamp"; then
  # As Helm's Makefile does: default Capabilities.KubeVersion from its client-go version.
  cg="$(cd "$here/helm" && go list -m -f '{{.Version}}' k8s.io/client-go)"   # v0.37.0
  cg="${cg#v}"; cg_major="$(( ${cg%%.*} + 1 ))"; cg_minor="${cg#*.}"; cg_minor="${cg_minor%%.*}"
  hp="helm.sh/helm/${helm_major}"
  helm_ldflags="-s -w -X $hp/internal/version.version=${HELM_VERSION} -X $hp/internal/version.gitTreeState=clean"
  helm_ldflags+=" -X $hp/pkg/lint/rules.k8sVersionMajor=${cg_major} -X $hp/pkg/lint/rules.k8sVersionMinor=${cg_minor}"
  helm_ldflags+=" -X $hp/pkg/chartutil.k8sVersionMajor=${cg_major} -X $hp/pkg/chartutil.k8sVersionMinor=${cg_minor}"
  build helm "$here/helm" "$helm_stamp" "$hp/cmd/helm" "$helm_ldflags"
else
  log "helm: up to date ($bin/helm)"
fi

# --- Gateway API CRDs (standard channel, from the sigs.k8s.io/gateway-api module) ------------
crds_stamp="${GATEWAY_API_VERSION} standard crds-only"
if [ "$(cat "$crds/.stamp" 2>/dev/null || true)" = "$crds_stamp" ] && ls "$crds"/*.yaml >/dev/null 2>&1; then
  log "gateway-api CRDs ${GATEWAY_API_VERSION}: up to date ($crds)"
else
  log "gateway-api CRDs ${GATEWAY_API_VERSION}: fetching sigs.k8s.io/gateway-api module ..."
  gw_dir="$(go mod download -json "sigs.k8s.io/gateway-api@${GATEWAY_API_VERSION}" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -d "$gw_dir/config/crd/standard" ] || { echo "build.sh: no config/crd/standard in $gw_dir" >&2; exit 1; }
  rm -f "$crds"/*.yaml
  # Only the CRDs: not kustomization.yaml, nor the safe-upgrades ValidatingAdmissionPolicy
  # (it would forbid a test from installing experimental-channel CRDs on top).
  for f in "$gw_dir"/config/crd/standard/*.yaml; do
    grep -q '^kind: CustomResourceDefinition' "$f" && install -m 0644 "$f" "$crds/"
  done
  echo "$crds_stamp" >"$crds/.stamp"
  log "gateway-api CRDs: $(ls "$crds"/*.yaml | wc -l) files in $crds"
fi

log "done in $((SECONDS - t_script))s"
echo "$bin"
