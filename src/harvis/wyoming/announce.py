"""mDNS (zeroconf) announcement of the Wyoming server, as Home Assistant discovers it:
a `_wyoming._tcp.local.` service under a chosen name. Off unless a name is configured."""

from __future__ import annotations

import ipaddress
import logging
import socket
from typing import Any

log = logging.getLogger(__name__)
SERVICE = "_wyoming._tcp.local."


def announced_addresses(host: str) -> list[str]:
    """The addresses to announce: the bound one, or for a wildcard bind the host's own."""
    if host not in ("0.0.0.0", "::", ""):
        return [host]
    import ifaddr

    out = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and not ipaddress.ip_address(ip.ip).is_loopback:
                out.append(ip.ip)
    return out


class Announcer:
    def __init__(self, name: str, host: str, port: int) -> None:
        self.name, self.host, self.port = name, host, port
        self._zc: Any = None
        self._info: Any = None

    async def register(self) -> None:
        from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

        addresses = announced_addresses(self.host)
        self._info = AsyncServiceInfo(
            SERVICE,
            f"{self.name}.{SERVICE}",
            addresses=[socket.inet_aton(a) for a in addresses],
            port=self.port,
            server=f"{socket.gethostname()}.local.",
        )
        self._zc = AsyncZeroconf(interfaces=addresses)
        await self._zc.async_register_service(self._info)
        log.info("wyoming: announced as %r over mDNS (%s)", self.name, ", ".join(addresses))

    async def close(self) -> None:
        if self._zc is not None:
            await self._zc.async_unregister_service(self._info)
            await self._zc.async_close()
            self._zc = None
