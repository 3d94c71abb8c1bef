#!/usr/bin/env python3
"""A TCP proxy for 127.0.0.1 that delays every client->server chunk.

Each chunk the client sends (in practice: each HTTP request, or a part of a
large request body) is held for DELAY ms before it is forwarded to the
server; server->client bytes pass straight through. Chunks are time-stamped
on arrival and forwarded in order, each at arrival + DELAY, so pipelined or
back-to-back chunks on one connection are not delayed cumulatively, and
keep-alive connections stay open for as long as both sides keep them open.

Optionally (--connect-delay-ms) the upstream connect is delayed too, to model
the TCP handshake's round trip; the default is 0 (only requests are delayed).

Usage: latency_proxy.py --listen-port P --target-port T [--delay-ms 25]
       [--connect-delay-ms 0] [--ready-file F]
Only 127.0.0.1 is used on both sides.
"""

import argparse
import asyncio
import os
import signal
import sys
import time

CHUNK = 256 * 1024


async def pump_delayed(reader, writer, delay):
    """client -> server: hold each chunk until its arrival time + delay."""
    queue = asyncio.Queue()

    async def read_side():
        try:
            while True:
                data = await reader.read(CHUNK)
                queue.put_nowait((time.monotonic() + delay, data))
                if not data:
                    return
        except (ConnectionError, OSError):
            queue.put_nowait((0.0, b""))

    reader_task = asyncio.ensure_future(read_side())
    try:
        while True:
            due, data = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass
    finally:
        reader_task.cancel()


async def pump(reader, writer):
    """server -> client: no delay."""
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen-port", type=int, required=True)
    ap.add_argument("--target-port", type=int, required=True)
    ap.add_argument("--delay-ms", type=float, default=25.0)
    ap.add_argument("--connect-delay-ms", type=float, default=0.0)
    ap.add_argument("--ready-file", help="written once the proxy listens")
    args = ap.parse_args()
    delay = args.delay_ms / 1000.0
    connect_delay = args.connect_delay_ms / 1000.0

    async def handle(c_reader, c_writer):
        s_writer = None
        try:
            if connect_delay > 0:
                await asyncio.sleep(connect_delay)
            s_reader, s_writer = await asyncio.open_connection("127.0.0.1", args.target_port)
            await asyncio.gather(
                pump_delayed(c_reader, s_writer, delay),
                pump(s_reader, c_writer),
            )
        except (ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            pass  # shutting down
        finally:
            for w in (c_writer, s_writer):
                if w is not None:
                    w.close()

    async def serve():
        server = await asyncio.start_server(
            handle, "127.0.0.1", args.listen_port, backlog=1024, reuse_address=True
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if args.ready_file:
            with open(args.ready_file, "w") as f:
                f.write(str(os.getpid()))
        async with server:
            await stop.wait()

    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
