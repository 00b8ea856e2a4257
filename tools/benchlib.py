"""Shared helpers for the tools/bench-* scripts (python3 standard library only).

A Cluster starts one zbuild daemon (on 127.0.0.1:0: it binds free ports itself) and N workers,
reads the daemon's address from its ready-file, waits for the workers to show up in `zbuild
status --json`, and stops every process it started, by pid, when the script ends (normally, by exception or signal).
"""

import atexit
import csv
import datetime
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "out", "bench")


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def die(msg, code=1):
    print(f"error: {msg}", file=sys.stderr, flush=True)
    sys.exit(code)


def zbuild_bins():
    """(zbuild, zbuild-worker), bringing build-bench/ up to date first (an incremental
    ninja: a stale binary would measure old code). ZBUILD_BIN_DIR overrides the folder."""
    bindir = os.environ.get("ZBUILD_BIN_DIR")
    if not bindir:
        build = os.path.join(REPO, "build-bench")
        bindir = os.path.join(build, "src", "cli")
        if not os.path.exists(os.path.join(build, "build.ninja")):
            run_checked(["meson", "setup", build], cwd=REPO)
        run_checked(["ninja", "-j2", "-C", build, "src/cli/zbuild", "src/cli/zbuild-worker"], cwd=REPO)
    z, w = os.path.join(bindir, "zbuild"), os.path.join(bindir, "zbuild-worker")
    for p in (z, w):
        if not os.access(p, os.X_OK):
            die(f"{p} not found (set ZBUILD_BIN_DIR or build build-bench/)")
    return z, w


def run_checked(argv, **kw):
    r = subprocess.run(argv, **kw)
    if r.returncode != 0:
        die(f"{' '.join(argv)} exited with {r.returncode}")
    return r


def need_tools(*names):
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        die(f"missing {', '.join(missing)}: run tools/setup --bench")


def _listens_on(pid, port):
    """True when process `pid` itself holds a socket listening on TCP `port` (read from /proc:
    the socket's owner, not merely something answering on the port)."""
    mine = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                mine.add(target[len("socket:["):-1])
    except OSError:
        return False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = [r.split() for r in f.read().splitlines()[1:]]
        except OSError:
            continue
        for r in rows:
            # local address "0100007F:1F90", state 0A is LISTEN, inode in column 9
            if r[3] == "0A" and int(r[1].rsplit(":", 1)[1], 16) == port and r[9] in mine:
                return True
    return False


def start_listener(start, what, tries=20, deadline_s=10):
    """(process, port) for a server that can only be told a port (distccd: no port 0). `start`
    (port) -> Popen is tried on random candidates until the process itself holds the port: one
    that exits (its bind failed: the port was taken) is retried on another. Candidates are below
    Linux's ephemeral range (32768-60999), where outgoing connections take no ports."""
    rng = random.Random()
    for _ in range(tries):
        port = rng.randrange(20000, 32768)
        p = start(port)
        end = time.monotonic() + deadline_s
        while not _listens_on(p.pid, port):
            if p.poll() is not None:
                break
            if time.monotonic() > end:
                p.kill()
                p.wait()
                die(f"{what} did not listen on port {port} within {deadline_s} s")
            time.sleep(0.05)
        else:
            return p, port
    die(f"{what} could not bind any of {tries} ports")


def vm_field(pid, field):
    """A /proc/PID/status field in KiB (VmHWM, VmRSS), or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


_live = []   # every Cluster not yet stopped, for the exit handlers


def _stop_all(*_):
    for c in list(_live):
        c.stop()


def _on_signal(signum, _frame):
    _stop_all()
    sys.exit(128 + signum)


atexit.register(_stop_all)
for _sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_sig, _on_signal)


class Cluster:
    """One daemon and `workers` workers with `slots` slots each, all under `workdir`."""

    def __init__(self, workdir, workers=2, slots=1, store=None, extra_daemon_args=()):
        self.zbuild, self.worker_bin = zbuild_bins()
        self.workdir = workdir
        self.n_workers = workers
        self.slots = slots
        self.store = store or os.path.join(workdir, "store")
        self.extra = list(extra_daemon_args)
        self.daemon = None
        self.workers = []
        self.addr = None
        self._logs = []

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def _spawn(self, argv, logname):
        f = open(os.path.join(self.workdir, logname), "wb")
        self._logs.append(f)
        return subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def start(self, deadline_s=30):
        os.makedirs(self.workdir, exist_ok=True)
        ready = os.path.join(self.workdir, "daemon.ready")
        if os.path.exists(ready):
            os.remove(ready)
        _live.append(self)
        # Port 0: the daemon binds free ports itself; its ready-file names the address.
        self.daemon = self._spawn([self.zbuild, "daemon", "--listen", "127.0.0.1:0", "--store", self.store,
                                   "--ready-file", ready] + self.extra, "daemon.log")
        end = time.monotonic() + deadline_s
        while not os.path.exists(ready):
            if self.daemon.poll() is not None:
                die(f"daemon exited with {self.daemon.returncode}; see {self.workdir}/daemon.log")
            if time.monotonic() > end:
                die("daemon did not write its ready-file in time")
            time.sleep(0.01)
        with open(ready) as f:
            self.addr = f.read().strip()
        for k in range(self.n_workers):
            wdir = os.path.join(self.workdir, f"worker{k + 1}")
            self.workers.append(self._spawn([self.worker_bin, "--daemon", self.addr, "--slots", str(self.slots),
                                             "--work-dir", wdir, "--id", f"bench-w{k + 1}",
                                             # benchmark graphs run true, cp, sh: trusted local work
                                             "--allow-any-program",
                                             # e.g. "--sandbox none" to measure dispatch without bubblewrap
                                             *os.environ.get("ZBUILD_BENCH_WORKER_ARGS", "").split()],
                                            f"worker{k + 1}.log"))
        while True:
            st = self.status()
            if st is not None and len(st.get("workers", [])) >= self.n_workers:
                break
            for w in self.workers:
                if w.poll() is not None:
                    die(f"a worker exited with {w.returncode}; see {self.workdir}")
            if time.monotonic() > end:
                die("workers did not join the daemon in time")
            time.sleep(0.05)
        return self

    def status(self):
        r = subprocess.run([self.zbuild, "status", "--daemon", self.addr, "--json"], capture_output=True, text=True)
        if r.returncode != 0:
            return None
        try:
            return json.loads(r.stdout)
        except ValueError:
            return None

    def submit(self, graph, metrics_out, quiet=True, check=True):
        """Runs `zbuild submit`; returns (wall seconds, metrics dict)."""
        argv = [self.zbuild, "submit", "--daemon", self.addr, "--metrics-out", metrics_out]
        if quiet:
            argv.append("--quiet")
        argv.append(graph)
        t0 = time.monotonic()
        r = subprocess.run(argv)
        wall = time.monotonic() - t0
        if check and r.returncode != 0:
            die(f"zbuild submit {graph} exited with {r.returncode}")
        with open(metrics_out) as f:
            return wall, json.load(f)

    def stop(self):
        procs = self.workers + ([self.daemon] if self.daemon else [])
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.workers = []
        self.daemon = None
        for f in self._logs:
            f.close()
        self._logs = []
        if self in _live:
            _live.remove(self)


def machine_note():
    """Load average and other-process CPU use, to record how busy the machine was."""
    la = os.getloadavg()
    return f"load {la[0]:.2f}/{la[1]:.2f}/{la[2]:.2f} on {os.cpu_count()} cores"


def median(xs):
    return statistics.median(xs)


def print_table(title, header, rows):
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n{title}")
    for k, r in enumerate(cells):
        print("  " + "  ".join(c.rjust(w) if k and _numeric(c) else c.ljust(w) for c, w in zip(r, widths)))
        if k == 0:
            print("  " + "  ".join("-" * w for w in widths))
    print(flush=True)


def _numeric(s):
    try:
        float(s.rstrip("x%"))
        return True
    except ValueError:
        return False


def append_csv(name, header, rows):
    """Appends rows to out/bench/NAME (writing the header when the file is new)."""
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name)
    new = not os.path.exists(path)
    with open(path, "a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(header)
        w.writerows(rows)
    return path


def now_iso():
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def git_rev():
    r = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    rev = r.stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return rev + ("+dirty" if dirty else "")
