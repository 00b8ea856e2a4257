"""The store's limits end to end: a disk that fills up (the daemon stops caching, keeps building
and restarts cleanly) and --store-max-size (least-recently-used eviction, reported by status)."""

import os
import shutil
import subprocess
import unittest

from harness import E2ECase, Proc, tree_files


def set_optimisation(proj, old, new):
    """Rewrites the project's graph with another -O flag: every compile is a new action."""
    path = os.path.join(proj, "graph.json")
    with open(path) as f:
        text = f.read()
    assert f'"{old}"' in text
    with open(path, "w") as f:
        f.write(text.replace(f'"{old}"', f'"{new}"'))


class StoreLimits(E2ECase):
    def assert_outputs(self, proj, ref):
        got = tree_files(os.path.join(proj, "out"))
        self.assertEqual(sorted(got), sorted(ref))
        for path, data in ref.items():
            self.assertTrue(got[path] == data, f"{path} differs from the local build")

    def build(self, proj, fresh=True):
        if fresh:
            shutil.rmtree(os.path.join(proj, "out"), ignore_errors=True)
        r, m = self.cluster.submit(os.path.join(proj, "graph.json"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + "\n" + self.cluster.daemon.output())
        self.assertEqual(m["failed_tasks"], 0)
        return m

    # ---- a full disk ----

    def small_disk(self, size):
        """A tmpfs of `size` in a private mount namespace held open by a sleeping process; returns
        the command prefix that runs a program inside that namespace, and the mount point."""
        if os.geteuid() != 0:
            self.skipTest("needs root for a private mount namespace and a tmpfs")
        mnt = os.path.join(self.tmp, "small-disk")
        os.makedirs(mnt)
        holder = Proc(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                       f'mount -t tmpfs -o size={size} zbuild-small-disk "{mnt}" && echo mounted && exec sleep infinity'],
                      "namespace")
        self.addCleanup(holder.stop)
        holder.wait_for("mounted")
        return ["nsenter", "-t", str(holder.pid), "-m"], mnt

    def run_in(self, ns, script):
        r = subprocess.run([*ns, "sh", "-c", script], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def free_bytes(self, ns, mnt):
        return int(self.run_in(ns, f'df -B1 --output=avail "{mnt}" | tail -n 1').strip())

    def fill(self, ns, mnt, name, leave=0):
        """Fills the disk with a file, then gives back `leave` bytes."""
        self.run_in(ns, f'dd if=/dev/zero of="{mnt}/{name}" bs=64k 2>/dev/null; true')
        if leave:
            self.run_in(ns, f'truncate -s -{leave} "{mnt}/{name}"')

    def start_daemon_in(self, ns, store):
        c = self.cluster
        c.store = store
        return c.start_daemon(wrap=ns)

    def test_full_disk_stops_caching_keeps_building_and_restarts(self):
        ns, mnt = self.small_disk("16m")
        store = os.path.join(mnt, "store")
        proj = self.copy_example("shapes")
        ref = self.local_reference(proj)
        c = self.cluster
        self.start_daemon_in(ns, store)
        c.start_worker(slots=2, name="w")

        # The disk has 2 MiB left: the first writes are cached, then it fills up mid-build.
        self.fill(ns, mnt, "filler", leave=2 << 20)
        self.build(proj)
        self.assert_outputs(proj, ref)
        c.daemon.wait_for("caching stopped")
        self.assertGreater(c.status()["store"]["blobs"], 0)

        # Full to the last byte: every write fails, caching has stopped, the build is right and
        # adds nothing to the store.
        self.fill(ns, mnt, "filler2")
        self.assertEqual(self.free_bytes(ns, mnt), 0)
        before = c.status()["store"]
        self.build(proj)
        self.assert_outputs(proj, ref)
        after = c.status()["store"]
        self.assertIn("No space left on device", after["write_error"], c.daemon.output())
        self.assertEqual((after["blobs"], after["actions"], after["stored_bytes"]),
                         (before["blobs"], before["actions"], before["stored_bytes"]))

        # A clean stop, and a restart on the full disk: it opens (read-only), reads what was
        # cached before the disk filled, and builds.
        self.assertEqual(c.daemon.stop(), 0, c.daemon.output())
        self.assertNotIn("Assertion", c.daemon.output())
        self.fill(ns, mnt, "filler3")
        self.assertEqual(self.free_bytes(ns, mnt), 0)
        self.start_daemon_in(ns, store)
        c.start_worker(slots=2, name="w2")
        st = c.status()["store"]
        self.assertTrue(st["read_only"], st)
        self.assertIn("No space left on device", st["write_error"])
        self.assertGreater(st["actions"], 0)
        m = self.build(proj)
        self.assert_outputs(proj, ref)
        self.assertGreater(m["cached_tasks"], 0, "nothing read back from the read-only store")
        self.assertEqual(c.daemon.stop(), 0, c.daemon.output())
        self.assertNotIn("Assertion", c.daemon.output())

    # ---- the size cap ----

    def test_size_cap_evicts_least_recently_used(self):
        proj = self.copy_example("shapes")
        c = self.cluster

        # Build once without a cap to learn how much one build stores.
        c.start_daemon()
        c.start_worker(slots=2, name="w")
        m = self.build(proj)
        self.assertEqual(m["executed_tasks"], 29)
        one_build = c.status()["store"]["stored_bytes"]
        self.assertGreater(one_build, 0)
        c.stop()
        c.workers.clear()

        # Restart with room for about one and a third builds: the accounting is kept.
        cap_k = one_build * 4 // 3 // 1024
        cap = cap_k * 1024
        c.start_daemon(["--store-max-size", f"{cap_k}K"])
        c.start_worker(slots=2, name="w2")
        st = c.status()["store"]
        self.assertEqual(st["max_bytes"], cap)
        self.assertEqual(st["stored_bytes"], one_build)
        self.assertEqual(st["evictions"], 0)

        # Other flags: every compile is a new action, and the new build pushes out the old one.
        set_optimisation(proj, "-O2", "-O1")
        m = self.build(proj)
        self.assertEqual(m["executed_tasks"], 29)
        st = c.status()["store"]
        self.assertLessEqual(st["stored_bytes"], cap)
        self.assertGreater(st["evictions"], 0)
        self.assertGreater(st["evicted_bytes"], 0)
        run = subprocess.run([os.path.join(proj, "out", "bin", "shapes")], capture_output=True, text=True)
        self.assertEqual(run.returncode, 0)
        with open(os.path.join(proj, "out", "test-results.txt")) as f:
            self.assertIn("checks passed", f.read())
        built = tree_files(os.path.join(proj, "out"))

        # The newest build fits and was used last: all of it is still cached.
        m = self.build(proj)
        self.assertEqual(m["cached_tasks"], 29)
        self.assertEqual(tree_files(os.path.join(proj, "out")), built)

        # The old flags were evicted (at least in part): they run again, within the cap.
        set_optimisation(proj, "-O1", "-O2")
        m = self.build(proj)
        self.assertGreater(m["executed_tasks"], 0)
        st2 = c.status()["store"]
        self.assertLessEqual(st2["stored_bytes"], cap)
        self.assertGreater(st2["evictions"], st["evictions"])


if __name__ == "__main__":
    unittest.main()
