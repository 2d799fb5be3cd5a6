#!/usr/bin/env bash
# Builds Kubernetes 1.20 binaries from Debian bookworm's `kubernetes` source package (it carries
# the whole upstream tree with vendor/, so it builds offline) and caches them outside the repo.
# Also installs etcd. Idempotent: a cached build is kept; a second run only checks.
#
#   bash scripts/k8s-build.sh            # kube-apiserver, -scheduler, -controller-manager (tests/k8s;
#                                        #   make setup-test), into ~/.cache/harvis/k8s-bin
#   bash scripts/k8s-build.sh node       # kubelet, kube-proxy and the pause binary (make cluster)
#   bash scripts/k8s-build.sh all        # both in one build (shares most of the compiling)
#   HARVIS_K8S_BIN=/some/dir bash ...    # another cache directory
main() {
set -euo pipefail

TARGET="${1:-control-plane}"
BIN_DIR="${HARVIS_K8S_BIN:-$HOME/.cache/harvis/k8s-bin}"
KUBE_VERSION="v1.20.2"
case "$TARGET" in
  control-plane) BINARIES=(kube-apiserver kube-scheduler kube-controller-manager)
                 WORK_DIR="${HARVIS_K8S_WORK:-$HOME/.cache/harvis/k8s-src}"; MINUTES=9 ;;
  node)          BINARIES=(kubelet kube-proxy)
                 WORK_DIR="${HARVIS_K8S_WORK:-$HOME/.cache/harvis/k8s-src-node}"; MINUTES=15 ;;
  all)           BINARIES=(kube-apiserver kube-scheduler kube-controller-manager kubelet kube-proxy)
                 WORK_DIR="${HARVIS_K8S_WORK:-$HOME/.cache/harvis/k8s-src-all}"; MINUTES=20 ;;
  *) echo "usage: bash scripts/k8s-build.sh [control-plane|node|all]" >&2; exit 2 ;;
esac
# Bumped when the recipe changes, so binaries of an older recipe are built again.
RECIPE="2 (reflect2 1.0.2, json-iterator 1.1.12 from Debian)"

sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"

have_all() {
  for b in "${BINARIES[@]}"; do
    [ -x "$BIN_DIR/$b" ] && [ "$(cat "$BIN_DIR/.$b.recipe" 2>/dev/null)" = "$RECIPE" ] || return 1
  done
  [ "$TARGET" = control-plane ] || [ -x "$BIN_DIR/pause" ] || return 1
  "$BIN_DIR/${BINARIES[0]}" --version 2>/dev/null | grep -q "$KUBE_VERSION"
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
  [ -d /usr/share/gocode/src/github.com/modern-go/reflect2 ] || need+=(golang-github-modern-go-reflect2-dev)
  [ -d /usr/share/gocode/src/github.com/json-iterator/go ] || need+=(golang-github-json-iterator-go-dev)
  # The pod sandbox's pause binary is linked statically from the same tree.
  if [ "$TARGET" != control-plane ]; then command -v gcc >/dev/null || need+=(gcc); [ -e /usr/lib/x86_64-linux-gnu/libc.a ] || need+=(libc6-dev); fi
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "k8s-build: installing ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

if have_all; then
  echo "k8s-build: cached ${BINARIES[*]} in $BIN_DIR ($KUBE_VERSION)"
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
echo "k8s-build: building ${BINARIES[*]} in $WORK_DIR/$src_dir (about $MINUTES minutes on 2 cores)"
cd "$src_dir"
# With bookworm's Go 1.19 the vendored reflect2 1.0.1 corrupts map iteration: the API server dies
# with "fatal error: fault" in UnsafeMapType.UnsafeIterate while encoding JSON. Debian ships the
# fixed reflect2 1.0.2 and the json-iterator 1.1.12 made for it: vendor those instead.
rsync -a --delete --exclude='*_test.go' /usr/share/gocode/src/github.com/modern-go/reflect2/ vendor/github.com/modern-go/reflect2/
rsync -a --delete --exclude='*_test.go' /usr/share/gocode/src/github.com/json-iterator/go/ vendor/github.com/json-iterator/go/
sed -i -e 's#github.com/modern-go/reflect2 v1.0.1#github.com/modern-go/reflect2 v1.0.2#' \
       -e 's#github.com/json-iterator/go v1.1.10#github.com/json-iterator/go v1.1.12#' go.mod vendor/modules.txt
export KUBE_GIT_VERSION="$KUBE_VERSION" KUBE_GIT_TREE_STATE=clean
export GOTOOLCHAIN=local
# A private Go build cache: two builds at once (control plane, node) must not share or delete one.
export GOCACHE="$WORK_DIR/go-build"
nice -n 10 make WHAT="${BINARIES[*]/#/cmd/}"
for b in "${BINARIES[@]}"; do
  # A new file renamed into place: a running binary of the old build keeps working.
  install -m 0755 "_output/local/bin/linux/$(go env GOARCH)/$b" "$BIN_DIR/.$b.new"
  mv -f "$BIN_DIR/.$b.new" "$BIN_DIR/$b"
  echo "$RECIPE" > "$BIN_DIR/.$b.recipe"
done
if [ "$TARGET" != control-plane ]; then
  gcc -Os -static -o "$BIN_DIR/.pause.new" build/pause/linux/pause.c && mv -f "$BIN_DIR/.pause.new" "$BIN_DIR/pause"
fi
have_all
# The unpacked tree and Go's build cache are ~3 GB; only the binaries are needed.
cd "$HOME" && rm -rf "$WORK_DIR"
echo "k8s-build: built into $BIN_DIR"
}
main "$@"; exit
