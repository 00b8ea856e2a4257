"""Faults: workers killed with SIGKILL mid-build, the daemon killed with SIGKILL mid-build.
Builds still finish, outputs are byte-identical to a clean local build, completed work is
not redone."""

import json
import os
import random
import signal
import subprocess
import threading
import unittest

from harness import E2ECase, Proc, ZBUILD, tree_files

N_UNITS = 200


def make_project(root, n=N_UNITS):
    """A C project of n translation units, 4 archives and a program: a few hundred tasks."""
    os.makedirs(os.path.join(root, "src"), exist_ok=True)
    tasks = []
    for i in range(n):
        with open(os.path.join(root, "src", f"u{i}.c"), "w") as f:
            f.write(f"#include \"common.h\"\n"
                    f"int unit_{i}(int x) {{\n  int acc = {i};\n"
                    f"  for (int k = 0; k < x; ++k) acc = MIX(acc, k + {i});\n  return acc;\n}}\n")
        tasks.append({"id": f"u{i}.o", "argv": ["gcc", "-O2", "-Iinclude", "-c", f"src/u{i}.c", "-o", f"out/u{i}.o"],
                      "inputs": [f"src/u{i}.c"], "outputs": [f"out/u{i}.o"]})
    os.makedirs(os.path.join(root, "include"), exist_ok=True)
    with open(os.path.join(root, "include", "common.h"), "w") as f:
        f.write("#define MIX(a, b) ((a) * 31 + ((b) ^ ((a) >> 3)))\n")
    libs = []
    per = n // 4
    for j in range(4):
        objs = [f"out/u{i}.o" for i in range(j * per, (j + 1) * per)]
        lib = f"out/libpart{j}.a"
        libs.append(lib)
        tasks.append({"id": lib, "argv": ["ar", "rcsD", lib, *objs], "inputs": objs, "outputs": [lib]})
    with open(os.path.join(root, "src", "main.c"), "w") as f:
        f.write("#include <stdio.h>\n")
        for i in range(n):
            f.write(f"int unit_{i}(int);\n")
        f.write("int main(void) {\n  long s = 0;\n")
        for i in range(n):
            f.write(f"  s += unit_{i}({i % 7});\n")
        f.write("  printf(\"%ld\\n\", s);\n  return 0;\n}\n")
    tasks.append({"id": "main.o", "argv": ["gcc", "-O2", "-c", "src/main.c", "-o", "out/main.o"],
                  "inputs": ["src/main.c"], "outputs": ["out/main.o"]})
    tasks.append({"id": "prog", "argv": ["gcc", "-o", "out/prog", "out/main.o", *libs],
                  "inputs": ["out/main.o", *libs], "outputs": ["out/prog"]})
    with open(os.path.join(root, "graph.json"), "w") as f:
        json.dump({"version": 1, "root": ".", "tasks": tasks}, f, indent=1)
    return tasks


def build_locally(root, tasks):
    os.makedirs(os.path.join(root, "out"), exist_ok=True)
    for t in tasks:
        r = subprocess.run(t["argv"], cwd=root, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    ref = tree_files(os.path.join(root, "out"))
    subprocess.run(["rm", "-rf", os.path.join(root, "out")], check=True)
    return ref


class Faults(E2ECase):
    def setUp(self):
        super().setUp()
        self.proj = os.path.join(self.tmp, "proj")
        self.tasks = make_project(self.proj)
        self.ref = build_locally(self.proj, self.tasks)
        self.graph = os.path.join(self.proj, "graph.json")

    def assert_identical(self):
        got = tree_files(os.path.join(self.proj, "out"))
        self.assertEqual(sorted(got), sorted(self.ref))
        for p, data in self.ref.items():
            self.assertTrue(got[p] == data, f"{p} differs from the local build")

    def start_submit(self, *extra):
        argv = [ZBUILD, "submit", "--daemon", self.cluster.addr, "--metrics-out",
                os.path.join(self.tmp, "metrics.json"), *extra, self.graph]
        return Proc(argv, "submit")

    def metrics(self):
        with open(os.path.join(self.tmp, "metrics.json")) as f:
            return json.load(f)

    def test_chaos_workers_killed_and_restarted(self):
        c = self.cluster
        c.start_daemon(["--heartbeat-ms", "200", "--liveness-ms", "1000"])
        for _ in range(3):
            c.start_worker(slots=2, extra=["--heartbeat-ms", "200", "--liveness-ms", "1000"])
        sub = self.start_submit()
        sub.wait_for(" done ", timeout=120)   # work is flowing
        rng = random.Random(20261124)
        kills = 0
        while sub.p.poll() is None:
            victims = [w for w in c.workers.values() if w.p.poll() is None]
            victim = rng.choice(victims)
            victim.stop(sig=signal.SIGKILL)
            kills += 1
            c.start_worker(slots=2, extra=["--heartbeat-ms", "200", "--liveness-ms", "1000"])
            if kills >= 4 and c.status()["counters"]["retries"] > 0:
                break
            # Let the new worker pick up work before the next kill.
            try:
                sub.p.wait(timeout=rng.uniform(0.3, 0.9))
            except subprocess.TimeoutExpired:
                pass
        rc = sub.p.wait(timeout=600)
        sub.stop()
        self.assertEqual(rc, 0, sub.output())
        m = self.metrics()
        self.assertGreaterEqual(kills, 3)
        self.assertEqual(m["total_tasks"], len(self.tasks))
        self.assertEqual(m["failed_tasks"], 0)
        self.assertGreater(m["retried_tasks"], 0, sub.output())
        self.assert_identical()
        print(f"chaos: {len(self.tasks)} tasks, {kills} kills, {m['retried_tasks']} retried, "
              f"{m['build_time_ms']} ms")

    def test_daemon_killed_mid_build(self):
        c = self.cluster
        c.start_daemon()
        c.start_worker(slots=2, name="a")
        c.start_worker(slots=2, name="b")
        # 1. Without --wait-daemon the client says it lost the daemon and exits non-zero.
        sub = self.start_submit()
        sub.wait_for(" done ", timeout=120, count=40)
        c.daemon.stop(sig=signal.SIGKILL)
        rc = sub.p.wait(timeout=30)
        sub.stop()
        self.assertNotEqual(rc, 0)
        self.assertIn("lost the daemon", sub.output())
        done_before = sum(1 for l in sub.lines if " done " in l)

        # 2. Restart on the same store: the workers come back by themselves, and a resubmit
        #    finds every task that had completed in the cache.
        c.start_daemon()
        c.daemon.wait_for("worker a joined", timeout=30)
        c.daemon.wait_for("worker b joined", timeout=30)
        sub = self.start_submit()
        rc = sub.p.wait(timeout=600)
        sub.stop()
        self.assertEqual(rc, 0, sub.output())
        m = self.metrics()
        self.assertGreaterEqual(m["cached_tasks"], done_before)
        self.assert_identical()

        # 3. With --wait-daemon the same client rides out a restart and finishes.
        subprocess.run(["rm", "-rf", os.path.join(self.proj, "out")], check=True)
        with open(os.path.join(self.proj, "include", "common.h"), "a") as f:
            f.write("/* new content: everything recompiles */\n")
        self.ref = build_locally(self.proj, self.tasks)
        sub = self.start_submit("--wait-daemon", "60")
        sub.wait_for(" done ", timeout=120, count=20)
        c.daemon.stop(sig=signal.SIGKILL)
        sub.wait_for("waiting up to 60 s", timeout=30)
        c.start_daemon()
        rc = sub.p.wait(timeout=600)
        sub.stop()
        self.assertEqual(rc, 0, sub.output())
        self.assertIn("daemon is back", sub.output())
        self.assert_identical()


if __name__ == "__main__":
    unittest.main()
