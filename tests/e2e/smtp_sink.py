#!/usr/bin/python3
"""tests/e2e/smtp_sink.py - a real SMTP server on loopback for mail.sh
(Debian's python3-aiosmtpd): every message it accepts is written whole to
DIR as one file (written to a temporary name, then renamed) before it is
answered. While the file DIR/../smtp.delay exists, the answer to DATA waits
that many seconds after the file is written: the test kills ementord inside
that window (the relay has the message, the sender has no answer yet).

With CERT and KEY it offers STARTTLS with that certificate and refuses
mail before it (require_starttls).

Usage: smtp_sink.py PORT DIR READY_FILE [CERT KEY]
"""
import asyncio
import itertools
import os
import signal
import ssl
import sys
import time

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.counter = itertools.count(1)
        self.delay_file = os.path.join(os.path.dirname(os.path.abspath(directory)), "smtp.delay")

    async def handle_DATA(self, server, session, envelope):
        n = next(self.counter)
        name = "%d-%06d.eml" % (time.time_ns(), n)
        tmp = os.path.join(self.directory, "." + name)
        with open(tmp, "wb") as f:
            f.write(("X-Sink-Rcpt: %s\r\n" % ",".join(envelope.rcpt_tos)).encode())
            f.write(envelope.original_content or envelope.content)
        os.rename(tmp, os.path.join(self.directory, name))
        try:
            with open(self.delay_file) as f:
                await asyncio.sleep(float(f.read().strip() or "3"))
        except FileNotFoundError:
            pass
        return "250 OK queued as %d" % n


def main():
    port, directory, ready = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    os.makedirs(directory, exist_ok=True)
    tls = {}
    if len(sys.argv) > 5:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(sys.argv[4], sys.argv[5])
        tls = {"tls_context": ctx, "require_starttls": True}
    controller = Controller(Sink(directory), hostname="127.0.0.1", port=port, **tls)
    controller.start()
    with open(ready, "w") as f:
        f.write("%d\n" % os.getpid())
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    signal.signal(signal.SIGINT, lambda *a: stop.append(1))
    while not stop:
        time.sleep(0.1)
    controller.stop()


if __name__ == "__main__":
    main()
