#!/usr/bin/env bash
# A real two-node Kubernetes 1.20 cluster on this machine, inside private mount + network
# namespaces (nothing on the host changes: sysctls, iptables, routes, mounts and bridges all
# live in namespaces this script makes; the only host objects are cgroups under this
# process's own cgroup, removed by `down`).
#
#   scripts/cluster.sh up                      # make cluster: etcd, API server, scheduler,
#                                              #   controller manager, DNS, two nodes
#   scripts/cluster.sh kubectl ARGS…           # kubectl against it (image references of
#                                              #   `apply/delete -f` resolved to local images)
#   scripts/cluster.sh exec CMD…               # run CMD inside the cluster's namespaces
#   scripts/cluster.sh add-node NAME ROLE [GPUS]   # one more kubelet (scale-out, edge)
#   scripts/cluster.sh status | down           # make cluster-down stops everything by PID
#   scripts/cluster.sh check                   # can `up` run here? (says what is missing)
#   scripts/cluster.sh rewrite < FILE          # FILE with its image references resolved
#
# Nodes: `pop-os` (harvis.ai/role=ollama) and `pop-os-343570d8` (harvis.ai/role=backend), the
# guide's two machines. Each has its own network namespace, containerd, kubelet, kube-proxy and
# pod subnet; the control plane and the DNS live in the outer namespace ("the LAN", 10.200.0.1).
# Each node advertises `nvidia.com/gpu` through its status and 8 CPUs (the manifests request
# workstation-sized CPU; every node here shares this machine's cores).
main() {
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SELF="$REPO/scripts/cluster.sh"
DIR="${HARVIS_CLUSTER_DIR:-/tmp/harvis-cluster}"
K8S_BIN="${HARVIS_K8S_BIN:-$HOME/.cache/harvis/k8s-bin}"
IMAGES_CACHE="${HARVIS_IMAGES_CACHE:-$HOME/.cache/harvis/images}"
CTRD_CACHE="${HARVIS_CLUSTER_CACHE:-$HOME/.cache/harvis/cluster}/containerd"
LAN_IP=10.200.0.1
API="https://$LAN_IP:6443"
NODE_CPUS="${HARVIS_CLUSTER_NODE_CPUS:-8}"
TOKEN_ADMIN=harvis-cluster-admin
# Node names the API server knows credentials for (Node authorisation needs them at its start).
NODE_NAMES="${HARVIS_CLUSTER_NODES:-pop-os pop-os-343570d8 edge-box gpu-node-3 gpu-node-4}"
cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
  up) up "$@" ;;
  check) preflight ;;
  rewrite) rewrite_images ;;
  down) down ;;
  status) status ;;
  exec) in_ns env KUBECONFIG="$DIR/kubeconfig" "$@" ;;
  kubectl) kubectl_rewritten "$@" ;;
  add-node) need_running; add_node "$@" ;;
  _inside) inside "$@" ;;
  *) sed -n '2,24p' "$SELF" | sed 's/^# \{0,1\}//'; [ -z "$cmd" ] || exit 2 ;;
esac
}

log() { echo "cluster: $*" >&2; }
die() { echo "cluster: $*" >&2; exit 1; }
holder() { cat "$DIR/pids/holder" 2>/dev/null || true; }
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
need_running() { alive "$(holder)" || die "no cluster in $DIR: run make cluster (scripts/cluster.sh up)"; }
# Keeps the caller's working directory (entering a mount namespace would reset it to /).
in_ns() { need_running; nsenter -t "$(holder)" -m -n --wd="$PWD" -- "$@"; }
record() { echo "$2" > "$DIR/pids/$1"; }

# PID's namespaces (KINDS: mnt net) differ from REF's? A process started by `unshare` is in the
# old namespaces until it has made the new ones: joining it too early would be joining the host.
ns_differ() {  # PID REF KIND…
  local pid=$1 ref=$2 kind; shift 2
  for kind in "$@"; do
    [ "$(readlink "/proc/$pid/ns/$kind")" != "$(readlink "/proc/$ref/ns/$kind")" ] || return 1
  done
}
wait_ns() {  # PID REF KIND…: until PID has its own namespaces, or fail
  local i
  for i in $(seq 1 100); do ns_differ "$@" && return 0; alive "$1" || break; sleep 0.1; done
  die "process $1 did not get its own namespaces ($*)"
}

# ---------------------------------------------------------------- what is needed, and how to get it
preflight() {
  local missing=() how=()
  [ "$(id -u)" -eq 0 ] || die "needs root (namespaces, cgroups); run it as root"
  for b in kube-apiserver kube-scheduler kube-controller-manager; do
    [ -x "$K8S_BIN/$b" ] || { missing+=("$K8S_BIN/$b"); how+=("bash scripts/k8s-build.sh"); }
  done
  for b in kubelet kube-proxy pause; do
    [ -x "$K8S_BIN/$b" ] || { missing+=("$K8S_BIN/$b"); how+=("bash scripts/k8s-build.sh node"); }
  done
  local t
  for t in etcd containerd containerd-shim-runc-v2 ctr runc iptables dnsmasq nsenter unshare ip kubectl; do
    command -v "$t" >/dev/null || { missing+=("$t"); how+=("bash scripts/cluster-deps.sh"); }
  done
  [ -x /usr/lib/cni/bridge ] || { missing+=("CNI plugins (/usr/lib/cni/bridge)"); how+=("bash scripts/cluster-deps.sh"); }
  bash "$REPO/scripts/images.sh" --archive >/dev/null 2>&1 \
    || { missing+=("the project's images ($IMAGES_CACHE/archives)"); how+=("make images"); }
  if [ ${#missing[@]} -gt 0 ]; then
    echo "cluster: cannot start, missing:" >&2
    printf '  %s\n' "${missing[@]}" >&2
    echo "cluster: to get them: $(printf '%s\n' "${how[@]}" | awk '!seen[$0]++' | paste -sd';' | sed 's/;/; then /g')" >&2
    exit 1
  fi
}

# ---------------------------------------------------------------- up
up() {
  preflight
  if alive "$(holder)"; then die "a cluster already runs in $DIR (scripts/cluster.sh down first)"; fi
  [ ! -d "$DIR/pids" ] || down_quiet
  rm -rf "$DIR"
  mkdir -p "$DIR/pids" "$DIR/logs" "$DIR/nodes" "$DIR/volumes" "$DIR/rewritten"
  local t0=$SECONDS
  # The holder keeps the namespaces alive; everything else joins them.
  # (No inherited stdout/stderr: a caller reading them would wait for it to end.)
  unshare -m -n --propagation private sleep infinity </dev/null >/dev/null 2>&1 &
  record holder $!
  wait_ns "$(holder)" $$ mnt net
  nsenter -t "$(holder)" -m -n -- bash "$SELF" _inside setup "$DIR"
  start_control_plane
  add_node pop-os ollama 1
  add_node pop-os-343570d8 backend 1
  log "up in $((SECONDS - t0)) s: $(kubectl_plain get nodes --no-headers | awk '{print $1 "=" $2}' | paste -sd' ')"
  cat >&2 <<EOF
cluster: use it with
  scripts/cluster.sh kubectl get nodes -L harvis.ai/role
  scripts/cluster.sh kubectl apply -f k8s-manifests/base/configmaps.yaml   # image: fields resolved to local images
  scripts/cluster.sh exec curl -s http://10.200.0.11:30080/               # a command inside the cluster's network
  make cluster-down                                                        # stop everything (by PID)
EOF
}

inside() {  # runs inside the holder's namespaces
  local what=$1 dir=$2
  case "$what" in
    setup)
      # Never on the host: this must run in the holder's own namespaces.
      if ! ns_differ $$ 1 mnt net; then echo "cluster: setup refused: not in a private namespace" >&2; exit 1; fi
      # Private /run (netns mounts, shim sockets, xtables lock) and /var/log (pod logs).
      mount -t tmpfs -o mode=755 tmpfs /run && mkdir -p /run/netns /run/containerd
      mount -t tmpfs -o mode=755 tmpfs /var/log && mkdir -p /var/log/pods /var/log/containers
      # kubelet rewrites these host-wide sysctls: give it private copies.
      mkdir -p "$dir/sysctl"
      local f
      for f in vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops \
               kernel/keys/root_maxkeys kernel/keys/root_maxbytes; do
        [ -e "/proc/sys/$f" ] || continue
        cat "/proc/sys/$f" > "$dir/sysctl/${f//\//.}"
        mount --bind "$dir/sysctl/${f//\//.}" "/proc/sys/$f"
      done
      fake_cpus "$dir"
      ip link set lo up
      ip link add hv0 type bridge && ip addr add "$LAN_IP/24" dev hv0 && ip link set hv0 up
      sysctl -qw net.ipv4.ip_forward=1
      ;;
  esac
}

# cAdvisor counts a node's CPUs from /sys/devices/system/node/node*/cpu*: a private copy with
# NODE_CPUS of them, for the kubelets only (containers mount their own /sys).
fake_cpus() {
  local dir=$1 real=/sys/devices/system/node/node0 fake="$1/sysfs-node"
  mkdir -p "$fake/node0"
  cp "$real/meminfo" "$fake/node0/meminfo" 2>/dev/null || true
  cp -r "$real/hugepages" "$fake/node0/" 2>/dev/null || true
  cp "$real/distance" "$fake/node0/" 2>/dev/null || true
  local i
  for i in $(seq 0 $((NODE_CPUS - 1))); do
    mkdir -p "$fake/node0/cpu$i/topology"
    echo 1 > "$fake/node0/cpu$i/online"
    echo "$i" > "$fake/node0/cpu$i/topology/core_id"
    echo 0 > "$fake/node0/cpu$i/topology/physical_package_id"
  done
  mount --bind "$fake" /sys/devices/system/node
}

start_control_plane() {
  local cp="$DIR/control-plane"
  mkdir -p "$cp"
  openssl genrsa -out "$cp/sa.key" 2048 2>/dev/null
  openssl rsa -in "$cp/sa.key" -pubout -out "$cp/sa.pub" 2>/dev/null
  {
    echo "$TOKEN_ADMIN,admin,admin,\"system:masters\""
    echo "harvis-kube-proxy,system:kube-proxy,kube-proxy"
    local n
    for n in $NODE_NAMES; do echo "harvis-node-$n,system:node:$n,node-$n,\"system:nodes\""; done
  } > "$cp/tokens.csv"
  write_kubeconfig "$DIR/kubeconfig" "$TOKEN_ADMIN"
  write_kubeconfig "$cp/kube-proxy.kubeconfig" harvis-kube-proxy
  daemon etcd etcd --data-dir "$cp/etcd" --name harvis \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster harvis=http://127.0.0.1:2380 --quota-backend-bytes $((512 * 1024 * 1024))
  daemon kube-apiserver "$K8S_BIN/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 \
    --bind-address=0.0.0.0 --advertise-address="$LAN_IP" --secure-port=6443 \
    --cert-dir="$cp/certs" --token-auth-file="$cp/tokens.csv" --authorization-mode=Node,RBAC \
    --service-cluster-ip-range=10.96.0.0/16 --service-node-port-range=30000-32767 \
    --service-account-issuer=https://kubernetes.default.svc --service-account-key-file="$cp/sa.pub" \
    --service-account-signing-key-file="$cp/sa.key" --disable-admission-plugins=ServiceAccount \
    --kubelet-preferred-address-types=InternalIP --allow-privileged=true --logtostderr=true --v=1
  wait_for 120 "the API server" in_ns curl -skf -A harvis-cluster -H "Authorization: Bearer $TOKEN_ADMIN" "$API/readyz"
  local common=(--kubeconfig="$DIR/kubeconfig" --leader-elect=false --port=0 --logtostderr=true --v=1)
  daemon kube-scheduler "$K8S_BIN/kube-scheduler" "${common[@]}" --secure-port=0
  daemon kube-controller-manager "$K8S_BIN/kube-controller-manager" "${common[@]}" --secure-port=0 \
    --controllers='*' --service-account-private-key-file="$cp/sa.key" \
    --concurrent-deployment-syncs=2 --concurrent-replicaset-syncs=2 --node-monitor-grace-period=20s
  # Cluster DNS: dnsmasq answers *.svc.cluster.local from a hosts file that follows the
  # Services and their endpoints (what CoreDNS does; CoreDNS is not in Debian).
  mkdir -p "$DIR/dns" && : > "$DIR/dns/hosts" && : > "$DIR/resolv.conf"
  daemon dnsmasq dnsmasq --keep-in-foreground --no-resolv --no-hosts --addn-hosts="$DIR/dns/hosts" \
    --listen-address="$LAN_IP" --bind-interfaces --local=/cluster.local/ --domain-needed \
    --no-negcache --local-ttl=1 --user=root --log-facility=-
  daemon dns-sync python3 "$REPO/scripts/cluster_dns.py" --server "$API" --token "$TOKEN_ADMIN" \
    --hosts "$DIR/dns/hosts" --dnsmasq-pid "$(cat "$DIR/pids/dnsmasq")"
}

write_kubeconfig() {
  cat > "$1" <<EOF
apiVersion: v1
kind: Config
current-context: harvis
clusters: [{name: harvis, cluster: {server: "$API", insecure-skip-tls-verify: true}}]
users: [{name: user, user: {token: "$2"}}]
contexts: [{name: harvis, context: {cluster: harvis, user: user, namespace: default}}]
EOF
}

daemon() {  # NAME CMD…: start CMD in the namespaces (of node $NODE_PID if set), log, record its PID
  local name=$1; shift
  local target="${NODE_PID:-$(holder)}"
  mkdir -p "$DIR/cmdline" && printf '%s\0' "$@" > "$DIR/cmdline/$name"
  nsenter -t "$target" -m -n -- "$@" < /dev/null > "$DIR/logs/$name.log" 2>&1 &
  record "$name" $!
}

wait_for() {  # SECONDS WHAT CMD…
  local limit=$1 what=$2 t0=$SECONDS; shift 2
  until "$@" >/dev/null 2>&1; do
    for p in "$DIR"/pids/*; do
      alive "$(cat "$p")" || die "$(basename "$p") exited; last lines of its log:
$(tail -n 20 "$DIR/logs/$(basename "$p").log" 2>/dev/null)"
    done
    [ $((SECONDS - t0)) -lt "$limit" ] || die "$what not ready within $limit s"
    sleep 0.5
  done
}

# ---------------------------------------------------------------- nodes
add_node() {  # NAME ROLE [GPUS]
  local name=${1:?node name} role=${2:?role label} gpus=${3:-1}
  [ ! -d "$DIR/nodes/$name" ] || die "node $name exists"
  case " $NODE_NAMES " in *" $name "*) ;; *) die "node names are: $NODE_NAMES (HARVIS_CLUSTER_NODES at up)" ;; esac
  local n=$(( $(ls "$DIR/nodes" | wc -l) + 1 ))
  local ip="10.200.0.$((10 + n))" subnet="10.244.$n.0/24" nd="$DIR/nodes/$name"
  mkdir -p "$nd"/{containerd,cni/net.d,cni/state,kubelet,volume-plugins}
  echo "$ip" > "$nd/ip"
  log "node $name ($role, $gpus GPU, $ip, pods $subnet)"
  # The node's image store is kept between clusters (importing the images takes a minute per
  # node): ~/.cache/harvis/cluster/containerd/NAME, locked by the node's namespace holder below
  # while it lives; a second cluster at the same time gets a fresh store.
  local store="$CTRD_CACHE/$name" lock
  mkdir -p "$store"
  exec {lock}>"$store.lock"
  if ! flock -n "$lock"; then store="$nd/containerd/root"; fi
  # Its own network namespace, wired to the LAN bridge, and its own mount namespace: a kubelet
  # removes every pod log directory in /var/log/pods it does not know, so each needs its own.
  nsenter -t "$(holder)" -m -n -- unshare -m -n --propagation private sleep infinity </dev/null >/dev/null 2>&1 &
  record "netns-$name" $!
  local pid=$!
  exec {lock}>&-  # only the holder keeps the lock
  wait_ns "$pid" "$(holder)" mnt net
  nsenter -t "$pid" -m -- sh -c 'mount -t tmpfs -o mode=755 tmpfs /var/log && mkdir -p /var/log/pods /var/log/containers'
  in_ns ip link add "hv-$n" type veth peer name eth0 netns "$pid"
  in_ns ip link set "hv-$n" master hv0 up
  in_ns ip route add "$subnet" via "$ip"
  nsenter -t "$pid" -n -- sh -c "ip link set lo up && ip addr add $ip/24 dev eth0 && ip link set eth0 up \
    && ip route add default via $LAN_IP && sysctl -qw net.ipv4.ip_forward=1"
  # Bridged pod-to-pod replies must pass kube-proxy's NAT (per network namespace on this kernel).
  nsenter -t "$pid" -n -- sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null \
    || log "node $name: bridge-nf-call-iptables not settable here"
  echo "$store" > "$nd/containerd-root"
  cat > "$nd/containerd/config.toml" <<EOF
version = 2
root = "$store"
state = "$nd/containerd/state"
[grpc]
  address = "$nd/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/harvis-standin/pause:3.4.1"
  enable_selinux = false
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/bin/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$nd/cni/net.d"
EOF
  cat > "$nd/cni/net.d/10-harvis.conflist" <<EOF
{ "cniVersion": "0.4.0", "name": "harvis",
  "plugins": [
    { "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": { "type": "host-local", "ranges": [[{"subnet": "$subnet"}]], "routes": [{"dst": "0.0.0.0/0"}],
                "dataDir": "$nd/cni/state" } },
    { "type": "portmap", "capabilities": {"portMappings": true} },
    { "type": "loopback" } ] }
EOF
  local sock="$nd/containerd/containerd.sock" ctr_=(nsenter -t "$pid" -m -n -- ctr -a "$nd/containerd/containerd.sock" -n k8s.io)
  # Containers of an earlier cluster (their processes died with it) go before CRI loads them.
  sed 's#^\[plugins."io.containerd.grpc.v1.cri"\]#disabled_plugins = ["io.containerd.grpc.v1.cri"]\n&#' \
    "$nd/containerd/config.toml" > "$nd/containerd/clean.toml"
  NODE_PID=$pid daemon "containerd-clean-$name" containerd --config "$nd/containerd/clean.toml"
  wait_for 60 "containerd of $name" "${ctr_[@]}" version
  "${ctr_[@]}" containers ls -q | xargs -r "${ctr_[@]}" containers rm > /dev/null
  stop_pid "$(cat "$DIR/pids/containerd-clean-$name")" && rm -f "$DIR/pids/containerd-clean-$name" "$sock"
  NODE_PID=$pid daemon "containerd-$name" containerd --config "$nd/containerd/config.toml"
  wait_for 60 "containerd of $name" "${ctr_[@]}" version
  local t0=$SECONDS archive
  archive="$(bash "$REPO/scripts/images.sh" --archive)"
  if [ "$(cat "$store/harvis-imported" 2>/dev/null)" != "$(basename "$archive")" ]; then
    "${ctr_[@]}" images import "$archive" > /dev/null
    basename "$archive" > "$store/harvis-imported"
    log "node $name: images imported in $((SECONDS - t0)) s"
  fi
  # The node's cgroups sit under this process's own (memory-accounted) cgroup.
  local base
  base="$(awk -F: '$2=="memory"{print $3}' /proc/self/cgroup)"
  local croot="${base%/}/harvis-cluster-$$-$n"
  echo "$croot" > "$nd/cgroup-root"
  # Every directory made here is noted (deepest last) for `down` to remove.
  local ctrl p part
  for ctrl in /sys/fs/cgroup/*/; do
    [ -d "$ctrl" ] || continue
    p=""
    for part in ${croot//\// }; do
      p="$p/$part"
      [ -d "$ctrl${p#/}" ] && continue
      mkdir "$ctrl${p#/}"
      echo "$ctrl${p#/}" >> "$nd/cgroups-made"
      if [ -f "${ctrl}cpuset.cpus" ]; then  # a new cpuset starts empty: give it its parent's
        cat "$(dirname "$ctrl${p#/}")/cpuset.cpus" > "$ctrl${p#/}/cpuset.cpus"
        cat "$(dirname "$ctrl${p#/}")/cpuset.mems" > "$ctrl${p#/}/cpuset.mems"
      fi
    done
  done
  cat > "$nd/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 0.0.0.0
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication: {anonymous: {enabled: true}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
cgroupsPerQOS: true
cgroupRoot: "$croot"
failSwapOn: false
clusterDomain: cluster.local
clusterDNS: ["$LAN_IP"]
resolvConf: "$DIR/resolv.conf"
volumePluginDir: "$nd/volume-plugins"
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
maxPods: 30
serializeImagePulls: false
EOF
  cat > "$nd/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: "$DIR/control-plane/kube-proxy.kubeconfig"}
hostnameOverride: "$name"
bindAddress: "$ip"
mode: iptables
clusterCIDR: 10.244.0.0/16
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: ["$ip/32"]
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
  write_kubeconfig "$nd/kubelet.kubeconfig" "harvis-node-$name"
  NODE_PID=$pid daemon "kubelet-$name" "$K8S_BIN/kubelet" --config="$nd/kubelet/config.yaml" \
    --kubeconfig="$nd/kubelet.kubeconfig" --root-dir="$nd/kubelet/root" --cert-dir="$nd/kubelet/pki" \
    --container-runtime=remote --container-runtime-endpoint="unix://$nd/containerd/containerd.sock" \
    --image-service-endpoint="unix://$nd/containerd/containerd.sock" --hostname-override="$name" \
    --node-ip="$ip" --node-labels="harvis.ai/role=$role" --logtostderr=true --v=1
  NODE_PID=$pid daemon "kube-proxy-$name" "$K8S_BIN/kube-proxy" --config="$nd/kube-proxy.yaml" --v=1
  wait_for 120 "node $name" node_ready "$name"
  # What the NVIDIA device plugin would report: the GPUs as an extended resource.
  in_ns curl -skf -A harvis-cluster -X PATCH -H "Authorization: Bearer $TOKEN_ADMIN" -H "Content-Type: application/json-patch+json" \
    --data "[{\"op\":\"add\",\"path\":\"/status/capacity/nvidia.com~1gpu\",\"value\":\"$gpus\"}]" \
    "$API/api/v1/nodes/$name/status" > /dev/null
}

node_ready() {
  kubectl_plain get node "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -qx True
}

# ---------------------------------------------------------------- kubectl with local images
kubectl_plain() { in_ns kubectl --kubeconfig "$DIR/kubeconfig" "$@"; }

# Public image references -> the images `make images` built. Only `image:` fields change.
rewrite_images() {
  sed -E \
    -e 's#^([[:space:]-]*image:[[:space:]]*)"?ollama/ollama:[^"[:space:]]*"?#\1localhost/harvis-standin/ollama:0.13.5#' \
    -e 's#^([[:space:]-]*image:[[:space:]]*)"?postgres:16[^"[:space:]]*"?#\1localhost/harvis-standin/postgres:16#' \
    -e 's#^([[:space:]-]*image:[[:space:]]*)"?harvis/backend-cuda:([^"[:space:]]*)"?#\1localhost/harvis-standin/backend-cuda:\2#' \
    -e 's#^([[:space:]-]*image:[[:space:]]*)"?harvis/(backend|frontend):([^"[:space:]]*)"?#\1localhost/harvis/\2:\3#'
}

kubectl_rewritten() {
  need_running
  local verb="" a
  for a in "$@"; do case "$a" in -*) ;; *) verb=$a; break ;; esac; done
  local files=0
  for a in "$@"; do case "$a" in -f|--filename|--filename=*|-f=*) files=1 ;; esac; done
  if [ $files = 0 ] || { [ "$verb" != apply ] && [ "$verb" != delete ] && [ "$verb" != create ] && [ "$verb" != replace ]; }; then
    kubectl_plain "$@"; return
  fi
  # Files are copied, rewritten, to the same relative paths under $DIR/rewritten, and kubectl
  # runs from there: its messages name the files as the user wrote them.
  local out=() next_is_file=0 work="$DIR/rewritten" stdin_used=0
  for a in "$@"; do
    if [ $next_is_file = 1 ]; then out+=("$(rewrite_path "$a")"); next_is_file=0; continue; fi
    case "$a" in
      -f|--filename) out+=("$a"); next_is_file=1 ;;
      --filename=*) out+=("--filename=$(rewrite_path "${a#--filename=}")") ;;
      -f=*) out+=("-f=$(rewrite_path "${a#-f=}")") ;;
      *) out+=("$a") ;;
    esac
  done
  if printf '%s\n' "${out[@]}" | grep -qx -- '-'; then stdin_used=1; fi
  if [ $stdin_used = 1 ]; then
    rewrite_images | in_ns_cwd "$work" kubectl --kubeconfig "$DIR/kubeconfig" "${out[@]}"
  else
    in_ns_cwd "$work" kubectl --kubeconfig "$DIR/kubeconfig" "${out[@]}"
  fi
}

in_ns_cwd() { local cwd=$1; shift; need_running; nsenter -t "$(holder)" -m -n --wd="$cwd" -- "$@"; }

rewrite_path() {  # a -f argument: a file is rewritten under $DIR/rewritten, anything else kept
  local p=$1
  if [ "$p" = - ] || [ ! -f "$p" ]; then
    case "$p" in -|http://*|https://*) echo "$p" ;; *) [ -e "$p" ] && realpath "$p" || echo "$p" ;; esac
    return
  fi
  local rel
  case "$p" in /*) rel="${p#/}" ;; *) rel="$p" ;; esac
  mkdir -p "$DIR/rewritten/$(dirname "$rel")"
  rewrite_images < "$p" > "$DIR/rewritten/$rel"
  echo "$rel"
}

# ---------------------------------------------------------------- status / down
status() {
  [ -d "$DIR/pids" ] || { echo "no cluster in $DIR"; return 1; }
  local p
  for p in "$DIR"/pids/*; do
    printf '%-32s %-8s %s\n' "$(basename "$p")" "$(cat "$p")" "$(alive "$(cat "$p")" && echo running || echo stopped)"
  done
  alive "$(holder)" && kubectl_plain get nodes -L harvis.ai/role -o wide || true
}

down() { [ -d "$DIR/pids" ] || { log "no cluster in $DIR"; return 0; }; down_quiet; log "stopped; removed $DIR"; rm -rf "$DIR"; }

stop_pid() {  # PID: SIGTERM, then SIGKILL after 10 s
  local pid=$1 i
  alive "$pid" || return 0
  kill "$pid" 2>/dev/null || true
  for i in $(seq 1 50); do alive "$pid" || return 0; sleep 0.2; done
  kill -9 "$pid" 2>/dev/null || true
}

down_quiet() {
  local p name nd
  # Kubelets first (no restarts), then every container's processes and shims by their PIDs.
  for p in "$DIR"/pids/kubelet-* "$DIR"/pids/kube-proxy-*; do [ -f "$p" ] && stop_pid "$(cat "$p")"; done
  for nd in "$DIR"/nodes/*/; do
    [ -d "$nd/containerd/state" ] || continue
    for p in $(find "$nd/containerd/state" -name init.pid 2>/dev/null); do kill -9 "$(cat "$p")" 2>/dev/null || true; done
    for p in $(find "$nd/containerd/state" -name shim.pid 2>/dev/null); do stop_pid "$(cat "$p")"; done
  done
  for p in "$DIR"/pids/*; do
    name=$(basename "$p")
    [ "$name" = holder ] || stop_pid "$(cat "$p")"
  done
  # A shim whose task was already gone leaves no pid file: find those by their socket's path.
  local proc
  for proc in /proc/[0-9]*; do
    tr '\0' ' ' < "$proc/cmdline" 2>/dev/null | grep -q -- "-address $DIR/nodes/" && stop_pid "${proc#/proc/}"
  done
  stop_pid "$(holder)"
  # The cgroups the kubelets made under each node's root, then the ones `add_node` made.
  for nd in "$DIR"/nodes/*/; do
    [ -f "$nd/cgroups-made" ] || continue
    local d
    for d in $(tac "$nd/cgroups-made"); do
      [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    done
  done
}

main "$@"; exit
