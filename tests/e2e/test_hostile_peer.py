"""The hostile-peer suite (issue 9): a peer speaking zbuild's real protocol (tests/tools/
zbuild_probe.cc, probe_attacks.cc) tries each attack against the real daemon and workers, and
every one is refused. A build under attack either succeeds with correct outputs or fails with a
clear message, and the daemon stays up."""

import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import time
import unittest

from harness import CurveKeys, E2ECase, Proc, WORKER, ZBUILD, run_as_nobody, socket_inodes, workers_used, write_graph

PROBE = os.environ.get("ZBUILD_PROBE_BIN", os.path.join(os.path.dirname(ZBUILD), "..", "..", "tests", "zbuild-probe"))

SOURCE = "int answer(void) { return 42; }\n"


def tcp_socket_inodes():
    """The inodes of every TCP socket in this network namespace (listening or not)."""
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        out.update(row.split()[9] for row in rows)
    return out


def sh_task(tid, script, outputs):
    """A task that runs `script` through sh, with no inputs."""
    return {"id": tid, "argv": ["sh", "-c", script], "inputs": [], "outputs": outputs}


class HostilePeer(E2ECase):
    def project(self):
        proj = os.path.join(self.tmp, "proj")
        os.makedirs(proj, exist_ok=True)
        with open(os.path.join(proj, "a.c"), "w") as f:
            f.write(SOURCE)
        graph = write_graph(os.path.join(proj, "graph.json"),
                            [{"id": "a.o", "argv": ["gcc", "-O2", "-c", "a.c", "-o", "a.o"], "inputs": ["a.c"],
                              "outputs": ["a.o"]}])
        return proj, graph

    def local_object(self, proj):
        """What the client's own compiler makes of a.c, in the same folder (the reference)."""
        ref = os.path.join(self.tmp, "ref")
        os.makedirs(ref, exist_ok=True)
        subprocess.run(["gcc", "-O2", "-c", "a.c", "-o", os.path.join(ref, "a.o")], cwd=proj, check=True)
        with open(os.path.join(ref, "a.o"), "rb") as f:
            return f.read()

    def probe(self, *args):
        return subprocess.run([PROBE, self.cluster.addr, *args], capture_output=True, text=True, timeout=180)

    def start_probe_worker(self, attack):
        c = self.cluster
        joined = sum(1 for l in c.daemon.lines if "worker hostile-probe joined" in l)
        p = Proc([PROBE, c.addr, attack], "probe")
        self.addCleanup(p.stop)
        c.daemon.wait_for("worker hostile-probe joined", count=joined + 1)
        return p

    def test_forged_results_are_dropped_and_never_cached(self):
        c = self.cluster
        c.start_daemon()
        proj, graph = self.project()
        probe = self.start_probe_worker("worker-forge")
        sub = Proc([ZBUILD, "submit", "--daemon", c.addr, graph], "submit")
        self.addCleanup(sub.stop)
        probe.wait_for("forge: sent 4 forged results", timeout=60)
        self.assertEqual(probe.p.wait(60), 0, probe.output())   # it says Bye and exits by itself
        c.daemon.wait_for("does not answer a dispatch of this daemon", count=4)
        c.start_worker(name="honest")
        sub.wait_for("done", timeout=120)
        self.assertEqual(sub.p.wait(120), 0, sub.output())
        with open(os.path.join(proj, "a.o"), "rb") as f:
            built = f.read()
        self.assertNotIn(b"FORGED", built)
        self.assertEqual(built, self.local_object(proj))
        st = c.status()
        self.assertEqual(st["security"]["forged_results"], 4, st)
        # The cache holds the honest object: a second build is a hit with the same bytes.
        os.remove(os.path.join(proj, "a.o"))
        r, m = c.submit(graph)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(m["cached_tasks"], 1)
        with open(os.path.join(proj, "a.o"), "rb") as f:
            self.assertEqual(f.read(), built)

    def test_undeclared_outputs_are_refused_and_never_written(self):
        c = self.cluster
        c.start_daemon()
        proj, graph = self.project()
        os.makedirs(os.path.join(proj, ".git", "hooks"))
        probe = self.start_probe_worker("worker-extra")
        sub = Proc([ZBUILD, "submit", "--daemon", c.addr, graph], "submit")
        self.addCleanup(sub.stop)
        probe.wait_for("extra: answered task", timeout=60)
        c.daemon.wait_for("that the task does not declare")
        probe.stop()
        c.start_worker(name="honest")
        self.assertEqual(sub.p.wait(120), 0, sub.output())
        self.assertFalse(os.path.exists(os.path.join(proj, ".git", "hooks", "pre-commit")))
        with open(os.path.join(proj, "a.o"), "rb") as f:
            built = f.read()
        self.assertEqual(built, self.local_object(proj))
        os.remove(os.path.join(proj, "a.o"))
        r, m = c.submit(graph)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(m["cached_tasks"], 1)
        self.assertFalse(os.path.exists(os.path.join(proj, ".git", "hooks", "pre-commit")))
        with open(os.path.join(proj, "a.o"), "rb") as f:
            self.assertEqual(f.read(), built)

    def test_partial_blob_floods_are_bounded(self):
        c = self.cluster
        # Under a 3 GiB address-space limit a daemon reserving what uploads claim dies at once.
        c.start_daemon(wrap=["prlimit", f"--as={3 << 30}", "--"])
        r = self.probe("flood", "200")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        status = json.loads(r.stdout.split("status: ", 1)[1].splitlines()[0])
        sec = status["security"]
        self.assertGreater(sec["refused_uploads"], 0, sec)
        self.assertLessEqual(sec["unfinished_upload_bytes"], 512 << 20, sec)
        self.assertIsNone(c.daemon.p.poll(), "the daemon died under the flood")
        # And it still builds.
        proj, graph = self.project()
        c.start_worker()
        r, m = c.submit(graph)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_hostile_submissions_are_refused_by_daemon_and_worker(self):
        c = self.cluster
        c.start_daemon()
        w = c.start_worker(name="guard", allow=())
        proj = os.path.join(self.tmp, "proj")
        os.makedirs(proj)
        marker = os.path.join(self.tmp, "pwned")

        r = self.probe("submit", "ldpreload", proj)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("refused: task 'hostile-ldpreload'", r.stdout)
        self.assertIn("LD_PRELOAD", r.stdout)

        for kind, needle in [("wrapper", "-wrapper"), ("rspfile", "-wrapper"), ("plugin", "-fplugin"),
                             ("shipped-program", "lies under the exec root")]:
            r = self.probe("submit", kind, proj, marker)
            self.assertEqual(r.returncode, 0, kind + ": " + r.stdout + r.stderr)
            self.assertIn("exit=126", r.stdout, kind)
            self.assertIn(needle, r.stdout, kind)
            self.assertFalse(os.path.exists(marker), f"{kind}: the wrapper ran")

        for path in ["/etc/shadow", "/dev/zero", "/usr/../etc/passwd", "/proc/self/environ"]:
            r = self.probe("submit", "hostfile:" + path, proj)
            self.assertEqual(r.returncode, 0, path + ": " + r.stdout + r.stderr)
            self.assertIn("outside this worker's toolchain folders", r.stdout, path)
            self.assertNotIn("have ", r.stdout)   # no digest of the worker's file is echoed
        # A file under /usr that is not the client's: refused without telling what the worker has.
        r = self.probe("submit", "hostfile:/usr/bin/gcc", proj)
        self.assertIn("is not the same on this worker", r.stdout)
        self.assertNotIn("have ", r.stdout)
        r = self.probe("submit", "hostfile:/usr/no/such/file", proj)
        self.assertIn("is not the same on this worker", r.stdout)   # missing reads the same as different

        # A hostile toolchain tree: nothing is written through its links onto the worker's host.
        outside = os.path.join(self.tmp, "outside")
        os.makedirs(outside)
        for kind, needle in [("tree-escape:" + outside, "leads out of the toolchain folders"),
                             ("tree-below-link:" + outside, "lies below a link")]:
            r = self.probe("submit", kind, proj)
            self.assertEqual(r.returncode, 0, kind + ": " + r.stdout + r.stderr)
            self.assertIn(needle, r.stdout, kind)
            self.assertEqual(os.listdir(outside), [], kind)

        self.assertIsNone(w.p.poll(), "the worker died")
        self.assertEqual(w.stop(), 0, "the worker did not stop cleanly on SIGTERM")
        self.assertIsNone(c.daemon.p.poll(), "the daemon died")

    def test_sandbox_fails_closed_and_builds_can_require_it(self):
        c = self.cluster
        c.start_daemon()
        empty = os.path.join(self.tmp, "empty-bin")
        os.makedirs(empty)
        env = dict(os.environ, PATH=empty)
        r = subprocess.run([WORKER, "--daemon", c.addr, "--work-dir", os.path.join(self.tmp, "wx")], env=env,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("refusing to start", r.stderr)
        self.assertIn("--sandbox none", r.stderr)

        c.start_worker(name="bare", extra=("--sandbox", "none"))
        c.daemon.wait_for("UNSANDBOXED")
        st = c.status()
        self.assertEqual(st["security"]["unsandboxed_workers"], 1)
        self.assertFalse(st["workers"][0]["sandboxed"])

        proj, graph = self.project()
        sub = Proc([ZBUILD, "submit", "--daemon", c.addr, "--require-sandbox", graph], "submit")
        self.addCleanup(sub.stop)
        c.daemon.wait_for("accepted")
        self.assertEqual(c.status()["counters"]["dispatched"], 0)   # the bare worker gets nothing
        c.start_worker(name="boxed")
        self.assertEqual(sub.p.wait(120), 0, sub.output())
        self.assertEqual(workers_used(sub.output()), {"boxed": 1})

    def test_other_local_users_get_nothing(self):
        c = self.cluster
        c.start_daemon()
        c.daemon.wait_for("private to this user")
        # No TCP port is bound at all: none of the daemon's sockets is a TCP one.
        sockets = socket_inodes(c.daemon.pid)
        self.assertTrue(sockets)   # its Unix sockets
        self.assertEqual(sockets & tcp_socket_inodes(), set())
        r = run_as_nobody([ZBUILD, "status", "--daemon", c.addr], os.path.join(self.tmp, "nobody"))
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertNotIn("workers", r.stdout)
        # The owner gets in; a second daemon on the same address is refused, naming the first.
        self.assertIn("workers", c.status())
        r = subprocess.run([ZBUILD, "daemon", "--listen", c.addr, "--store", os.path.join(self.tmp, "s2")],
                           capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("already serves " + c.addr, r.stderr)

    def test_a_killed_client_cancels_its_build(self):
        c = self.cluster
        c.start_daemon()
        c.start_worker(slots=1)
        proj = os.path.join(self.tmp, "proj")
        os.makedirs(proj)
        graph = os.path.join(proj, "graph.json")
        tasks = [{"id": f"s{i}", "argv": ["sleep", "1"], "inputs": [], "outputs": []} for i in range(6)]
        write_graph(graph, tasks)
        sub = Proc([ZBUILD, "submit", "--daemon", c.addr, graph], "submit")
        c.daemon.wait_for("accepted")
        sub.stop(signal.SIGKILL)
        c.daemon.wait_for("its client disconnected; cancelling it")
        c.daemon.wait_for("FAILED")
        st = c.status()
        self.assertEqual(st["builds"], [])
        self.assertLess(st["counters"]["dispatched"], 6, st)

    def test_connections_held_open_by_a_peer_do_not_run_the_daemon_out_of_descriptors(self):
        """A peer that opens hundreds of connections to a CURVE daemon's ports and never speaks
        holds one descriptor of the daemon's each. The daemon takes the whole open-files limit it
        is given: started with 256 of a possible 4096, it holds 900 such connections and still
        builds for its own user's client (with 256 it ran out, and libzmq's IPC listener aborted
        the process when that client connected)."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        self.assertGreaterEqual(hard, 1200, "this test opens 900 connections: it needs an open-files limit of 1200")
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
        self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))
        c = self.cluster
        keys = CurveKeys(self.tmp)
        c.start_daemon(keys.daemon_args(), wrap=["prlimit", "--nofile=256:4096", "--"])
        c.daemon.wait_for("open files: 4096 (raised from 256)")
        with open(f"/proc/{c.daemon.pid}/limits") as f:
            row = next(l for l in f if l.startswith("Max open files"))
        self.assertEqual(row.split()[3:5], ["4096", "4096"], row)
        c.start_worker(slots=1, extra=keys.worker_args())
        fds = f"/proc/{c.daemon.pid}/fd"
        before = len(os.listdir(fds))
        held = []
        self.addCleanup(lambda: [s.close() for s in held])
        for port in (c.port, c.port + 1, c.port + 2):
            held += [socket.create_connection(("127.0.0.1", port)) for _ in range(300)]
        deadline = time.monotonic() + 60
        while len(os.listdir(fds)) < before + 900:   # accepted by the daemon, not only queued
            self.assertLess(time.monotonic(), deadline, f"the daemon holds {len(os.listdir(fds)) - before} of 900")
            time.sleep(0.02)
        proj = os.path.join(self.tmp, "proj")
        os.makedirs(proj)
        graph = os.path.join(proj, "graph.json")
        write_graph(graph, [sh_task("t", "echo built > out.txt", ["out.txt"])])
        r, _ = c.submit(graph, *keys.client_args())
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(proj, "out.txt")) as f:
            self.assertEqual(f.read(), "built\n")
        self.assertIsNone(c.daemon.p.poll())

    def test_clients_done_with_their_builds_probe_no_one(self):
        """Every zbuild-cc compile is a client that disconnects once its build is over: that probes
        no other build's client. A client killed while its build runs is probed and found gone."""
        c = self.cluster
        c.start_daemon()
        c.start_worker(slots=2)
        proj = os.path.join(self.tmp, "proj")
        os.makedirs(proj)
        long_graph = write_graph(os.path.join(proj, "long.json"),
                                 [{"id": "long", "argv": ["sleep", "300"], "inputs": [], "outputs": []}])
        sub = Proc([ZBUILD, "submit", "--daemon", c.addr, long_graph], "submit")
        c.daemon.wait_for("accepted")
        for k in range(3):   # other clients come, build on the free slot and go while it runs
            short = write_graph(os.path.join(proj, f"short{k}.json"),
                                [{"id": "t", "argv": ["sleep", f"0.0{k}"], "inputs": [], "outputs": []}])
            r, _ = c.submit(short)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        st = c.status()
        self.assertEqual(len(st["builds"]), 1, st)
        self.assertEqual(st["counters"]["client_probes"], 0, st)
        sub.stop(signal.SIGKILL)
        c.daemon.wait_for("its client disconnected; cancelling it")
        self.assertGreaterEqual(c.status()["counters"]["client_probes"], 1)

    def test_outputs_through_a_symlinked_folder_are_not_read_from_the_worker_host(self):
        c = self.cluster
        c.start_daemon()
        c.start_worker(name="w")   # allows sh
        proj = os.path.join(self.tmp, "proj")
        os.makedirs(proj)
        graph = write_graph(os.path.join(proj, "graph.json"), [sh_task("leak", "ln -s /etc out", ["out/passwd"])])
        r, m = c.submit(graph)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("not produced as a regular file inside the task's folder", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(proj, "out", "passwd")))
        self.assertNotIn("root:", r.stdout + r.stderr)

    def test_verify_rate_catches_disagreeing_workers(self):
        c = self.cluster
        c.start_daemon(["--verify-rate", "1"])
        c.start_worker(name="alpha")
        c.start_worker(name="beta")
        proj, graph = self.project()
        r, m = c.submit(graph)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(c.status()["counters"]["verified"], 1)
        os.remove(os.path.join(proj, "a.o"))
        r, m = c.submit(graph)
        self.assertEqual(m["cached_tasks"], 1)   # verified results are cached
        # An action whose two runs differ (here: it writes the time) is caught, nothing cached.
        nondet = write_graph(os.path.join(proj, "nondet.json"),
                             [sh_task("stamp", "date +%s%N > stamp.txt", ["stamp.txt"])])
        r, m = c.submit(nondet)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("verification failed", r.stderr)
        self.assertIn("alpha", r.stderr)
        self.assertIn("beta", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(proj, "stamp.txt")))
        st = c.status()
        self.assertEqual(st["counters"]["verify_mismatches"], 1)
        self.assertEqual(sorted(w["verify_mismatches"] for w in st["workers"]), [1, 1])
        r, m = c.submit(nondet)
        self.assertEqual(m["cached_tasks"], 0)


if __name__ == "__main__":
    unittest.main()
