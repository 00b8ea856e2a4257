"""One daemon per user and workspace (issue 12): two workspace daemons of one user run at once,
each with its own store by default and each found by zbuild-cc in its own workspace; a second
start in one workspace is refused, naming the first one's address."""

import os
import subprocess
import unittest

from harness import E2ECase, Proc, ZBUILD
from test_runner import RunnerMixin


class WorkspaceDaemons(RunnerMixin, E2ECase):
    def start_ws(self, proj, env, name):
        d = Proc([ZBUILD, "daemon", "--workspace", proj, "--local-workers", "1"], name, env=env)
        self.addCleanup(d.stop)
        d.wait_for("worker local-1 joined from")
        with open(os.path.join(proj, ".zbuild-daemon")) as f:
            return d, f.read().strip()

    def test_two_workspaces_run_at_once_and_a_second_start_is_refused(self):
        env = self.runner_env()   # XDG_CACHE_HOME in the test's folder: default stores land there
        a = self.copy_example("make-small")
        b = os.path.join(self.tmp, "make-small-2")
        subprocess.run(["cp", "-r", a, b], check=True)
        da, addr_a = self.start_ws(a, env, "daemon A")
        db, addr_b = self.start_ws(b, env, "daemon B")
        self.assertNotEqual(addr_a, addr_b)
        stores = sorted(os.listdir(os.path.join(env["XDG_CACHE_HOME"], "zbuild", "workspaces")))
        self.assertEqual(len(stores), 2, stores)   # one store each, no RocksDB lock to trip over
        for proj, d in ((a, da), (b, db)):
            self.run_ok(["make", "-j2", *self.make_cc()], env, cwd=proj)
            lines = self.cc_lines()
            self.assertTrue(any(" done " in l for l in lines), "\n".join(lines))
            os.remove(self.cc_log)
            d.wait_for("build ", timeout=30)
        # A second daemon in workspace A is refused and says where the first one is.
        r = subprocess.run([ZBUILD, "daemon", "--workspace", a], env=env, capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("already serves workspace " + a + " at " + addr_a, r.stderr)
        # The first daemon is untouched: its workspace file still names it.
        with open(os.path.join(a, ".zbuild-daemon")) as f:
            self.assertEqual(f.read().strip(), addr_a)
        self.assertIsNone(da.p.poll())

    def test_worker_leaves_no_work_folder_behind(self):
        from harness import WORKER
        c = self.cluster
        c.start_daemon()
        w = Proc([WORKER, "--daemon", c.addr, "--slots", "1", "--id", "tidy"], "worker tidy")
        c.daemon.wait_for("worker tidy joined")
        w.wait_for("work dir ")
        work = [l for l in w.lines if "work dir " in l][0].split("work dir ", 1)[1].strip()
        self.assertTrue(os.path.isdir(work))
        self.assertEqual(w.stop(), 0)
        self.assertFalse(os.path.exists(work), work)


if __name__ == "__main__":
    unittest.main()
