"""qmp_client - the QMP client of the shell scripts in scripts/ (python3, standard library only).

QMP is QEMU's monitor protocol: JSON objects, one a line, over a unix socket. The scripts run
their Python from a heredoc and import this module from the scripts directory, which they pass
as the first argument:

    python3 -B - "$here" ARGS... <<'PY'
    import sys; sys.path.insert(0, sys.argv.pop(1))
    import qmp_client
    src = qmp_client.connect(sys.argv[1], "source")
    src.cmd("migrate", uri="tcp:127.0.0.1:4444")
    st = src.wait_migration()
    src.quit()
    PY

(-B: no __pycache__ left in scripts/.) Every failure - no socket, an error reply, the connection
closed, no answer in time - ends the script with sys.exit and one line on stderr that names the
QEMU (NAME) and the command.
"""
import json
import select
import socket
import sys
import time

# query-migrate's states in which a migration has ended, one way or the other.
MIGRATION_ENDED = ("completed", "failed", "cancelled")


def connect(path, name="QEMU", timeout=20.0, trace=False):
    """Connect to the QMP socket PATH of the QEMU called NAME in messages, retrying for up to
    TIMEOUT seconds (QEMU needs a moment to create it), read the greeting and leave capability
    negotiation (qmp_capabilities). TRACE: print each command sent, and the greeting, on stdout."""
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            break
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                sys.exit("%s: cannot connect to the QMP socket %s within %g s" % (name, path, timeout))
            time.sleep(0.05)
    return Qmp(s, name, timeout, trace)


class Qmp:
    """One QMP session. events holds the asynchronous events read so far, oldest first."""

    def __init__(self, sock, name, timeout, trace):
        self.s, self.name, self.trace = sock, name, trace
        self.buf, self.events = b"", []
        self.greeting = self._line(time.monotonic() + timeout, "the greeting").decode().strip()
        if trace:
            print("  qmp<", self.greeting)
        self.cmd("qmp_capabilities", wait=timeout)

    def _line(self, deadline, what):
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                sys.exit("%s: QMP %s: no answer within the timeout" % (self.name, what))
            ready, _, _ = select.select([self.s], [], [], left)
            if ready:
                chunk = self.s.recv(65536)
                if not chunk:
                    sys.exit("%s: QMP %s: connection closed (QEMU exited?)" % (self.name, what))
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def _read(self, deadline, what):
        return json.loads(self._line(deadline, what))

    def cmd(self, name, wait=30.0, **args):
        """Run the command NAME with ARGS (QMP's names, so pass those with a dash as
        **{"max-bandwidth": n}); return its "return" value. WAIT: seconds to wait for the answer.
        Events that come first are recorded in events."""
        req = {"execute": name}
        if args:
            req["arguments"] = args
        if self.trace:
            print("  qmp>", json.dumps(req))
        self.s.sendall((json.dumps(req) + "\n").encode())
        deadline = time.monotonic() + wait
        while True:
            msg = self._read(deadline, name)
            if "event" in msg:
                self.events.append(msg)
            elif "error" in msg:
                sys.exit("%s: QMP %s: %s" % (self.name, name, json.dumps(msg)))
            else:
                return msg.get("return", {})

    def event(self, name, wait):
        """The first event NAME, recorded already or read within WAIT seconds."""
        deadline = time.monotonic() + wait
        while True:
            for e in self.events:
                if e["event"] == name:
                    return e
            msg = self._read(deadline, "event " + name)
            if "event" in msg:
                self.events.append(msg)

    def wait_migration(self, interval=0.01, timeout=None, need=True):
        """Poll query-migrate every INTERVAL seconds until the migration has ended (completed,
        failed, cancelled); return that last answer. With NEED, exit unless it completed, or when
        TIMEOUT seconds (None: no limit) pass first; without, return the last answer either way."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            st = self.cmd("query-migrate")
            status = st.get("status")
            if status in MIGRATION_ENDED:
                if need and status != "completed":
                    sys.exit("%s: migration %s: %s" % (self.name, status, json.dumps(st)))
                return st
            if deadline is not None and time.monotonic() > deadline:
                if need:
                    sys.exit("%s: migration not finished after %g s: %s" % (self.name, timeout, json.dumps(st)))
                return st
            time.sleep(interval)

    def quit(self, wait=10.0):
        """Send quit and wait up to WAIT seconds until QEMU closes the connection (it is exiting):
        closing ours first could make QEMU drop the queued command. QEMU may answer or not."""
        req = {"execute": "quit"}
        if self.trace:
            print("  qmp>", json.dumps(req))
        try:
            self.s.sendall((json.dumps(req) + "\n").encode())
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                ready, _, _ = select.select([self.s], [], [], max(0, deadline - time.monotonic()))
                if ready and not self.s.recv(65536):
                    return
        except OSError:
            pass

