"""End-to-end test harness: starts the real zbuild binaries (each daemon binds free ports
itself, --listen 127.0.0.1:0, and the harness reads the address from its log), waits on events
they log (not on sleeps), and stops what it started by pid."""

import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

BUILD_DIR = os.environ.get("ZBUILD_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
ZBUILD = os.path.abspath(os.environ.get("ZBUILD_BIN", os.path.join(BUILD_DIR, "src", "cli", "zbuild")))
WORKER = os.path.abspath(os.environ.get("ZBUILD_WORKER_BIN", os.path.join(BUILD_DIR, "src", "cli", "zbuild-worker")))
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLES = os.path.join(REPO, "examples")


def bind_port_block(n=3, listen=False, tries=64):
    """(P, sockets): n sockets this process holds bound to 127.0.0.1 ports P..P+n-1, the first
    port chosen by the system; a block whose next port is taken is let go and another tried.
    Nothing is probed and closed: the ports stay ours until the sockets are closed."""
    for _ in range(tries):
        held = [socket.socket()]
        try:
            held[0].bind(("127.0.0.1", 0))
            base = held[0].getsockname()[1]
            if base + n - 1 > 65535:
                raise OSError(f"no room after port {base}")
            for port in range(base + 1, base + n):
                held.append(socket.socket())
                held[-1].bind(("127.0.0.1", port))
            if listen:
                for s in held:
                    s.listen(16)
            return base, held
        except OSError:
            for s in held:
                s.close()
    raise RuntimeError(f"no block of {n} free loopback ports after {tries} tries")


def private_socket_dir(port):
    """The local-mode folder of `port` (created 0700), where src/common/address.cc puts it:
    /run/user/UID/zbuild-sockets/PORT when /run/user/UID is the user's, else
    /tmp/zbuild-sockets-UID/PORT."""
    uid = os.getuid()
    run = f"/run/user/{uid}"
    st = os.lstat(run) if os.path.isdir(run) and not os.path.islink(run) else None
    base = f"{run}/zbuild-sockets" if st and st.st_uid == uid else f"/tmp/zbuild-sockets-{uid}"
    path = os.path.join(base, str(port))
    for d in (base, path):
        os.makedirs(d, mode=0o700, exist_ok=True)
    return path


def listening_address(daemon):
    """HOST:PORT from a daemon's "daemon listening on HOST:PORT (...)" line: the port it bound
    (with --listen HOST:0, the one it chose)."""
    daemon.wait_for("daemon listening on")
    line = next(l for l in daemon.lines if "daemon listening on" in l)
    m = re.search(r"daemon listening on (\S+:\d+) ", line)
    if not m:
        raise AssertionError(f"{daemon.name}: no address in {line!r}")
    return m.group(1)


def socket_inodes(pid):
    """The inodes of the sockets process `pid` has open (empty when it is gone)."""
    out = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return out
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(target[len("socket:["):-1])
    return out


def write_graph(path, tasks):
    """Writes a graph.json (version 1) holding `tasks`; returns its path."""
    with open(path, "w") as f:
        json.dump({"version": 1, "tasks": tasks}, f)
    return path


def run_as_nobody(argv, home, files=None, timeout=60):
    """Runs argv as the user nobody (another local user) in `home`, a folder made for it that
    holds copies of `files` ({name: path}) owned by nobody, mode 0600 (keys must be)."""
    import pwd
    nobody = pwd.getpwnam("nobody")
    os.makedirs(home, exist_ok=True)
    os.chmod(home, 0o755)
    for name, src in (files or {}).items():
        dst = os.path.join(home, name)
        shutil.copy(src, dst)
        os.chown(dst, nobody.pw_uid, nobody.pw_gid)
        os.chmod(dst, 0o600)
    return subprocess.run(["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups",
                           *argv], cwd=home, capture_output=True, text=True, timeout=timeout,
                          env={"PATH": os.environ["PATH"], "HOME": home})


class Proc:
    """A started process whose stderr+stdout lines are collected; tests wait for a line."""

    def __init__(self, argv, name, env=None, cwd=None):
        self.name = name
        self.argv = argv
        self.lines = []
        self.cond = threading.Condition()
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  env=env, cwd=cwd, text=True, errors="replace")
        self.pid = self.p.pid
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.p.stdout:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_for(self, needle, timeout=30, count=1):
        """Blocks until `count` lines contain `needle` (an event the process logs)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                n = sum(1 for l in self.lines if needle in l)
                if n >= count:
                    return
                if self.p.poll() is not None and not self.reader.is_alive():
                    raise AssertionError(f"{self.name} exited ({self.p.returncode}) before logging {needle!r}:\n"
                                         + self.output())
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{self.name}: no {needle!r} within {timeout}s:\n" + self.output())
                self.cond.wait(min(left, 0.5))

    def output(self):
        with self.cond:
            return "\n".join(self.lines)

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.p.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.p.wait()
        self.reader.join(5)
        if self.p.stdout and not self.reader.is_alive():
            self.p.stdout.close()
        return self.p.returncode


class Cluster:
    """A daemon and its workers for one test."""

    def __init__(self, tmp, store=None, zbuild=None, worker=None):
        self.tmp = tmp
        self.zbuild = zbuild or ZBUILD          # the binaries (the benchmarks bring their own build)
        self.worker_bin = worker or WORKER
        self.port = None   # known once the daemon has bound it
        self.addr = None
        self.store = store or os.path.join(tmp, "store")
        self.daemon = None
        self.workers = {}
        self.worker_seq = 0

    def start_daemon(self, extra=(), wrap=(), listen=None, host=None):
        """Starts the daemon (under the command prefix `wrap`, if any). The first one binds free
        ports itself (`listen`, default 127.0.0.1:0) and its log names them; a restart takes the
        same address, so workers and clients waiting for it come back. `host`: a test-bed host
        (tests/e2e/testbed.py) to run it in, listening on that host's address unless `listen`
        says otherwise (a non-loopback address needs keys, `extra` += CurveKeys.daemon_args())."""
        if host is not None:
            wrap = (*host.wrap(), *wrap)
            listen = listen or f"{host.addr}:0"
        listen = self.addr or listen or "127.0.0.1:0"
        self.daemon = Proc([*wrap, self.zbuild, "daemon", "--listen", listen, "--store", self.store, *extra],
                           "daemon")
        self.addr = listening_address(self.daemon)
        self.port = int(self.addr.rsplit(":", 1)[1])
        return self.daemon

    def start_worker(self, slots=1, wrap=(), name=None, extra=(), allow=("sh", "true", "sleep"), host=None):
        """Starts a worker (under the command prefix `wrap`, or in test-bed host `host`) and
        waits until the daemon logs it joined."""
        if host is not None:
            wrap = (*host.wrap(), *wrap)
        self.worker_seq += 1
        wid = name or f"w{self.worker_seq}"
        work = os.path.join(self.tmp, f"work-{wid}-{self.worker_seq}")
        allow_args = [a for p in allow for a in ("--allow-program", p)]
        argv = [*wrap, self.worker_bin, "--daemon", self.addr, "--slots", str(slots), "--work-dir", work, "--id", wid,
                *allow_args, *extra]
        joined_before = sum(1 for l in self.daemon.lines if f"worker {wid} joined" in l)
        w = Proc(argv, f"worker {wid}")
        self.workers[wid] = w
        self.daemon.wait_for(f"worker {wid} joined", count=joined_before + 1)
        return w

    def submit(self, graph, *extra, metrics=True, timeout=600, env=None):
        mpath = os.path.join(self.tmp, f"metrics-{time.monotonic_ns()}.json")
        argv = [self.zbuild, "submit", "--daemon", self.addr, *extra]
        if metrics:
            argv += ["--metrics-out", mpath]
        argv.append(graph)
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired as e:
            # What every process of the cluster last said, so that a hang can be told apart.
            def tail(text, n=80):
                text = text.decode(errors="replace") if isinstance(text, bytes) else (text or "")
                return "\n".join(text.splitlines()[-n:])
            said = [f"--- submit stdout:\n{tail(e.stdout)}", f"--- submit stderr:\n{tail(e.stderr)}"]
            if self.daemon is not None:
                said.append(f"--- daemon:\n{tail(self.daemon.output())}")
            said += [f"--- worker {wid}:\n{tail(w.output())}" for wid, w in self.workers.items()]
            raise AssertionError(f"zbuild submit {graph} did not end within {timeout} s\n" + "\n".join(said)) from None
        m = None
        if metrics and os.path.exists(mpath):
            with open(mpath) as f:
                m = json.load(f)
        return r, m

    def status(self):
        r = subprocess.run([self.zbuild, "status", "--daemon", self.addr, "--json"], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def stop(self):
        for w in self.workers.values():
            w.stop()
        if self.daemon:
            self.daemon.stop()


class CurveKeys:
    """CurveZMQ keys (`zbuild keygen`) in tmp/keys for a daemon, its workers and its clients, with
    the daemon's allow lists; the *_args methods give each role's command-line options."""

    def __init__(self, tmp, workers=("worker",), clients=("client",), zbuild=None):
        self.dir = os.path.join(tmp, "keys")
        self.zbuild = zbuild or ZBUILD
        self.keys = {n: self._keygen(n) for n in ("daemon", *workers, *clients)}
        self.allow_workers = os.path.join(self.dir, "workers.allow")
        self.allow_clients = os.path.join(self.dir, "clients.allow")
        for path, names in ((self.allow_workers, workers), (self.allow_clients, clients)):
            with open(path, "w") as f:
                f.writelines(f"{self.keys[n][1]} {n}\n" for n in names)

    def _keygen(self, name):
        r = subprocess.run([self.zbuild, "keygen", "--dir", self.dir, name], capture_output=True, text=True,
                           timeout=30)
        if r.returncode != 0:
            raise AssertionError(f"zbuild keygen {name}: {r.stderr}")
        with open(os.path.join(self.dir, name + ".pub")) as f:
            return os.path.join(self.dir, name + ".key"), f.read().strip()

    def daemon_pub(self):
        return os.path.join(self.dir, "daemon.pub")

    def daemon_args(self):
        return ["--curve-key", self.keys["daemon"][0], "--allow-workers", self.allow_workers,
                "--allow-clients", self.allow_clients]

    def worker_args(self, name="worker"):
        return ["--curve-key", self.keys[name][0], "--daemon-key", self.daemon_pub()]

    def client_args(self, name="client"):
        return ["--curve-key", self.keys[name][0], "--daemon-key", self.daemon_pub()]


class E2ECase(unittest.TestCase):
    """Gives each test a temp dir and a cluster that is stopped afterwards."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="zbuild-e2e-")
        self.cluster = Cluster(self.tmp)
        self.addCleanup(self._cleanup)

    def unanswered_address(self):
        """A daemon address nobody answers at, for as long as the test runs: the test holds its
        three ports bound and never listens on them (connections are refused), and holds the
        lock of the same number's local-mode folder, so no daemon of this user can take it there
        either (clients look for a local daemon first)."""
        for _ in range(16):
            port, held = bind_port_block(3)
            lock = open(os.path.join(private_socket_dir(port), "lock"), "a")
            held.append(lock)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:   # a local daemon of this user has that number: another block
                for h in held:
                    h.close()
                continue
            for h in held:
                self.addCleanup(h.close)
            return f"127.0.0.1:{port}"
        raise RuntimeError("no unanswered address after 16 tries")

    def _cleanup(self):
        self.cluster.stop()
        if os.environ.get("ZBUILD_KEEP_TMP") != "1":
            shutil.rmtree(self.tmp, ignore_errors=True)

    def local_reference(self, proj):
        """Runs every task's command of an example locally, in place (its build-local.sh), and
        returns the outputs' bytes; the outputs are removed again."""
        r = subprocess.run(["bash", os.path.join(proj, "build-local.sh")], cwd=proj, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        ref = tree_files(os.path.join(proj, "out"))
        shutil.rmtree(os.path.join(proj, "out"))
        return ref

    def copy_example(self, name):
        dst = os.path.join(self.tmp, name)
        shutil.copytree(os.path.join(EXAMPLES, name), dst, ignore=shutil.ignore_patterns("out", "build"))
        return dst


def executed_tasks(submit_stdout):
    """Task ids that ran on a worker, from submit's plain progress lines."""
    out = set()
    for line in submit_stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0].startswith("[") and parts[1] == "done":
            out.add(parts[2])
    return out


def workers_used(submit_stdout):
    out = {}
    for line in submit_stdout.splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[0].startswith("[") and parts[1] == "done" and parts[3] == "on":
            out[parts[4]] = out.get(parts[4], 0) + 1
    return out


def write_files(root, files):
    """Writes {relative path: text} under `root`, making the folders on the way."""
    for rel, text in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)


def tree_files(root):
    res = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                res[os.path.relpath(p, root)] = fh.read()
    return res
