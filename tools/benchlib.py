"""Shared helpers for the tools/bench-* scripts (python3 standard library only).

A Cluster is the tests' cluster (tests/e2e/harness.py) started for a benchmark: one zbuild
daemon (on 127.0.0.1:0: it binds free ports itself) and N workers, every process stopped by pid
when the script ends (normally, by exception or signal).
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
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
import harness  # noqa: E402  (the one cluster harness, shared with the tests)
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
    if bindir:
        bindir = os.path.abspath(bindir)   # also used as a compiler launcher from other folders
    if not bindir:
        build = os.path.join(REPO, "build-bench")
        bindir = os.path.join(build, "src", "cli")
        if not os.path.exists(os.path.join(build, "build.ninja")):
            run_checked(["meson", "setup", build], cwd=REPO)
        run_checked(["ninja", "-j2", "-C", build, "src/cli/zbuild", "src/cli/zbuild-daemon", "src/cli/zbuild-worker",
                     "src/cli/zbuild-sandbox", "src/cli/zbuild-cc"],
                    cwd=REPO)
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
    mine = harness.socket_inodes(pid)
    if not mine:
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


class Distccd:
    """A distccd with `jobs` slots on a loopback port it binds itself (start_listener), logging
    to WORKDIR/NAME.log, stopped by pid. `hosts` is its DISTCC_HOSTS entry."""

    def __init__(self, workdir, jobs, name="distccd"):
        self.log = os.path.join(workdir, f"{name}.log")

        def start(port):
            # --log-stderr: as root distccd drops to `nobody`, who could not open a log file here.
            argv = ["distccd", "--daemon", "--no-detach", "--listen", "127.0.0.1", "--port", str(port),
                    "--allow", "127.0.0.1", "--jobs", str(jobs), "--log-stderr"]
            if os.geteuid() == 0:
                argv += ["--user", "nobody"]
            with open(self.log, "wb") as logf:
                return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT)

        self.p, self.port = start_listener(start, f"distccd (see {self.log})")
        self.hosts = f"127.0.0.1:{self.port}/{jobs}"

    def compiles(self):
        with open(self.log, errors="replace") as f:
            return f.read().count("COMPILE_OK")

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


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


class Cluster(harness.Cluster):
    """The tests' cluster (tests/e2e/harness.py) for benchmarks: the daemon on 127.0.0.1:0 and
    `workers` workers of `slots` slots each, started together under `workdir` with any program
    allowed (benchmark graphs run true, cp, sh: trusted local work), stopped by pid when the
    script ends (normally, by exception or signal)."""

    worker_args = ()   # more zbuild-worker options (SimCluster: --sandbox none)

    def __init__(self, workdir, workers=2, slots=1, store=None, extra_daemon_args=()):
        os.makedirs(workdir, exist_ok=True)
        z, w = zbuild_bins()
        super().__init__(workdir, store=store, zbuild=z, worker=w)
        self.workdir = workdir
        self.n_workers = workers
        self.slots = slots
        self.extra = list(extra_daemon_args)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        _live.append(self)
        self.start_daemon(self.extra)
        if "--local-slots" in self.extra:   # the daemon's own slots: a worker in its process that joins it
            self.daemon.wait_for("worker local-slots joined")
        for k in range(self.n_workers):
            # ZBUILD_BENCH_WORKER_ARGS: e.g. "--sandbox none" to measure dispatch without bubblewrap
            self.start_worker(slots=self.slots, name=f"bench-w{k + 1}", allow=(),
                              extra=["--allow-any-program", *self.worker_args,
                                     *os.environ.get("ZBUILD_BENCH_WORKER_ARGS", "").split()])
        return self

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
        super().stop()
        self.workers = {}
        self.daemon = None
        if self in _live:
            _live.remove(self)


def local_slots_cluster(workdir, slots=2):
    """A Cluster whose `slots` slots run in the daemon's own process (zbuild daemon --local-slots),
    with any program allowed and $ZBUILD_BENCH_WORKER_ARGS, as Cluster's workers have."""
    wargs = " ".join(["--allow-any-program", *os.environ.get("ZBUILD_BENCH_WORKER_ARGS", "").split()])
    return Cluster(workdir, workers=0, extra_daemon_args=["--local-slots", str(slots), "--local-worker-args", wargs])


def machine_note():
    """Load average and other-process CPU use, to record how busy the machine was."""
    la = os.getloadavg()
    return f"load {la[0]:.2f}/{la[1]:.2f}/{la[2]:.2f} on {os.cpu_count()} cores"


def machine_cpu():
    """(busy, idle) CPU seconds of all cores since boot, from /proc/stat (iowait counts as idle)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    idle = v[3] + v[4]
    return (sum(v[:8]) - idle) / hz, idle / hz


def idle_share(before, after):
    """The cores' idle share between two machine_cpu() readings."""
    busy, idle = after[0] - before[0], after[1] - before[1]
    return idle / max(1e-9, busy + idle)


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


def summary(bench, **figures):
    """A benchmark's headline figures as one JSON line in $ZBUILD_BENCH_SUMMARY, when set: how
    tools/bench-speed collects the rows of its table from the scripts it runs."""
    path = os.environ.get("ZBUILD_BENCH_SUMMARY")
    if not path:
        return
    with open(path, "a") as f:
        f.write(json.dumps({"bench": bench, "rev": git_rev(), "machine": machine_note(), **figures}) + "\n")


def now_iso():
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def git_rev():
    r = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    rev = r.stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return rev + ("+dirty" if dirty else "")
