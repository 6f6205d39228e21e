#!/usr/bin/env python3
"""A real SMTP server for the test suite (aiosmtpd): every accepted message is written, whole, as
<dir>/<n>.eml. It binds 127.0.0.1 on a free port and prints that port on its first line.

--stall-rcpt-file F: while file F exists, RCPT TO waits (a send in progress that never completes),
so a test can kill the worker in the middle of a send."""
import argparse
import asyncio
import itertools
import os
import socket
import sys

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory, stall_file):
        self.directory = directory
        self.stall_file = stall_file
        self.counter = itertools.count(1)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        while self.stall_file and os.path.exists(self.stall_file):
            await asyncio.sleep(0.05)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        name = os.path.join(self.directory, f"{next(self.counter):06d}.eml")
        with open(name + ".tmp", "wb") as out:
            out.write(envelope.content)
        os.replace(name + ".tmp", name)
        return "250 Message accepted for delivery"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--stall-rcpt-file")
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    port = free_port()
    controller = Controller(Sink(args.dir, args.stall_rcpt_file), hostname="127.0.0.1", port=port)
    controller.start()
    print(port, flush=True)
    try:
        sys.stdin.read()  # runs until the test closes our stdin or kills us
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
