"""The older graph format as its users wrote it: compiles to objects without -c, then a link."""

import json
import os
import shutil
import subprocess
import unittest

from harness import E2ECase, executed_tasks


class LegacyObjectsWithoutC(E2ECase):
    def test_objects_compile_without_c_then_link_and_run(self):
        proj = self.copy_example("legacy-objects")
        shutil.rmtree(os.path.join(proj, "bin"), ignore_errors=True)   # a local build must not answer for us
        graph = os.path.join(proj, "graph.json")
        with open(graph) as f:   # submitted unchanged: no task says -c
            for t in json.load(f)["tasks"]:
                self.assertNotIn("-c", t["compile_flags"])
        c = self.cluster
        c.start_daemon()
        c.start_worker(slots=2)

        r, m = c.submit(graph)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(m["total_tasks"], 3)
        self.assertEqual(m["executed_tasks"], 3)
        self.assertEqual(m["failed_tasks"], 0)
        self.assertEqual(executed_tasks(r.stdout), {"greet", "main", "hello"}, r.stdout)
        for obj in ("greet.o", "main.o"):   # real relocatable objects, not programs named .o
            with open(os.path.join(proj, "bin", obj), "rb") as f:
                head = f.read(18)
            self.assertEqual(head[:4], b"\x7fELF", obj)
            self.assertEqual(int.from_bytes(head[16:18], "little"), 1, f"{obj} is not ET_REL")
        run = subprocess.run([os.path.join(proj, "bin", "hello")], capture_output=True, text=True)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stdout, "hello, daemon\nhello, worker\nhello, client\n3 names, 18 letters\n")

        # Resubmitted unchanged after removing the outputs: the same actions, all cache hits.
        shutil.rmtree(os.path.join(proj, "bin"))
        r, m = c.submit(graph)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(m["cached_tasks"], 3)
        self.assertEqual(m["executed_tasks"], 0)
        run = subprocess.run([os.path.join(proj, "bin", "hello")], capture_output=True, text=True)
        self.assertEqual(run.returncode, 0, run.stderr)


if __name__ == "__main__":
    unittest.main()
