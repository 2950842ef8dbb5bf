"""The keeper of a warm guest (lab.kernel.warm): ``python -m lab.kernel.warmkeeper DIR``.

A detached host process (its own session, no terminal) that boots one UML guest whose
program is lab.kernel.warmguest, then answers on ``DIR/ctl`` (a Unix socket in the
user's private directory, mode 0600) one client at a time: a client's request goes to
the guest as one JSON line, the guest's answer lines come back to the client as they
are. Only processes of its own uid are answered. A client that hangs up while its
command runs interrupts it; one that comes while a command runs is told the guest is busy
(it boots cold). After $IPSEC_LAB_WARM_GUEST_IDLE minutes without a client,
on SIGTERM (`ipsec-lab clean`, a restart), or when the guest says it is not clean, the
keeper ends its guest's program (the guest powers off), kills the kernel if it lingers,
and removes DIR's record.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from lab import owner
from lab.kernel import locked
from lab.kernel.jsonlines import JsonLines
from lab.kernel.serial import host_relay
from lab.kernel.uml import UmlKernel, prepare_state, spawn, wait_ready
from lab.kernel.warm import peer_credentials
from lab.run import TAG_VAR
from lab.state import write_atomic


class Keeper:
    def __init__(self, where: Path) -> None:
        self.where = where
        self.server: socket.socket | None = None
        self.config = json.loads((where / "config.json").read_text())
        self.kernel = UmlKernel(Path(self.config["kernel"]), Path(self.config["modules"]))
        self.record: dict[str, Any] = {}

    def boot(self) -> None:
        tag = os.environ[TAG_VAR]
        program = locked.command(sys.executable, ["-m", "lab.kernel.warmguest"])
        self.state, init = prepare_state(self.kernel, program, tag)
        self.uml, to_guest, from_guest = spawn(self.kernel, self.state, init, self.config["mem"], tag)
        if not wait_ready(from_guest):
            raise OSError(f"the guest ended before it was ready (see {self.state})")
        req_r, self.requests = os.pipe()
        self.answers_r, answers_w = os.pipe()
        threading.Thread(target=host_relay, args=(req_r, answers_w, to_guest, from_guest),
                         name="relay", daemon=True).start()
        self.answers = JsonLines(self.answers_r)
        hello = self.answers.next(120.0)
        if hello is None or hello.get("t") != "ready":
            raise OSError(f"the guest's program did not say it is ready: {hello}")
        if hello.get("left"):
            raise OSError(f"the guest is not clean after boot: {hello['left']}")
        env = json.loads((self.state / "boot.json").read_text())["env"]
        print(f"keeper: guest ready ({self.kernel}, preload {hello['preload']} s, not found:"
              f" {hello['missing']}, imported by each command: {hello['fresh']})", flush=True)
        self.record.update(bundle=env.get("IPSEC_LAB_IMPORTS"), state=str(self.state))

    def tell(self, msg: dict[str, Any]) -> None:
        data = (json.dumps(msg) + "\n").encode()
        view = memoryview(data)
        while view:
            view = view[os.write(self.requests, view):]

    def serve_one(self, conn: socket.socket) -> bool:
        """One client's command; False when the guest must stop (not clean, or gone)."""
        _, uid, _ = peer_credentials(conn)
        if uid != os.geteuid():
            print(f"keeper: refused a client of uid {uid}", flush=True)
            return True
        client = JsonLines(conn.fileno())
        request = client.next(10.0)
        if request is None or request.get("op") != "run":
            return True
        self.tell(request)
        interrupted = False
        while True:
            wanted = [self.answers_r] + ([] if client.ended else [conn.fileno()])
            readable, _, _ = select.select(wanted + ([self.server] if self.server else []), [], [], 1.0)
            if self.server is not None and self.server in readable:
                self.busy()
            if conn.fileno() in readable:
                for msg in client.read():
                    if msg.get("op") == "interrupt" and not interrupted:
                        interrupted = True
                        self.tell(msg)
                if client.ended and not interrupted:  # the client is gone: end its command
                    interrupted = True
                    self.tell({"op": "interrupt"})
            if self.answers_r in readable:
                for msg in self.answers.read():
                    with contextlib.suppress(OSError):
                        conn.sendall((json.dumps(msg) + "\n").encode())
                    if msg.get("t") == "done":
                        return not msg.get("left") and msg.get("rc") is not None
                if self.answers.ended:
                    return False
            if self.uml.poll() is not None:
                with contextlib.suppress(OSError):
                    conn.sendall((json.dumps({"t": "error", "message": "the guest ended"}) + "\n").encode())
                return False

    def busy(self) -> None:
        """Another client while a command runs: it boots a guest of its own (lab.kernel.warm)."""
        assert self.server is not None
        with contextlib.suppress(OSError):
            other, _ = self.server.accept()
            with other:
                other.sendall((json.dumps({"t": "busy"}) + "\n").encode())

    def serve(self) -> None:
        self.server = server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ctl = self.where / "ctl"
        ctl.unlink(missing_ok=True)
        old = os.umask(0o177)
        try:
            server.bind(str(ctl))
        finally:
            os.umask(old)
        server.listen(8)
        self.record.update(ready=True)
        self.write_record()
        idle = float(self.config["idle"])
        last = time.monotonic()
        try:
            while time.monotonic() - last < idle and self.uml.poll() is None:
                if not select.select([server], [], [], 1.0)[0]:
                    continue
                conn, _ = server.accept()
                with conn:
                    keep = self.serve_one(conn)
                last = time.monotonic()
                if not keep:
                    print("keeper: the guest is not clean or gone: stopping it", flush=True)
                    return
            print("keeper: idle, stopping", flush=True)
        finally:
            server.close()
            ctl.unlink(missing_ok=True)

    def write_record(self) -> None:
        me = owner.Owner.me()
        write_atomic(self.where / "keeper.json", json.dumps(dict(
            self.record, pid=me.pid, owner=str(me), fingerprint=self.config["fingerprint"],
            keep=self.config["keep"], writable=self.config["writable"], started=time.time())))

    def shutdown(self) -> None:
        (self.where / "keeper.json").unlink(missing_ok=True)
        uml = getattr(self, "uml", None)
        if uml is None:
            return
        with contextlib.suppress(OSError):
            os.close(self.requests)  # the guest's program reads its end and powers off
        try:
            uml.wait(timeout=10)
        except Exception:  # a kernel that lingers is killed
            uml.kill()
            uml.wait()
        log = self.state / "guest.log"
        text = log.read_text(errors="replace") if log.is_file() else ""
        if "Traceback" in text or "Error" in text:
            print(f"keeper: the guest's log ({log}):\n{text[-3000:]}", flush=True)
        elif not os.environ.get("IPSEC_LAB_KEEP_STATE"):
            shutil.rmtree(self.state, ignore_errors=True)


def main(argv: list[str]) -> int:
    where = Path(argv[0])
    me = owner.become_owner()  # the guest's state directory is named after this keeper
    os.environ[TAG_VAR] = f"ipl-warm-{me.pid}"
    keeper = Keeper(where)

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    keeper.write_record()
    try:
        keeper.boot()
        keeper.serve()
    except OSError as exc:
        print(f"keeper: {exc}", flush=True)
        return 1
    finally:
        keeper.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
