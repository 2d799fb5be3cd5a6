"""Cluster DNS records for scripts/cluster.sh: keeps dnsmasq's hosts file in step with the
Services and their endpoints, as CoreDNS' kubernetes plugin would (CoreDNS is not in Debian).

  NAME.NS.svc.cluster.local            the ClusterIP, or every ready pod of a headless Service
  HOSTNAME.NAME.NS.svc.cluster.local   each ready pod of a headless Service that has a hostname
                                       (StatefulSet pods: harvis-ai-ollama-scaleout-0.…)

Polls the API server once a second (stdlib only: it runs with the system Python) and sends
dnsmasq SIGHUP, which re-reads the file, when the records change. Runs until it is stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import ssl
import sys
import time
import urllib.error
import urllib.request

DOMAIN = "svc.cluster.local"


def get(server: str, token: str, path: str) -> dict:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the API server's self-signed certificate, in a private namespace
    request = urllib.request.Request(server + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=5, context=context) as response:
        return dict(json.load(response))


def records(services: list[dict], endpoints: list[dict]) -> list[tuple[str, str]]:
    ready: dict[tuple[str, str], list[dict]] = {}
    for ep in endpoints:
        key = (ep["metadata"]["namespace"], ep["metadata"]["name"])
        ready[key] = [a for s in ep.get("subsets") or [] for a in s.get("addresses") or []]
    out: list[tuple[str, str]] = []
    for svc in services:
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        fqdn = f"{name}.{ns}.{DOMAIN}"
        ip = svc["spec"].get("clusterIP")
        if ip and ip != "None":
            out.append((ip, fqdn))
            continue
        for address in ready.get((ns, name), []):
            out.append((address["ip"], fqdn))
            if address.get("hostname"):
                out.append((address["ip"], f"{address['hostname']}.{fqdn}"))
    return sorted(out)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--hosts", required=True)
    parser.add_argument("--dnsmasq-pid", type=int, required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    last = None
    while True:
        try:
            services = get(args.server, args.token, "/api/v1/services")["items"]
            endpoints = get(args.server, args.token, "/api/v1/endpoints")["items"]
        except (urllib.error.URLError, OSError, ValueError) as exc:
            print(f"dns-sync: API server not answering: {exc}", file=sys.stderr, flush=True)
            time.sleep(1)
            continue
        current = records(services, endpoints)
        if current != last:
            tmp = args.hosts + ".tmp"
            with open(tmp, "w") as f:
                f.writelines(f"{ip} {name}\n" for ip, name in current)
            os.replace(tmp, args.hosts)
            os.kill(args.dnsmasq_pid, signal.SIGHUP)
            print(f"dns-sync: {len(current)} records", file=sys.stderr, flush=True)
            last = current
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
