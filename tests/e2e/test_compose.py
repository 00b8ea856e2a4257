"""The compose profiles (tools/compose): a daemon and 1, 3 or 5 workers in podman containers,
on a private network, build examples/shapes submitted from the host to the daemon's address on
that network (no host port published: none to choose), with CurveZMQ keys. Each test brings its profile up under a project name of its
own and tears down every container and the network it started, by name, also when it fails."""

import json
import os
import subprocess
import unittest
import uuid

from harness import BUILD_DIR, REPO, E2ECase, Proc, workers_used

COMPOSE = os.path.join(REPO, "tools", "compose")


class ComposeProfiles(E2ECase):
    shapes_output = None   # the program's output from the first profile; every profile builds the same

    def setUp(self):
        super().setUp()
        self.project = "zbtest-" + uuid.uuid4().hex[:10]
        self.env = dict(os.environ, ZBUILD_COMPOSE_STATE=os.path.join(self.tmp, "state"),
                        ZBUILD_COMPOSE_PROJECT=self.project, ZBUILD_COMPOSE_PORT="none",
                        ZBUILD_BUILD_DIR=BUILD_DIR, CONTAINERS_CONF=os.path.join(COMPOSE, "containers.conf"))
        self.daemon_log = None
        # Cleanups run last-added first: this one before E2ECase's removes the state folder.
        self.addCleanup(self.teardown_project)

    def run_tool(self, *argv, timeout=600):
        return subprocess.run(list(argv), env=self.env, capture_output=True, text=True, timeout=timeout)

    def podman(self, *args):
        r = self.run_tool("podman", *args, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.split()

    def leftovers(self):
        label = f"label=io.podman.compose.project={self.project}"
        return (self.podman("ps", "-a", "-q", "--filter", label)
                + self.podman("ps", "-a", "-q", "--filter", f"name={self.project}")
                + self.podman("network", "ls", "-q", "--filter", label)
                + self.podman("network", "ls", "-q", "--filter", f"name={self.project}"))

    def teardown_project(self):
        if self.daemon_log:
            self.daemon_log.stop()
        if os.path.exists(os.path.join(self.tmp, "state", "env")):
            self.run_tool(os.path.join(COMPOSE, "down"))
        # Whatever `down` could not remove (it failed, or `up` failed half-way): by name.
        label = f"label=io.podman.compose.project={self.project}"
        for kind in ("ps -a", "network ls"):
            for flt in (label, f"name={self.project}"):
                ids = self.run_tool("podman", *kind.split(), "-q", "--filter", flt).stdout.split()
                if ids:
                    rm = ["rm", "-f"] if kind == "ps -a" else ["network", "rm", "-f"]
                    self.run_tool("podman", *rm, *ids)

    def client(self, *argv):
        return self.run_tool(os.path.join(COMPOSE, "client"), *argv)

    def check_profile(self, n):
        # tools/compose runs podman rootful (runc, cgroupfs), as root, like the other e2e tests
        # that make namespaces.
        self.assertEqual(os.geteuid(), 0, "tests/e2e/test_compose.py runs as root")
        r = self.run_tool(os.path.join(COMPOSE, "up"), f"w{n}")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        names = {f"worker{i}" for i in range(1, n + 1)}

        # The daemon's own account of the workers joining, from its container's log.
        self.daemon_log = Proc(["podman", "logs", "-f", f"{self.project}_daemon_1"], "daemon",
                               env=self.env)
        for w in sorted(names):
            self.daemon_log.wait_for(f"worker {w} joined", timeout=60)
        r = self.client("status", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        workers = json.loads(r.stdout)["workers"]
        self.assertEqual({w["id"] for w in workers}, names, r.stdout)
        self.assertTrue(all(w["sandboxed"] for w in workers), "a worker runs tasks without bubblewrap: " + r.stdout)

        # A cold build (the daemon's store is new), every task on the containers' workers: no
        # local slot on the host.
        proj = self.copy_example("shapes")
        metrics = os.path.join(self.tmp, "metrics.json")
        r = self.client("submit", "--local-slots", "0", "--metrics-out", metrics, os.path.join(proj, "graph.json"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + self.daemon_log.output())
        with open(metrics) as f:
            m = json.load(f)
        self.assertEqual((m["total_tasks"], m["executed_tasks"], m["failed_tasks"]), (29, 29, 0), m)
        # 25 compiles are ready at once and every worker has a free slot: each one builds.
        self.assertEqual(set(workers_used(r.stdout)), names, r.stdout)

        run = subprocess.run([os.path.join(proj, "out", "bin", "shapes")], capture_output=True, text=True)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertTrue(run.stdout.startswith("shapes "), run.stdout)
        self.assertIn("== raster ==", run.stdout)
        if ComposeProfiles.shapes_output is None:
            ComposeProfiles.shapes_output = run.stdout
        self.assertEqual(run.stdout, ComposeProfiles.shapes_output, "profiles built different programs")
        with open(os.path.join(proj, "out", "test-results.txt")) as f:
            self.assertIn("checks passed", f.read())
        # Nothing the tasks started is left: init, the worker, and its one slot's resident
        # sandbox (bubblewrap, and zbuild-sandbox as the init of the slot's PID namespace),
        # nothing else.
        for w in sorted(names):
            comms = self.podman("top", f"{self.project}_{w}_1", "comm")[1:]
            sandbox = [c for c in comms if c in ("bwrap", "zbuild-sandbox")]
            self.assertEqual(sorted(sandbox), ["bwrap", "zbuild-sandbox"], f"{w}: {comms}")
            self.assertLessEqual(len(comms) - len(sandbox), 2, f"{w}: processes left behind: {comms}")

        # Down removes every container and the network it started.
        self.daemon_log.stop()
        r = self.run_tool(os.path.join(COMPOSE, "down"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.leftovers(), [])

    def test_1_worker(self):
        self.check_profile(1)

    def test_3_workers(self):
        self.check_profile(3)

    def test_5_workers(self):
        self.check_profile(5)


if __name__ == "__main__":
    unittest.main()
