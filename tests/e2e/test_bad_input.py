"""Bad graphs and failing compiles: a clear message naming the place, the right exit code,
nothing written, and the daemon keeps serving."""

import json
import os
import subprocess
import unittest

from harness import E2ECase, ZBUILD


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


class InvalidGraphs(E2ECase):
    def submit_no_daemon(self, graph):
        # Validation happens before any connection: no daemon is needed to reject a graph.
        return subprocess.run([ZBUILD, "submit", "--daemon", "127.0.0.1:9", graph], capture_output=True, text=True,
                              timeout=60)

    def check_rejected(self, text, *needles):
        g = os.path.join(self.tmp, "proj", "graph.json")
        write(os.path.join(self.tmp, "proj", "a.cc"), "int a() { return 1; }\n")
        write(g, text)
        r = self.submit_no_daemon(g)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        for n in ("graph.json",) + needles:
            self.assertIn(n, r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "proj", "out")))
        return r

    def task(self, tid, inputs=("a.cc",), outputs=None, deps=()):
        outputs = outputs if outputs is not None else [f"out/{tid}.o"]
        return {"id": tid, "argv": ["g++", "-c", inputs[0] if inputs else "a.cc", "-o", outputs[0]],
                "inputs": list(inputs), "outputs": outputs, "deps": list(deps)}

    def test_malformed_json_names_line_and_column(self):
        self.check_rejected('{"version": 1,\n "tasks": [\n  {"id": "x",, }\n]}\n', ":3:")

    def test_cycle_is_printed(self):
        g = {"version": 1, "tasks": [self.task("a", deps=["b"]), self.task("b", outputs=["out/b.o"], deps=["a"])]}
        r = self.check_rejected(json.dumps(g), "cycle")
        self.assertTrue("a -> b -> a" in r.stderr or "b -> a -> b" in r.stderr, r.stderr)

    def test_unknown_dep_duplicate_id_two_writers(self):
        self.check_rejected(json.dumps({"version": 1, "tasks": [self.task("a", deps=["nope"])]}), "'a'", "nope")
        self.check_rejected(json.dumps({"version": 1, "tasks": [self.task("a"), self.task("a", outputs=["out/x.o"])]}),
                            "duplicate", "'a'")
        self.check_rejected(json.dumps({"version": 1, "tasks": [self.task("a", outputs=["out/x.o"]),
                                                                self.task("b", outputs=["out/x.o"])]}),
                            "out/x.o")

    def test_missing_input_and_escaping_paths(self):
        self.check_rejected(json.dumps({"version": 1, "tasks": [self.task("a", inputs=["missing.cc"])]}),
                            "missing.cc", "'a'")
        self.check_rejected(json.dumps({"version": 1, "tasks": [self.task("a", outputs=["../evil.o"])]}),
                            "../evil.o")
        self.check_rejected(json.dumps({"version": 1, "tasks": [self.task("a", inputs=["/etc/passwd"])]}),
                            "/etc/passwd")

    def test_bad_usage_exits_2(self):
        r = subprocess.run([ZBUILD, "submit"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        r = subprocess.run([ZBUILD, "frobnicate"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        for cmd in (["daemon"], ["submit"], ["status"]):
            r = subprocess.run([ZBUILD, *cmd, "--help"], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0)
            self.assertIn("usage:", r.stdout)

    def test_no_daemon_is_reported(self):
        g = os.path.join(self.tmp, "proj", "graph.json")
        write(os.path.join(self.tmp, "proj", "a.cc"), "int a() { return 1; }\n")
        write(g, json.dumps({"version": 1, "tasks": [self.task("a")]}))
        nobody = self.unanswered_address()
        r = subprocess.run([ZBUILD, "submit", "--daemon", nobody, g], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no zbuild daemon answers at " + nobody, r.stderr)


class CompileErrors(E2ECase):
    def test_compile_error_reported_once_not_retried_dependents_skipped(self):
        proj = os.path.join(self.tmp, "proj")
        write(os.path.join(proj, "good.cc"), "int good() { return 1; }\n")
        write(os.path.join(proj, "bad.cc"), "int bad() { return undeclared_name; }\n")
        write(os.path.join(proj, "main.cc"), "int good(); int bad(); int main() { return good() + bad(); }\n")
        tasks = [
            {"id": "good", "argv": ["g++", "-c", "good.cc", "-o", "out/good.o"], "inputs": ["good.cc"],
             "outputs": ["out/good.o"]},
            {"id": "bad", "argv": ["g++", "-c", "bad.cc", "-o", "out/bad.o"], "inputs": ["bad.cc"],
             "outputs": ["out/bad.o"]},
            {"id": "main", "argv": ["g++", "-c", "main.cc", "-o", "out/main.o"], "inputs": ["main.cc"],
             "outputs": ["out/main.o"]},
            {"id": "link", "argv": ["g++", "out/good.o", "out/bad.o", "out/main.o", "-o", "out/app"],
             "inputs": ["out/good.o", "out/bad.o", "out/main.o"], "outputs": ["out/app"]},
        ]
        write(os.path.join(proj, "graph.json"), json.dumps({"version": 1, "tasks": tasks}))
        os.makedirs(os.path.join(proj, "out"), exist_ok=True)
        local = subprocess.run(["g++", "-c", "bad.cc", "-o", "out/bad.o"], cwd=proj, capture_output=True, text=True)
        self.assertNotEqual(local.returncode, 0)

        c = self.cluster
        c.start_daemon()
        c.start_worker(slots=2, name="w1")
        c.start_worker(slots=1, name="w2")
        r, m = c.submit(os.path.join(proj, "graph.json"), "--keep-going")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        # The compiler's own diagnostics, exactly as a local run printed them, once.
        self.assertIn(local.stderr, r.stderr)
        self.assertEqual(r.stderr.count("was not declared in this scope"), 1, r.stderr)
        self.assertEqual(m["failed_tasks"], 1)
        self.assertEqual(m["retried_tasks"], 0)
        self.assertEqual(m["skipped_tasks"], 1)
        self.assertEqual(m["executed_tasks"], 2)   # good and main still built with --keep-going
        self.assertIn("failed: bad", r.stdout)
        self.assertIn("skipped (1): link", r.stdout)
        st = c.status()
        self.assertEqual(st["counters"]["retries"], 0)
        self.assertEqual(st["counters"]["dispatched"], 3)
        self.assertFalse(os.path.exists(os.path.join(proj, "out", "app")))

        # Failures are not cached as successes: the same build fails again, running bad.cc again.
        r2, m2 = c.submit(os.path.join(proj, "graph.json"), "--keep-going")
        self.assertEqual(r2.returncode, 1)
        self.assertEqual(m2["failed_tasks"], 1)
        self.assertEqual(m2["cached_tasks"], 2)

        # The daemon keeps serving: fix the source and the build succeeds.
        write(os.path.join(proj, "bad.cc"), "int bad() { return 2; }\n")
        r3, m3 = c.submit(os.path.join(proj, "graph.json"))
        self.assertEqual(r3.returncode, 0, r3.stdout + r3.stderr)
        app = subprocess.run([os.path.join(proj, "out", "app")])
        self.assertEqual(app.returncode, 3)




class HostileMessages(E2ECase):
    def test_garbage_on_every_endpoint_then_a_normal_build(self):
        probe = os.environ.get("ZBUILD_PROBE_BIN",
                               os.path.join(os.path.dirname(ZBUILD), "..", "..", "tests", "zbuild-probe"))
        c = self.cluster
        c.start_daemon()
        c.start_worker(slots=2, name="honest")
        r = subprocess.run([probe, c.addr], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # Each endpoint logged what it dropped, naming the socket or peer.
        log = c.daemon.output()
        self.assertIn("worker peer", log)
        self.assertIn("sink: ", log)
        self.assertIn("client peer", log)
        self.assertIn("failed FlatBuffers verification", log)
        self.assertIsNone(c.daemon.p.poll(), "the daemon died")
        # The same daemon and worker still build correctly.
        proj = self.copy_example("legacy")
        r, m = c.submit(os.path.join(proj, "graph.json"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(m["executed_tasks"], m["total_tasks"])
        self.assertIsNone(c.workers["honest"].p.poll(), "the worker died")


if __name__ == "__main__":
    unittest.main()
