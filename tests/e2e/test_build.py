"""The backbone end to end: the shapes example through a real daemon and workers."""

import json
import os
import shutil
import subprocess
import unittest

from harness import E2ECase, executed_tasks, tree_files, workers_used, write_files


class ShapesBuild(E2ECase):
    def test_build_identical_cached_and_incremental(self):
        proj = self.copy_example("shapes")
        graph = os.path.join(proj, "graph.json")
        ref = self.local_reference(proj)
        c = self.cluster
        c.start_daemon()
        c.start_worker(name="wa")
        c.start_worker(name="wb")

        # 1. Cold build on two workers: byte-identical to the local build, program runs.
        r, m = c.submit(graph)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(m["total_tasks"], 29)
        self.assertEqual(m["executed_tasks"], 29)
        self.assertEqual(m["cached_tasks"], 0)
        self.assertEqual(m["failed_tasks"], 0)
        used = workers_used(r.stdout)
        self.assertEqual(set(used), {"wa", "wb"}, r.stdout)
        got = tree_files(os.path.join(proj, "out"))
        self.assertEqual(sorted(got), sorted(ref))
        for path, data in ref.items():
            self.assertTrue(got[path] == data, f"{path} differs from the local build")
        run = subprocess.run([os.path.join(proj, "out", "bin", "shapes")], capture_output=True, text=True)
        self.assertEqual(run.returncode, 0)
        self.assertIn("shapes", run.stdout)
        with open(os.path.join(proj, "out", "test-results.txt")) as f:
            self.assertIn("checks passed", f.read())

        # 2. Resubmit after removing the outputs: every task a cache hit, nothing dispatched.
        dispatched = c.status()["counters"]["dispatched"]
        shutil.rmtree(os.path.join(proj, "out"))
        r, m = c.submit(graph)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(m["cached_tasks"], 29)
        self.assertEqual(m["executed_tasks"], 0)
        self.assertEqual(m["header_scans"], 0, "unchanged translation units must not be rescanned")
        self.assertEqual(c.status()["counters"]["dispatched"], dispatched)
        self.assertEqual(tree_files(os.path.join(proj, "out")), got)
        # A hit names no worker as if it ran now: "[n/N] cached ID" or "... (built by W)".
        self.assertEqual(workers_used(r.stdout), {}, r.stdout)
        self.assertEqual(executed_tasks(r.stdout), set(), r.stdout)
        hits = [l for l in r.stdout.splitlines() if l.startswith("[") and l.split()[1] == "cached"]
        self.assertEqual(len(hits), 29, r.stdout)
        for line in hits:
            self.assertNotIn(" on ", line)
            words = line.split()
            self.assertTrue(len(words) == 3 or words[3:] in (["(built", "by", "wa)"], ["(built", "by", "wb)"]), line)

        # 3. A timestamp-only touch changes no content: nothing runs.
        os.utime(os.path.join(proj, "include", "shapes", "version.h"))
        r, m = c.submit(graph)
        self.assertEqual(m["executed_tasks"], 0, r.stdout)

        # 4. Editing one header rebuilds exactly the translation units that include it.
        with open(os.path.join(proj, "include", "shapes", "version.h")) as f:
            version_h = f.read()
        with open(os.path.join(proj, "include", "shapes", "version.h"), "a") as f:
            f.write("\n// edited by the test\n")
        r, m = c.submit(graph)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        compiled = {t for t in executed_tasks(r.stdout) if t.startswith("obj/")}
        self.assertEqual(compiled, {"obj/version.o", "obj/main.o"}, r.stdout)
        self.assertEqual(m["header_scans"], 2, "the two translation units that include it are rescanned")
        self.assertEqual(m["builtin_scans"], 2, "by the in-process scanner, not the compiler")

        # 5. The edit undone (a branch switched back): every task a hit, and no translation unit
        # is rescanned — its manifest still holds the header set it had before the edit.
        with open(os.path.join(proj, "include", "shapes", "version.h"), "w") as f:
            f.write(version_h)
        r, m = c.submit(graph)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(m["executed_tasks"], 0, r.stdout)
        self.assertEqual(m["header_scans"], 0, r.stdout)
        self.assertEqual(tree_files(os.path.join(proj, "out")), got)

    def test_worker_joining_mid_build_gets_tasks(self):
        proj = self.copy_example("shapes")
        c = self.cluster
        c.start_daemon()
        c.start_worker(name="first")
        import subprocess as sp
        import threading
        from harness import ZBUILD
        argv = [ZBUILD, "submit", "--daemon", c.addr, os.path.join(proj, "graph.json")]
        sub = sp.Popen(argv, stdout=sp.PIPE, stderr=sp.STDOUT, text=True)
        lines = []
        first_done = threading.Event()

        def read():
            for line in sub.stdout:
                lines.append(line)
                if " done " in line:
                    first_done.set()
        t = threading.Thread(target=read)
        t.start()
        self.assertTrue(first_done.wait(120), "no task finished")
        c.start_worker(name="late")
        rc = sub.wait(600)
        t.join()
        out = "".join(lines)
        self.assertEqual(rc, 0, out)
        self.assertGreater(workers_used(out).get("late", 0), 0, out + c.workers["late"].output() + c.daemon.output())

    def test_worker_without_the_source_tree(self):
        """A worker in a mount namespace with a tmpfs over the project builds correctly."""
        proj = self.copy_example("shapes")
        ref = self.local_reference(proj)
        c = self.cluster
        c.start_daemon()
        # The worker's own work dir lives outside the hidden project.
        probe = os.path.join(self.tmp, "probe.txt")
        wrap = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                f'mount -t tmpfs zbuild-hide "{proj}" && ls -A "{proj}" > "{probe}" && exec "$0" "$@"']
        c.start_worker(slots=2, wrap=wrap, name="blind")
        with open(probe) as f:
            self.assertEqual(f.read().strip(), "", "the worker could still see the project")
        r, m = c.submit(os.path.join(proj, "graph.json"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(m["executed_tasks"], 29)
        got = tree_files(os.path.join(proj, "out"))
        self.assertEqual(sorted(got), sorted(ref))
        for path, data in ref.items():
            self.assertTrue(got[path] == data, f"{path} differs from the local build")


class OneSourceTwoObjects(E2ECase):
    def test_one_source_built_into_two_objects_is_compiled_once(self):
        """A source compiled into two objects with the same flags (a library built static and
        shared from one list, libwebp's decoder) runs once; each object lands where its task
        declares it, byte-identical to gcc's, and the tasks that link them read the right one."""
        proj = os.path.join(self.tmp, "twice")
        write_files(proj, {
            "src/a.h": "int twice(int x);\n",
            "src/a.c": '#include "a.h"\nint twice(int x) { return 2 * x; }\n',
            "src/main.c": '#include <stdio.h>\n#include "a.h"\nint main(void) { printf("%d\\n", twice(21)); return 0; }\n',
        })

        def compile_task(src, obj):
            return {"id": obj, "inputs": [src], "outputs": [obj],
                    "argv": ["gcc", "-O2", "-Isrc", "-MD", "-MT", obj, "-MF", obj + ".d", "-o", obj, "-c", src]}

        tasks = [compile_task("src/a.c", "out/x/a.o"), compile_task("src/a.c", "out/y/a.o"),
                 compile_task("src/main.c", "out/main.o")]
        for name, obj in (("prog-x", "out/x/a.o"), ("prog-y", "out/y/a.o")):
            tasks.append({"id": name, "inputs": ["out/main.o", obj], "outputs": ["out/" + name], "deps": [obj, "out/main.o"],
                          "argv": ["gcc", "-o", "out/" + name, "out/main.o", obj]})
        graph = os.path.join(proj, "graph.json")
        with open(graph, "w") as f:
            json.dump({"version": 1, "root": ".", "tasks": tasks}, f)
        for sub in ("x", "y"):
            os.makedirs(os.path.join(proj, "out", sub))
        for t in tasks:
            subprocess.run(t["argv"], cwd=proj, check=True)
        ref = {k: v for k, v in tree_files(os.path.join(proj, "out")).items() if not k.endswith(".d")}
        self.assertEqual(ref["x/a.o"], ref["y/a.o"])
        shutil.rmtree(os.path.join(proj, "out"))

        c = self.cluster
        c.start_daemon()
        c.start_worker(name="wa", slots=2)
        r, m = c.submit(graph)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(m["total_tasks"], 5)
        counters = c.status()["counters"]
        self.assertEqual(counters["dispatched"], 4, "out/y/a.o is out/x/a.o's action: " + r.stdout)
        got = tree_files(os.path.join(proj, "out"))
        self.assertEqual(sorted(got), sorted(ref), "each object where its task declares it, nothing else")
        for path, data in ref.items():
            self.assertTrue(got[path] == data, f"{path} differs from gcc's")
        for name in ("prog-x", "prog-y"):
            run = subprocess.run([os.path.join(proj, "out", name)], capture_output=True, text=True)
            self.assertEqual(run.stdout, "42\n")
        self.assertEqual([p for p in os.listdir(proj) if p.startswith("zbuild-object")], [])

        # Again with the objects removed: both come back from the cache, nothing runs.
        shutil.rmtree(os.path.join(proj, "out"))
        r, m = c.submit(graph)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(m["cached_tasks"], 5, r.stdout)
        self.assertEqual(c.status()["counters"]["dispatched"], 4)
        self.assertEqual(tree_files(os.path.join(proj, "out")), got)


class LegacyGraph(E2ECase):
    def test_older_format_builds_and_runs(self):
        proj = self.copy_example("legacy")
        c = self.cluster
        c.start_daemon()
        c.start_worker(slots=2)
        r, m = c.submit(os.path.join(proj, "graph.json"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(m["executed_tasks"], m["total_tasks"])
        run = subprocess.run([os.path.join(proj, "build", "app")], capture_output=True, text=True)
        self.assertEqual(run.returncode, 0, run.stderr)


if __name__ == "__main__":
    unittest.main()
