"""The submitting machine as a slot of its own build (issue 10): with workers started with no
options (the C/C++ toolchain only), a task that runs `sh` runs on a private local worker that
`zbuild submit` starts for it, in the same sandbox; compiles still go to the workers; with
--local-slots 0 the task fails, saying no connected worker may run it."""

import json
import os
import subprocess
import unittest

from harness import E2ECase


class LocalSlot(E2ECase):
    def project(self):
        proj = os.path.join(self.tmp, "proj")
        os.makedirs(proj)
        with open(os.path.join(proj, "hello.c"), "w") as f:
            f.write('#include <stdio.h>\nint main(void) { puts("hello from the test"); return 0; }\n')
        graph = os.path.join(proj, "graph.json")
        tasks = [
            {"id": "hello.o", "argv": ["gcc", "-c", "hello.c", "-o", "hello.o"], "inputs": ["hello.c"],
             "outputs": ["hello.o"]},
            {"id": "hello", "argv": ["gcc", "hello.o", "-o", "hello"], "inputs": ["hello.o"], "outputs": ["hello"],
             "deps": ["hello.o"]},
            {"id": "test", "argv": ["sh", "-c", "./hello > test.out"], "inputs": ["hello"], "outputs": ["test.out"],
             "deps": ["hello"]},
        ]
        with open(graph, "w") as f:
            json.dump({"version": 1, "tasks": tasks}, f)
        return proj, graph

    def test_a_task_no_worker_may_run_runs_on_the_submitting_machine(self):
        c = self.cluster
        c.start_daemon()
        c.start_worker(name="plain", allow=())   # no options: the C/C++ toolchain only
        proj, graph = self.project()

        r, m = c.submit(graph, "--local-slots", "0")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("not allow-listed on any connected worker", r.stderr)

        r, m = c.submit(graph)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + c.daemon.output())
        with open(os.path.join(proj, "test.out")) as f:
            self.assertEqual(f.read(), "hello from the test\n")
        ran_on = {l.split()[2]: l.split()[4] for l in r.stdout.splitlines()
                  if len(l.split()) >= 5 and l.split()[1] == "done"}
        self.assertTrue(ran_on["test"].startswith("local-"), r.stdout)   # the sh task ran here
        self.assertEqual(ran_on.get("hello", "plain"), "plain", r.stdout)   # compiles did not
        c.daemon.wait_for("a client's local slot")
        # The local slot went with its client.
        c.daemon.wait_for(f"worker {ran_on['test']} left")
        self.assertEqual([w["id"] for w in c.status()["workers"]], ["plain"])


    def test_the_showcase_builds_and_tests_itself_with_workers_started_with_no_options(self):
        c = self.cluster
        c.start_daemon()
        c.start_worker(slots=2, name="plain", allow=())
        proj = self.copy_example("shapes")
        r, m = c.submit(os.path.join(proj, "graph.json"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + c.daemon.output())
        self.assertEqual(m["executed_tasks"], m["total_tasks"], r.stdout)
        self.assertEqual(m["failed_tasks"], 0)
        ran_on = {l.split()[2]: l.split()[4] for l in r.stdout.splitlines()
                  if len(l.split()) >= 5 and l.split()[1] == "done"}
        sh_tasks = [t for t, w in ran_on.items() if w.startswith("local-")]
        self.assertEqual(len(sh_tasks), 1, r.stdout)   # the test run, through sh, here; the rest on the worker
        self.assertEqual(sum(1 for w in ran_on.values() if w == "plain"), m["total_tasks"] - 1, r.stdout)


if __name__ == "__main__":
    unittest.main()
