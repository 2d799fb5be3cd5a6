"""A TCP relay into a network namespace, for tests: the listening socket is made by the test in
the host's namespace (127.0.0.1) and inherited; this process runs inside the cluster's
namespace (`nsenter -n`) and connects there. So a client on the host reaches a node's address
inside the cluster as if from the LAN, and no address outside the namespaces is ever dialled.

    python tests/support/ns_relay.py --fd 3 --target 10.200.0.11:30443

Stdlib only (it runs under nsenter); stopped by its PID (SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import sys

CHUNK = 64 * 1024


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def serve(listener: socket.socket, host: str, port: int) -> None:
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
        except (OSError, TimeoutError):
            client_w.close()
            return
        await asyncio.gather(pipe(client_r, up_w), pipe(up_r, client_w))

    server = await asyncio.start_server(handle, sock=listener)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--target", required=True)
    args = parser.parse_args(argv)
    host, _, port = args.target.rpartition(":")
    listener = socket.socket(fileno=args.fd)
    asyncio.run(serve(listener, host, int(port)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
