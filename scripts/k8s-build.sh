#!/usr/bin/env bash
# Builds kube-apiserver, kube-scheduler and kube-controller-manager 1.20 from Debian bookworm's
# `kubernetes` source package (it carries the whole upstream tree with vendor/, so it builds
# offline) and caches them outside the repo. Also installs etcd. Idempotent: a cached build is
# kept; a second run only checks. Used by `make setup-test` for tests/k8s.
#
#   bash scripts/k8s-build.sh            # build once into ~/.cache/harvis/k8s-bin
#   HARVIS_K8S_BIN=/some/dir bash ...    # another cache directory
set -euo pipefail

BIN_DIR="${HARVIS_K8S_BIN:-$HOME/.cache/harvis/k8s-bin}"
WORK_DIR="${HARVIS_K8S_WORK:-$HOME/.cache/harvis/k8s-src}"
KUBE_VERSION="v1.20.2"
BINARIES=(kube-apiserver kube-scheduler kube-controller-manager)

sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"

have_all() {
  for b in "${BINARIES[@]}"; do [ -x "$BIN_DIR/$b" ] || return 1; done
  "$BIN_DIR/kube-apiserver" --version 2>/dev/null | grep -q "$KUBE_VERSION"
}

# etcd comes from Debian as a binary package; golang-go/rsync are needed only to build.
need=()
command -v etcd >/dev/null || need+=(etcd-server)
command -v etcdctl >/dev/null || need+=(etcd-client)
if ! have_all; then
  command -v go >/dev/null || need+=(golang-go)
  command -v rsync >/dev/null || need+=(rsync)
  command -v make >/dev/null || need+=(make)
  command -v dpkg-source >/dev/null || need+=(dpkg-dev)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "k8s-build: installing ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

if have_all; then
  echo "k8s-build: cached binaries in $BIN_DIR ($KUBE_VERSION)"
  exit 0
fi

if [ "$(cut -d. -f1 /etc/debian_version)" != "12" ]; then
  # Debian 13's Go is newer than a 1.20 tree accepts; bookworm's Go 1.19 is what was verified.
  echo "k8s-build: warning: verified on Debian 12 only; this is $(cat /etc/debian_version)" >&2
fi

mkdir -p "$WORK_DIR" "$BIN_DIR"
cd "$WORK_DIR"

# A private apt configuration with a deb-src entry, so the machine's own sources stay untouched.
src_dir=$(ls -d kubernetes-1.20*/ 2>/dev/null | head -n1 || true)
if [ -z "$src_dir" ]; then
  apt_dir="$WORK_DIR/apt"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/sources.list.d"
  # The first Debian archive URI the machine itself uses (deb822 or one-line format).
  uri=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
        | sed -nE 's#^URIs: *([^ ]*/debian)/?$#\1#p; s#^deb +(\[[^]]*\] +)?([^ ]*/debian)/? .*#\2#p' \
        | head -n1 || true)
  uri="${uri:-http://deb.debian.org/debian}"
  echo "deb-src $uri bookworm main" > "$apt_dir/sources.list"
  apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
            -o "Dir::State::Lists=$apt_dir/lists")
  apt-get "${apt_opts[@]}" update -qq
  apt-get "${apt_opts[@]}" source --download-only kubernetes
  dpkg-source --no-check -x kubernetes_*.dsc >/dev/null
  src_dir=$(ls -d kubernetes-1.20*/ | head -n1)
fi
echo "k8s-build: building in $WORK_DIR/$src_dir (about 9 minutes on 2 cores)"
cd "$src_dir"
export KUBE_GIT_VERSION="$KUBE_VERSION" KUBE_GIT_TREE_STATE=clean
export GOTOOLCHAIN=local
nice -n 10 make WHAT="cmd/kube-apiserver cmd/kube-scheduler cmd/kube-controller-manager"
for b in "${BINARIES[@]}"; do
  install -m 0755 "_output/local/bin/linux/$(go env GOARCH)/$b" "$BIN_DIR/$b"
done
have_all
# The unpacked tree and Go's build cache are ~3 GB; only the binaries are needed.
cd "$HOME" && rm -rf "$WORK_DIR" && { GOCACHE=$(go env GOCACHE) && rm -rf "$GOCACHE"; } || true
echo "k8s-build: built into $BIN_DIR"
