#!/usr/bin/env python3
"""A fast webhook receiver for `BENCH_WEBHOOK=1 just bench`: answers every POST 204 at once
(HTTP/1.1 keep-alive), counts deliveries and their bytes, and writes the counts as JSON to the
file given when it is stopped (SIGTERM). It does not verify signatures (the tests do): it
stands for a receiver that keeps up, so that the figure shows what delivery costs the service.

    webhook_receiver.py PORT COUNTS_FILE
"""
import asyncio
import json
import signal
import sys

counts = {"deliveries": 0, "bytes": 0, "event_types": {}}


async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            body = await reader.readexactly(length) if length else b""
            counts["deliveries"] += 1
            counts["bytes"] += len(body)
            start = body.find(b'"type":"')
            if start >= 0:
                kind = body[start + 8 : body.find(b'"', start + 8)].decode()
                counts["event_types"][kind] = counts["event_types"].get(kind, 0) + 1
            writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port, out):
    server = await asyncio.start_server(handle, "127.0.0.1", port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    with open(out, "w") as f:
        json.dump(counts, f)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
