"""Toolchains shipped by content (issue 10, docs/toolchains.md): a worker whose host has no
usable compiler (its /usr/lib/gcc and /usr/lib/llvm-* hidden in a mount namespace of its own, so cc1, cc1plus,
collect2 and the startup files are gone) fetches the client's toolchain tree from the store once
and builds with it: objects and programs byte-identical to the client's own compile, the
program runs, later tasks fetch nothing more, a rebuild is all hits, and zbuild-cc's compiles
take the same path. A worker that cannot run a shipped toolchain (--sandbox none) says why."""

import os
import re
import subprocess
import unittest

from harness import BUILD_DIR, CurveKeys, E2ECase, workers_used, write_graph
from testbed import TestBed

ZBUILD_CC = os.path.abspath(os.environ.get("ZBUILD_CC_BIN", os.path.join(BUILD_DIR, "src", "cli", "zbuild-cc")))

# A host without a working compiler: /usr/lib/gcc and LLVM's folders are empty in the worker's
# mount namespace (gcc's cc1/cc1plus/collect2, clang's libraries and GCC installation gone).
NO_GCC = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
          "mount -t tmpfs none /usr/lib/gcc && for d in /usr/lib/llvm-*; do mount -t tmpfs none $d; done && "
          "exec \"$@\"", "no-gcc"]

SOURCES = {
    "src/shape.h": '#pragma once\n#include <string>\nstd::string describe(int sides);\n',
    "src/shape.cc": ('#include "shape.h"\n#include <sstream>\n#include <vector>\n'
                     'std::string describe(int sides) {\n  std::ostringstream o;\n'
                     '  std::vector<int> v(sides, 1);\n  o << "a shape with " << v.size() << " sides";\n'
                     '  return o.str();\n}\n'),
    "src/main.cc": ('#include <iostream>\n#include "shape.h"\nextern "C" int twice(int);\n'
                    'int main() { std::cout << describe(twice(3)) << " in " << __FILE__ << "\\n"; }\n'),
    "src/twice.c": '#include <stdlib.h>\nint twice(int x) { return abs(x) * 2; }\n',
}

TASKS = [
    {"id": "shape.o", "argv": ["g++", "-g", "-O1", "-c", "src/shape.cc", "-o", "out/shape.o"],
     "inputs": ["src/shape.cc", "src/shape.h"], "outputs": ["out/shape.o"]},
    {"id": "main.o", "argv": ["g++", "-g", "-O1", "-c", "src/main.cc", "-o", "out/main.o"],
     "inputs": ["src/main.cc", "src/shape.h"], "outputs": ["out/main.o"]},
    {"id": "twice.o", "argv": ["gcc", "-g", "-O2", "-c", "src/twice.c", "-o", "out/twice.o"],
     "inputs": ["src/twice.c"], "outputs": ["out/twice.o"]},
    {"id": "app", "argv": ["g++", "out/main.o", "out/shape.o", "out/twice.o", "-o", "out/app"],
     "inputs": ["out/main.o", "out/shape.o", "out/twice.o"], "outputs": ["out/app"],
     "deps": ["main.o", "shape.o", "twice.o"]},
    # `cc` is a link through /etc/alternatives: the tree holds the links as the host has them.
    {"id": "twice-cc.o", "argv": ["cc", "-O2", "-c", "src/twice.c", "-o", "out/twice-cc.o"],
     "inputs": ["src/twice.c"], "outputs": ["out/twice-cc.o"]},
    # clang finds its GCC installation (crtbegin, libstdc++) in the shipped tree too.
    {"id": "shape-clang.o", "argv": ["clang++", "-g", "-O1", "-c", "src/shape.cc", "-o", "out/shape-clang.o"],
     "inputs": ["src/shape.cc", "src/shape.h"], "outputs": ["out/shape-clang.o"]},
    {"id": "app-clang", "argv": ["clang++", "out/main.o", "out/shape-clang.o", "out/twice.o", "-o", "out/app-clang"],
     "inputs": ["out/main.o", "out/shape-clang.o", "out/twice.o"], "outputs": ["out/app-clang"],
     "deps": ["main.o", "shape-clang.o", "twice.o"]},
]


def read_outputs(proj):
    out = {}
    for t in TASKS:
        for o in t["outputs"]:
            with open(os.path.join(proj, o), "rb") as f:
                out[o] = f.read()
    return out


class Project:
    """The small project above, and the client's own build of its commands."""
    def project(self, name="proj"):
        proj = os.path.join(self.tmp, name)
        for rel, text in SOURCES.items():
            os.makedirs(os.path.dirname(os.path.join(proj, rel)), exist_ok=True)
            with open(os.path.join(proj, rel), "w") as f:
                f.write(text)
        os.makedirs(os.path.join(proj, "out"))
        graph = os.path.join(proj, "graph.json")
        write_graph(graph, TASKS)
        return proj, graph

    def local_build(self, proj):
        """The same commands zbuild runs (compiles get the root's prefix map, docs/graph-format.md),
        run here, in place, with this host's toolchain."""
        for t in TASKS:
            argv = t["argv"]
            if "-c" in argv:
                argv = [argv[0], f"-ffile-prefix-map={proj}=.", *argv[1:]]
            subprocess.run(argv, cwd=proj, check=True)
        ref = read_outputs(proj)
        for o in ref:
            os.remove(os.path.join(proj, o))
        return ref


class ShippedToolchain(Project, E2ECase):
    def test_a_worker_without_gcc_builds_with_the_clients_toolchain(self):
        c = self.cluster
        env = dict(os.environ, XDG_CACHE_HOME=os.path.join(self.tmp, "cache"))   # the client's toolchain cache
        c.start_daemon()
        w = c.start_worker(slots=2, wrap=NO_GCC, name="nogcc")
        # The worker's host really has no gcc: its own g++ cannot compile.
        r = subprocess.run(NO_GCC + ["sh", "-c", "echo 'int main(){}' | g++ -x c++ - -o /dev/null"],
                           capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0, "the worker's namespace still has a working g++")

        proj, graph = self.project()
        ref = self.local_build(proj)
        r, m = c.submit(graph, env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + w.output())
        self.assertEqual(m["executed_tasks"], len(TASKS), r.stdout)
        got = read_outputs(proj)
        for o in ref:
            self.assertEqual(got[o], ref[o], f"{o} differs from the client's own build")
        for app in ("out/app", "out/app-clang"):
            run = subprocess.run([os.path.join(proj, app)], capture_output=True, text=True)
            self.assertEqual(run.stdout, "a shape with 6 sides in src/main.cc\n")

        # The toolchain crossed once, whole: the compiler programs are large.
        w.wait_for("bytes fetched")
        fetched = [int(x) for x in re.findall(r"ready: ([0-9]+) bytes fetched", w.output())]
        self.assertGreater(sum(fetched), 50 << 20, w.output())
        n_fetch_lines = len(fetched)

        # Everything again: all hits.
        for o in ref:
            os.remove(os.path.join(proj, o))
        r, m = c.submit(graph, env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(m["cached_tasks"], len(TASKS), r.stdout)
        self.assertEqual(read_outputs(proj), ref)

        # A changed source runs again on the worker, which fetches nothing of the toolchain.
        with open(os.path.join(proj, "src/twice.c"), "a") as f:
            f.write("int thrice(int x) { return x * 3; }\n")
        r, m = c.submit(graph, env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertGreaterEqual(m["executed_tasks"], 1, r.stdout)
        later = [int(x) for x in re.findall(r"ready: ([0-9]+) bytes fetched", w.output())][n_fetch_lines:]
        self.assertTrue(all(b < (1 << 20) for b in later), w.output())

        # zbuild-cc takes the same path: its object equals this host's compile.
        cc_env = dict(env, ZBUILD_DAEMON=c.addr, ZBUILD_FALLBACK="0", ZBUILD_ROOT=proj)
        src = os.path.join(proj, "src")
        r = subprocess.run([ZBUILD_CC, "g++", "-g", "-O2", "-c", "shape.cc", "-o", "cc-shape.o"], cwd=src, env=cc_env,
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr + w.output())
        subprocess.run(["g++", f"-ffile-prefix-map={proj}=.", "-g", "-O2", "-c", "shape.cc", "-o", "local-shape.o"],
                       cwd=src, check=True)
        with open(os.path.join(src, "cc-shape.o"), "rb") as a, open(os.path.join(src, "local-shape.o"), "rb") as b:
            self.assertEqual(a.read(), b.read())
        self.assertIn("(src/cc-shape.o) finished: 1 tasks, ok", c.daemon.output())   # it ran remotely

    def test_a_worker_without_a_sandbox_cannot_run_a_shipped_toolchain_and_says_why(self):
        c = self.cluster
        env = dict(os.environ, XDG_CACHE_HOME=os.path.join(self.tmp, "cache"))
        c.start_daemon()
        w = c.start_worker(slots=1, wrap=NO_GCC, name="bare", extra=("--sandbox", "none"))
        proj, graph = self.project()
        r, m = c.submit(graph, env=env)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("running the client's needs the sandbox", r.stdout + r.stderr + w.output())
        self.assertFalse(os.path.exists(os.path.join(proj, "out/app")))


class AcrossHosts(Project, E2ECase):
    """On the test bed (tests/e2e/testbed.py): a CurveZMQ daemon on the client's host, listening
    on the bridge; one worker on a host with no compiler at all, one on a host whose gcc/g++ are
    GCC 11 (the client's are GCC 12). Every object and program equals the client's own build, the
    second build is all hits, and zbuild-cc's compile through them equals the local one."""

    def test_hosts_without_the_clients_compiler_build_byte_identical_objects(self):
        bed = TestBed("toolchain")
        self.addCleanup(bed.close)
        bare = bed.add_host("bare", usr="nocompiler")
        old = bed.add_host("old", usr="gcc11")
        self.assertNotEqual(bare.run(["sh", "-c", "command -v g++ || command -v clang"]).returncode, 0)
        self.assertIn("11", old.run(["g++", "-dumpversion"]).stdout)
        keys = CurveKeys(self.tmp, workers=("bare", "old"))
        c = self.cluster
        c.start_daemon(keys.daemon_args(), listen=f"{bed.gateway}:0")
        workers = {h.name: c.start_worker(slots=1, name=h.name, host=h, allow=(), extra=keys.worker_args(h.name))
                   for h in (bare, old)}
        env = dict(os.environ, XDG_CACHE_HOME=os.path.join(self.tmp, "cache"))
        proj, graph = self.project()
        ref = self.local_build(proj)
        r, m = c.submit(graph, *keys.client_args(), env=env)
        logs = "".join(w.output() for w in workers.values())
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + logs)
        self.assertEqual(m["executed_tasks"], len(TASKS), r.stdout)
        self.assertEqual(read_outputs(proj), ref)
        used = workers_used(r.stdout)
        self.assertEqual(set(used), {"bare", "old"}, r.stdout)   # both hosts built with the client's toolchain
        for name, w in workers.items():
            self.assertIn("this host's toolchain differs from the client's", w.output(), name)
        for o in ref:
            os.remove(os.path.join(proj, o))
        r, m = c.submit(graph, *keys.client_args(), env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(m["cached_tasks"], len(TASKS), r.stdout)
        self.assertEqual(read_outputs(proj), ref)

        # zbuild-cc on the daemon's host (its private socket: zbuild-cc speaks no CURVE).
        src = os.path.join(proj, "src")
        cc_env = dict(env, ZBUILD_DAEMON=c.addr, ZBUILD_FALLBACK="0", ZBUILD_ROOT=proj)
        r = subprocess.run([ZBUILD_CC, "g++", "-g", "-O2", "-c", "main.cc", "-o", "cc-main.o"], cwd=src, env=cc_env,
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        subprocess.run(["g++", f"-ffile-prefix-map={proj}=.", "-g", "-O2", "-c", "main.cc", "-o", "local-main.o"],
                       cwd=src, check=True)
        with open(os.path.join(src, "cc-main.o"), "rb") as a, open(os.path.join(src, "local-main.o"), "rb") as b:
            self.assertEqual(a.read(), b.read())
        self.assertIn("(src/cc-main.o) finished: 1 tasks, ok", c.daemon.output())


if __name__ == "__main__":
    unittest.main()
