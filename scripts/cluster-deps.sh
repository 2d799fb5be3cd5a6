#!/usr/bin/env bash
# What `make images` and `make cluster` need from Debian, installed only when missing.
set -euo pipefail
need=()
for pair in podman:podman buildah:buildah mmdebstrap:mmdebstrap runc:runc containerd:containerd \
            iptables:iptables dnsmasq:dnsmasq-base etcd:etcd-server newuidmap:uidmap conntrack:conntrack; do
  command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
if [ ${#need[@]} -gt 0 ]; then
  echo "cluster-deps: installing ${need[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
