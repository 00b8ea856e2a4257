"""A Redis store shared by several daemons (a real redis-server on a Unix socket in the test's
folder: Redis cannot bind a free TCP port and report it, and a socket path needs no probing)."""

import os
import shutil
import subprocess
import unittest

from harness import Cluster, E2ECase, Proc, bind_port_block, tree_files


class SharedRedis(E2ECase):
    def start_redis(self):
        """A redis-server without TCP (--port 0) on a socket in the test's folder; returns it and
        its store spec (started again with the same arguments, it is back at the same spec)."""
        sock = os.path.join(self.tmp, "redis.sock")
        redis = Proc(["redis-server", "--port", "0", "--unixsocket", sock, "--unixsocketperm", "700", "--save", "",
                      "--appendonly", "no", "--daemonize", "no"], "redis-server")
        self.addCleanup(redis.stop)
        redis.wait_for("ready to accept connections at " + sock, timeout=30)
        return redis, f"redis+unix://{sock}"

    def test_two_daemons_share_hits(self):
        _, spec = self.start_redis()
        proj = self.copy_example("shapes")
        graph = os.path.join(proj, "graph.json")
        first = self.cluster
        first.store = spec
        first.start_daemon()
        first.start_worker(slots=2, name="w-first")
        r, m = first.submit(graph)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(m["executed_tasks"], m["total_tasks"])
        built = tree_files(os.path.join(proj, "out"))
        shutil.rmtree(os.path.join(proj, "out"))

        second = Cluster(self.tmp, store=spec)
        self.addCleanup(second.stop)
        second.start_daemon()
        second.start_worker(slots=1, name="w-second")
        r, m = second.submit(graph)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(m["cached_tasks"], m["total_tasks"], r.stdout)
        self.assertEqual(m["executed_tasks"], 0)
        self.assertEqual(second.status()["counters"]["dispatched"], 0)
        self.assertEqual(tree_files(os.path.join(proj, "out")), built)
        store = second.status()["store"]
        self.assertIn(spec, store["backend"])
        # Counted from the store's keys: one result per distinct action, every output a blob.
        self.assertTrue(0 < store["actions"] <= m["total_tasks"], store)
        self.assertGreaterEqual(store["blobs"], len(set(built.values())), store)

    def test_unreachable_redis_degrades_to_no_cache(self):
        # A TCP port the test holds and never listens on: connections are refused.
        dead, held = bind_port_block(1)
        self.addCleanup(held[0].close)
        c = self.cluster
        c.store = f"redis://127.0.0.1:{dead}/0"
        c.start_daemon()
        c.daemon.wait_for("continuing with a local in-memory cache")
        c.start_worker(slots=2)
        proj = self.copy_example("legacy")
        r, m = c.submit(os.path.join(proj, "graph.json"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(m["executed_tasks"], m["total_tasks"])
        run = subprocess.run([os.path.join(proj, "build", "app")], capture_output=True)
        self.assertEqual(run.returncode, 0)

    def test_redis_dying_mid_life_does_not_fail_builds(self):
        redis, spec = self.start_redis()
        c = self.cluster
        c.store = spec
        c.start_daemon()
        c.start_worker(slots=2)
        proj = self.copy_example("legacy")
        r, m = c.submit(os.path.join(proj, "graph.json"))
        self.assertEqual(r.returncode, 0)
        redis.stop()
        with open(os.path.join(proj, "util.h"), "a") as f:
            f.write("\n// changed after redis went away\n")
        r, m = c.submit(os.path.join(proj, "graph.json"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + c.daemon.output())
        self.assertIn("continuing with a local in-memory cache", c.daemon.output())


if __name__ == "__main__":
    unittest.main()
