#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Cheap RTSP clients for measuring gpurtsp-loadgen: each one plays a mount
over TCP (interleaved) or UDP and throws the bytes away, so the server's cost
can be measured without decoders or jitterbuffers eating the same CPU.

    rtsp-drain.py rtsp://127.0.0.1:8554/cam 256 --seconds 60 [--udp]

plays .../cam0 ... .../cam255 and prints the received rate every 10 s.
"""
import argparse
import asyncio
import base64
import time
import urllib.parse


class Drain(asyncio.DatagramProtocol):
    def __init__(self):
        self.bytes = 0
        self.playing = 0
        self.failed = 0

    def datagram_received(self, data, addr):
        self.bytes += len(data)


async def request(reader, writer, cseq, method, url, headers):
    lines = [f"{method} {url} RTSP/1.0", f"CSeq: {cseq}"] + headers
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    status = (await reader.readline()).decode().strip()
    fields = {}
    while True:
        line = (await reader.readline()).decode().strip()
        if not line:
            break
        key, _, value = line.partition(":")
        fields[key.strip().lower()] = value.strip()
    body = await reader.readexactly(int(fields.get("content-length", "0")))
    if not status.startswith("RTSP/1.0 200"):
        raise RuntimeError(f"{method} {url}: {status}")
    return fields, body.decode(errors="replace")


async def udp_ports(drain):
    """Binds an RTP/RTCP pair of UDP sockets on consecutive ports."""
    loop = asyncio.get_running_loop()
    while True:
        rtp, _ = await loop.create_datagram_endpoint(lambda: drain, local_addr=("127.0.0.1", 0))
        port = rtp.get_extra_info("sockname")[1]
        if port % 2 == 0:
            try:
                rtcp, _ = await loop.create_datagram_endpoint(lambda: drain, local_addr=("127.0.0.1", port + 1))
                return [rtp, rtcp], port
            except OSError:
                pass
        rtp.close()


async def play(url, drain, stop_at, udp):
    parts = urllib.parse.urlsplit(url)
    auth = []
    if parts.username:
        token = base64.b64encode(
            f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}".encode()
        ).decode()
        auth = [f"Authorization: Basic {token}"]
        url = urllib.parse.urlunsplit(
            (parts.scheme, parts.hostname + (f":{parts.port}" if parts.port else ""), parts.path, "", "")
        )
    try:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 554)
        _, sdp = await request(reader, writer, 1, "DESCRIBE", url, auth + ["Accept: application/sdp"])
        control = next(
            (line[len("a=control:"):] for line in sdp.splitlines() if line.startswith("a=control:stream")),
            "stream=0",
        )
        sockets = []
        transport = "RTP/AVP/TCP;unicast;interleaved=0-1"
        if udp:
            sockets, port = await udp_ports(drain)
            transport = f"RTP/AVP;unicast;client_port={port}-{port + 1}"
        fields, _ = await request(
            reader, writer, 2, "SETUP", f"{url}/{control}", auth + [f"Transport: {transport}"]
        )
        session = fields["session"].split(";")[0]
        await request(reader, writer, 3, "PLAY", url, auth + [f"Session: {session}", "Range: npt=0-"])
    except Exception as error:  # noqa: BLE001 - report any failure per client
        drain.failed += 1
        print(f"rtsp-drain: {url}: {error}")
        return
    drain.playing += 1
    cseq = 4
    next_keepalive = time.monotonic() + 20
    last_data = time.monotonic()
    while time.monotonic() < stop_at:
        try:
            data = await asyncio.wait_for(reader.read(256 * 1024), timeout=1)
        except asyncio.TimeoutError:
            data = None
        now = time.monotonic()
        if data == b"":
            print(f"rtsp-drain: {url}: the server closed the connection")
            break
        if data and not udp:
            drain.bytes += len(data)
            last_data = now
        elif not udp and now - last_data > 5:
            print(f"rtsp-drain: {url}: no data for 5 s")
            break
        if now > next_keepalive:
            writer.write(f"GET_PARAMETER {url} RTSP/1.0\r\nCSeq: {cseq}\r\nSession: {session}\r\n\r\n".encode())
            cseq += 1
            next_keepalive += 20
    drain.playing -= 1
    writer.close()
    for sock in sockets:
        sock.close()


async def report(drain, interval, stop_at):
    last, last_t = 0, time.monotonic()
    while time.monotonic() < stop_at:
        await asyncio.sleep(interval)
        now = time.monotonic()
        rate = 8 * (drain.bytes - last) / (now - last_t) / 1e6
        print(f"rtsp-drain: {drain.playing} playing, {drain.failed} failed, {rate:.1f} Mbit/s", flush=True)
        last, last_t = drain.bytes, now


async def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base", help="URL without the camera number, e.g. rtsp://127.0.0.1:8554/cam")
    parser.add_argument("count", type=int, help="clients, one per mount 0..count-1")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--interval", type=float, default=10)
    parser.add_argument("--udp", action="store_true", help="RTP over UDP instead of interleaved TCP")
    args = parser.parse_args()
    drain = Drain()
    stop_at = time.monotonic() + args.seconds
    await asyncio.gather(
        report(drain, args.interval, stop_at),
        *(play(f"{args.base}{i}", drain, stop_at, args.udp) for i in range(args.count)),
    )


if __name__ == "__main__":
    asyncio.run(main())
