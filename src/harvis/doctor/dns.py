"""DNS: do the service names Harvis uses resolve from here?"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from harvis.doctor.context import Context
from harvis.doctor.result import Check


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


async def _resolve(name: str, timeout_s: float) -> Check:
    try:
        infos = await asyncio.wait_for(
            asyncio.to_thread(socket.getaddrinfo, name, None, type=socket.SOCK_STREAM), timeout_s
        )
    except (OSError, TimeoutError) as exc:
        why = "timed out" if isinstance(exc, TimeoutError) else str(exc)
        fix = (
            "in Kubernetes: kubectl get svc -n ai-agents (is the Service there? same namespace?)\n"
            "outside the cluster a Service name does not resolve: use kubectl port-forward and "
            "point OLLAMA_URL at 127.0.0.1"
        )
        return Check.fail(f"dns {name}", f"does not resolve: {why}", fix)
    addresses = sorted({str(i[4][0]) for i in infos})
    return Check.ok(f"dns {name}", ", ".join(addresses), addresses=addresses)


async def run(ctx: Context) -> list[Check]:
    names = [n for n in ctx.hostnames() if not _is_ip(n)]
    if not names:
        return [Check.skip("dns", "no service names configured (addresses only)")]
    return list(await asyncio.gather(*(_resolve(n, ctx.timeout_s) for n in names)))
