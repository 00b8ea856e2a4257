"""Any checkout (proto/root_free.h): the same project in two folders shares the cache. Built in
checkout A, then in checkout B, every compile of B is a cache hit and its objects (with -g, an
absolute -I and an absolute source path, as CMake writes them) are byte-identical to A's; depfiles
in B name B's files (or relative paths), never A's. Through `zbuild submit` (graph mode), through
zbuild-cc (make), and a real CMake project imported with `zbuild graph`. --keep-root-paths /
ZBUILD_KEEP_ROOT_PATHS=1 bring back objects that name their root, cached per root."""

import json
import os
import shutil
import subprocess
import unittest

from harness import E2ECase, ZBUILD, executed_tasks
from test_runner import ZBUILD_CC, RunnerMixin, objects

FILES = {
    "include/util.h": '#pragma once\n#ifdef __cplusplus\nextern "C" {\n#endif\nint twice(int x);\n'
                      'const char* where_util(void);\n#ifdef __cplusplus\n}\n#endif\n',
    "src/util.c": '#include "util.h"\nint twice(int x) { int unused; return 2 * x; }\n'
                  'const char* where_util(void) { return __FILE__; }\n',
    "src/main.c": '#include <stdio.h>\n#include "util.h"\nint extra(void);\n'
                  'int main(void) { printf("%d %s %s\\n", twice(extra()), __FILE__, where_util()); return 0; }\n',
    "src/extra.cc": '#include <string>\n#include "util.h"\n'
                    'extern "C" int extra() { return static_cast<int>(std::string(__FILE__).size() > 0) + twice(1); }\n',
}


def make_tree(root):
    for rel, text in FILES.items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)


def compile_argv(root, src, compiler):
    """What CMake's Ninja generator runs (in the build folder): absolute -I and source."""
    obj = f"obj/{os.path.basename(src)}.o"
    return [compiler, "-I" + os.path.join(root, "include"), "-g", "-O1", "-Wall", "-MD", "-MT", obj, "-MF", obj + ".d",
            "-o", obj, "-c", os.path.join(root, src)]


CLANG = shutil.which("clang-14") or shutil.which("clang") or "clang"   # tools/setup installs it


def make_graph(root, clang=False):
    tasks = []
    for src, cc in (("src/util.c", "gcc"), ("src/main.c", "gcc"), ("src/extra.cc", "g++")):
        obj = f"obj/{os.path.basename(src)}.o"
        tasks.append({"id": obj, "argv": compile_argv(root, src, cc), "cwd": "build", "inputs": [src],
                      "outputs": ["build/" + obj, "build/" + obj + ".d"], "deps": [], "env": {}, "timeout_s": 600})
    objs = [t["id"] for t in tasks]
    tasks.append({"id": "app", "argv": ["g++", *objs, "-o", "app"], "cwd": "build",
                  "inputs": ["build/" + o for o in objs], "outputs": ["build/app"], "deps": [], "env": {},
                  "timeout_s": 600})
    if clang:   # one more object of util.c, by clang (not linked)
        argv = compile_argv(root, "src/util.c", os.path.basename(CLANG))
        argv = [a.replace("util.c.o", "util-clang.o") for a in argv]
        tasks.append({"id": "obj/util-clang.o", "argv": argv, "cwd": "build", "inputs": ["src/util.c"],
                      "outputs": ["build/obj/util-clang.o", "build/obj/util-clang.o.d"], "deps": [], "env": {},
                      "timeout_s": 600})
    graph = os.path.join(root, "graph.json")
    with open(graph, "w") as f:
        json.dump({"version": 1, "root": root, "tasks": tasks}, f)
    os.makedirs(os.path.join(root, "build", "obj"), exist_ok=True)
    return graph


def read(path, mode="rb"):
    with open(path, mode) as f:
        return f.read()


class AnyCheckoutGraph(E2ECase):
    def setUp(self):
        super().setUp()
        # Two folders of different depth and name.
        self.a = os.path.join(self.tmp, "alice", "proj")
        self.b = os.path.join(self.tmp, "bob", "work", "checkout-2")
        for root in (self.a, self.b):
            make_tree(root)
        self.cluster.start_daemon()

    def test_second_checkout_all_hits_identical_objects(self):
        c = self.cluster
        c.start_worker(name="wa")
        ga, gb = make_graph(self.a), make_graph(self.b)
        r, m = c.submit(ga)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual((m["total_tasks"], m["executed_tasks"]), (4, 4))
        dispatched = c.status()["counters"]["dispatched"]

        r, m = c.submit(gb)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(m["cached_tasks"], 4, r.stdout)
        self.assertEqual(m["executed_tasks"], 0, r.stdout)
        self.assertEqual(executed_tasks(r.stdout), set(), r.stdout)
        self.assertEqual(c.status()["counters"]["dispatched"], dispatched)
        # The cached warning names B's source, not A's.
        self.assertIn(os.path.join(self.b, "src", "util.c") + ":2:", r.stderr)
        self.assertNotIn(self.a, r.stdout + r.stderr)

        oa, ob = objects(os.path.join(self.a, "build")), objects(os.path.join(self.b, "build"))
        self.assertEqual(sorted(oa), ["obj/extra.cc.o", "obj/main.c.o", "obj/util.c.o"])
        for rel in oa:
            self.assertTrue(oa[rel] == ob[rel], f"{rel} differs between the checkouts")
            self.assertNotIn(self.a.encode(), oa[rel], f"{rel} names its checkout")
            self.assertIn(b"./src/", oa[rel], f"{rel}: the root is not mapped to '.'")
        self.assertEqual(read(os.path.join(self.a, "build", "app")), read(os.path.join(self.b, "build", "app")))

        # Depfiles: relative to the build folder, the same in both checkouts, no checkout named.
        for root in (self.a, self.b):
            d = read(os.path.join(root, "build", "obj", "main.c.o.d"), "r")
            self.assertTrue(d.startswith("obj/main.c.o: ../src/main.c "), d)
            self.assertIn(" ../include/util.h", d)
            self.assertNotIn(self.a, d)
            self.assertNotIn(self.b, d)
            self.assertIn("/usr/include/stdio.h", d)   # files outside the root stay absolute
        # ... and they describe B's own files to make/ninja running in B's build folder.
        for dep in read(os.path.join(self.b, "build", "obj", "util.c.o.d"), "r").split()[1:]:
            if dep == "\\":
                continue
            self.assertTrue(os.path.exists(os.path.join(self.b, "build", dep)), dep)

        # The program of B says the paths its sources were compiled from: relative, mapped.
        run = subprocess.run([os.path.join(self.b, "build", "app")], capture_output=True, text=True)
        self.assertEqual(run.stdout, "6 ./src/main.c ./src/util.c\n")

        # The same command compiled here, by hand, with the map zbuild adds: the cached object.
        build = os.path.join(self.b, "build")
        argv = compile_argv(self.b, "src/util.c", "gcc")
        argv.insert(1, f"-ffile-prefix-map={self.b}=.")
        shutil.move(os.path.join(build, "obj/util.c.o"), os.path.join(self.tmp, "cached.o"))
        subprocess.run(argv, cwd=build, check=True, capture_output=True)
        self.assertTrue(read(os.path.join(build, "obj/util.c.o")) == read(os.path.join(self.tmp, "cached.o")),
                        "a local compile with the prefix map differs from the cached object")

    def test_unsandboxed_worker_and_clang(self):
        """A worker without bubblewrap runs the compile in a folder standing in for the root (argv
        mapped to it): the root's map must still win over the worker's own (clang keeps the
        first map given, gcc the last)."""
        c = self.cluster
        c.start_worker(name="bare", extra=["--sandbox", "none"])
        ga, gb = make_graph(self.a, clang=True), make_graph(self.b, clang=True)
        r, m = c.submit(ga)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(m["executed_tasks"], 5)
        r, m = c.submit(gb)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual((m["cached_tasks"], m["executed_tasks"]), (5, 0), r.stdout)
        self.assertNotIn(self.a, r.stdout + r.stderr)
        oa, ob = objects(os.path.join(self.a, "build")), objects(os.path.join(self.b, "build"))
        self.assertEqual(len(oa), 4)
        for rel in oa:
            self.assertTrue(oa[rel] == ob[rel], f"{rel} differs between the checkouts")
            self.assertNotIn(b"/work-bare", oa[rel], f"{rel} names the worker's sandbox")
            self.assertNotIn(self.a.encode(), oa[rel], f"{rel} names its checkout")
        d = read(os.path.join(self.b, "build", "obj", "util-clang.o.d"), "r")
        self.assertEqual([w for w in d.split() if w != "\\"][:3], ["obj/util-clang.o:", "../src/util.c",
                                                                  "../include/util.h"], d)
        self.assertNotIn("work-bare", d)
        # clang, by hand, with the map: the cached object.
        build = os.path.join(self.b, "build")
        argv = [a.replace("util.c.o", "util-clang.o") for a in compile_argv(self.b, "src/util.c", CLANG)]
        argv[1:1] = [f"-ffile-prefix-map={self.b}=.", "-o", "hand.o"]
        argv = argv[:argv.index("-o", 4)] + argv[argv.index("-o", 4) + 2:]
        subprocess.run(argv, cwd=build, check=True, capture_output=True)
        self.assertTrue(read(os.path.join(build, "hand.o")) == ob["obj/util-clang.o"])

    def test_keep_root_paths_keys_by_root(self):
        c = self.cluster
        c.start_worker(name="wa")
        ga, gb = make_graph(self.a), make_graph(self.b)
        r, m = c.submit(ga, "--keep-root-paths")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r, m = c.submit(gb, "--keep-root-paths")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # Compiles name their root: nothing shared; objects as a build in place writes them.
        self.assertEqual(m["executed_tasks"], 4, r.stdout)
        for root in (self.a, self.b):
            o = read(os.path.join(root, "build", "obj", "util.c.o"))
            self.assertIn(root.encode(), o)
        # A default build of A is not answered by A's keep-root-paths entries, and vice versa.
        shutil.rmtree(os.path.join(self.a, "build"))
        ga = make_graph(self.a)
        r, m = c.submit(ga)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(m["executed_tasks"], 4, r.stdout)   # the compiles, and the link of new objects
        self.assertNotIn(self.a.encode(), read(os.path.join(self.a, "build", "obj", "util.c.o")))


class AnyCheckoutRunner(RunnerMixin, E2ECase):
    def make_in(self, root, env):
        # An absolute -I, as CMake writes it; -MMD -MP depfiles.
        return self.run_ok(["make", "-j2", *self.make_cc(), f"CPPFLAGS=-I{root}/include -DSTATS_PRECISION=3"], env,
                           cwd=root)

    def test_runner_second_checkout_cached_identical(self):
        a = os.path.join(self.tmp, "alice", "make-small")
        b = os.path.join(self.tmp, "bob", "x", "copy")
        for dst in (a, b):
            shutil.copytree(os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "examples",
                                         "make-small"), dst, ignore=shutil.ignore_patterns("obj", "bin"))
        c = self.cluster
        c.start_daemon()
        c.start_worker(name="wa")
        self.make_in(a, self.runner_env(daemon=c.addr, root=a))
        first = self.cc_lines()
        self.assertEqual(len(first), 6, "\n".join(first))
        self.assertTrue(all(" done " in l for l in first), "\n".join(first))
        dispatched = c.status()["counters"]["dispatched"]

        self.make_in(b, self.runner_env(daemon=c.addr, root=b))
        second = self.cc_lines()[6:]
        self.assertEqual(len(second), 6, "\n".join(second))
        # Its own manifests (per checkout) are scanned; every compile is a cache hit.
        self.assertTrue(all(" cached " in l for l in second), "\n".join(second))
        self.assertEqual(c.status()["counters"]["dispatched"], dispatched)
        oa, ob = objects(a), objects(b)
        self.assertEqual(len(oa), 6)
        for rel in oa:
            self.assertTrue(oa[rel] == ob[rel], f"{rel} differs between the checkouts")
            self.assertNotIn(a.encode(), oa[rel])
        # The depfiles zbuild-cc writes come from each checkout's own scan: B's name B's headers.
        deps = objects(b, (".d",))
        self.assertEqual(len(deps), 6)
        for rel, data in deps.items():
            self.assertNotIn(a, data.decode(), rel)
        self.assertTrue(any(f"{b}/include/stats.h" in d.decode() for d in deps.values()), deps)

        # The local fallback (no daemon) compiles with the same map: the same object again.
        obj = os.path.join(b, "obj", "mean.o")
        os.remove(obj)
        env = self.runner_env(daemon=self.unanswered_address(), root=b)
        r = self.run_ok(["make", *self.make_cc(), f"CPPFLAGS=-I{b}/include -DSTATS_PRECISION=3", "obj/mean.o"], env,
                        cwd=b)
        self.assertIn("compiling locally", r.stderr)
        self.assertTrue(read(obj) == oa["obj/mean.o"], "the local fallback's object differs from the cached one")

        # ZBUILD_KEEP_ROOT_PATHS=1: the object names its checkout, as a plain compile in place.
        os.remove(obj)
        env = self.runner_env(daemon=c.addr, root=b, ZBUILD_KEEP_ROOT_PATHS="1")
        self.run_ok(["make", *self.make_cc(), f"CPPFLAGS=-I{b}/include -DSTATS_PRECISION=3", "obj/mean.o"], env,
                    cwd=b)
        self.assertIn(b.encode(), read(obj))
        self.assertIn(" done ", self.cc_lines()[-1])


class AnyCheckoutCMake(E2ECase):
    """A real CMake project (examples/cmake-small) configured in two checkouts, imported with
    `zbuild graph --ninja-dir` and built with `zbuild submit`."""

    def checkout(self, dst):
        shutil.copytree(os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "examples",
                                     "cmake-small"), dst, ignore=shutil.ignore_patterns("build"))
        build = os.path.join(dst, "build")
        env = dict(os.environ, LC_ALL="C")
        subprocess.run(["cmake", "-G", "Ninja", "-S", dst, "-B", build, "-DCMAKE_BUILD_TYPE=RelWithDebInfo"],
                       check=True, capture_output=True, env=env)
        graph = os.path.join(dst, "graph.json")
        r = subprocess.run([ZBUILD, "graph", "--ninja-dir", build, "--root", dst, "-o", graph, "--quiet"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        return graph

    def test_cmake_second_checkout(self):
        a, b = os.path.join(self.tmp, "a", "geo"), os.path.join(self.tmp, "bb", "geo-2")
        ga, gb = self.checkout(a), self.checkout(b)
        with open(ga) as f:
            tasks = json.load(f)["tasks"]
        compiles = {t["id"] for t in tasks if "-c" in t["argv"] and t["argv"][0] != "sh"}
        self.assertEqual(len(compiles), 8)
        c = self.cluster
        c.start_daemon()
        c.start_worker(name="wa", slots=2)
        r, m = c.submit(ga)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r, m = c.submit(gb)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        ran = executed_tasks(r.stdout)
        self.assertEqual(ran & compiles, set(), r.stdout)   # every compile a hit, and the links
        # CMake archives through `sh -c 'cmake -E rm -f lib.a && ar qc ... && ranlib ...'`: a
        # custom command keeps the root in its key (it may write its folder), so they run again.
        self.assertTrue(all(t.endswith(".a") for t in ran), ran)
        print(f"\ncmake-small, second checkout: {m['cached_tasks']} of {m['total_tasks']} tasks cached; "
              f"run again: {sorted(ran)}")
        oa, ob = objects(os.path.join(a, "build")), objects(os.path.join(b, "build"))
        self.assertEqual(len(oa), 8)
        for rel in oa:
            self.assertTrue(oa[rel] == ob[rel], f"{rel} differs between the checkouts")


if __name__ == "__main__":
    unittest.main()
