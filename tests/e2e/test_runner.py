"""Runner mode end to end: zbuild-cc under CMake + ninja and make, against a real daemon and
workers on loopback: byte-identical objects and depfiles, a second ninja with nothing to do, a
rebuild after clean that runs no compile on any worker, compile errors exactly as the plain
compiler prints them, local fallback with one warning when the daemon is gone, and the
workspace daemon with its own local workers that exits when idle."""

import os
import re
import shutil
import subprocess
import unittest

from harness import BUILD_DIR, E2ECase, Proc, ZBUILD, write_files

ZBUILD_CC = os.path.abspath(os.environ.get("ZBUILD_CC_BIN", os.path.join(BUILD_DIR, "src", "cli", "zbuild-cc")))


def have(tool):
    return shutil.which(tool) is not None


def objects(root, suffixes=(".o",)):
    """{relative path: bytes} of every object under root."""
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            if f.endswith(suffixes):
                p = os.path.join(d, f)
                with open(p, "rb") as fh:
                    out[os.path.relpath(p, root)] = fh.read()
    return out


def ninja_deps(build):
    """{target: [headers]} from ninja's deps log (mtimes left out)."""
    r = subprocess.run(["ninja", "-C", build, "-t", "deps"], capture_output=True, text=True, check=True)
    deps, cur = {}, None
    for line in r.stdout.splitlines():
        if line and not line.startswith(" "):
            cur = line.split(":")[0]
            deps[cur] = []
        elif line.strip() and cur:
            deps[cur].append(line.strip())
    return deps


def proc_parent(pid):
    """The parent pid and the name (comm) of process `pid`."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    return int(stat.rsplit(")", 1)[1].split()[1]), stat[stat.index("(") + 1:stat.rindex(")")]


def workers_of(addr):
    """(pid, parent pid) of every live zbuild-worker process started for `addr` (the program
    itself: not a zbuild-launch or shell whose command line names it)."""
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
                ppid, _ = proc_parent(pid)
            except (OSError, ValueError, IndexError):
                continue
            cmd = b" ".join(argv).decode(errors="replace")
            if os.path.basename(argv[0]) == b"zbuild-worker" and addr in cmd:
                out.append((int(pid), ppid))
    return out


class RunnerMixin:
    """Environment and helpers shared by the runner and launch tests (not a TestCase)."""

    def runner_env(self, daemon=None, root=None, **extra):
        env = dict(os.environ)
        for k in ("ZBUILD_DAEMON", "ZBUILD_ROOT", "ZBUILD_FALLBACK", "ZBUILD_KEEP_ROOT_PATHS", "ZBUILD_STAT_CACHE", "CCACHE_DISABLE", "CPATH",
                  "C_INCLUDE_PATH", "CPLUS_INCLUDE_PATH", "MAKEFLAGS", "MFLAGS"):
            env.pop(k, None)
        self.cc_log = os.path.join(self.tmp, "zbuild-cc.log")
        env.update(ZBUILD_LOG=self.cc_log, XDG_CACHE_HOME=os.path.join(self.tmp, "cache"),
                   XDG_CONFIG_HOME=os.path.join(self.tmp, "config"), XDG_RUNTIME_DIR=os.path.join(self.tmp, "run"),
                   CC="gcc", CXX="g++", LC_ALL="C")
        os.makedirs(env["XDG_RUNTIME_DIR"], exist_ok=True)
        if daemon:
            env["ZBUILD_DAEMON"] = daemon
        if root:
            env["ZBUILD_ROOT"] = root
        env.update(extra)
        return env

    def cc_lines(self):
        """zbuild-cc's own record (ZBUILD_LOG): one line per remote-capable invocation."""
        if not os.path.exists(self.cc_log):
            return []
        with open(self.cc_log) as f:
            return [l.rstrip("\n") for l in f]

    def run_ok(self, argv, env, cwd=None, timeout=900):
        r = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
        self.assertEqual(r.returncode, 0, f"{' '.join(argv)}:\n{r.stdout}\n{r.stderr}")
        return r

    def cmake_configure(self, src, build, env, launcher=True):
        argv = ["cmake", "-G", "Ninja", "-S", src, "-B", build, "-DCMAKE_BUILD_TYPE=RelWithDebInfo"]
        if launcher:
            argv += [f"-DCMAKE_C_COMPILER_LAUNCHER={ZBUILD_CC}", f"-DCMAKE_CXX_COMPILER_LAUNCHER={ZBUILD_CC}"]
        else:
            argv += ["-UCMAKE_C_COMPILER_LAUNCHER", "-UCMAKE_CXX_COMPILER_LAUNCHER"]
        self.run_ok(argv, env)

    def make_cc(self):
        return [f"CC={ZBUILD_CC} gcc", f"CXX={ZBUILD_CC} g++"]


class RunnerMode(RunnerMixin, E2ECase):
    def start_cluster(self):
        c = self.cluster
        c.start_daemon()
        c.start_worker(name="wa")
        c.start_worker(name="wb")
        return c

    def test_cmake_ninja_identical_noop_cached(self):
        proj = self.copy_example("cmake-small")
        build = os.path.join(proj, "build")
        c = self.start_cluster()
        # Byte-identical to a plain build in place is what ZBUILD_KEEP_ROOT_PATHS=1 promises;
        # the default (the root mapped to ".") is test_any_checkout.py's.
        env = self.runner_env(daemon=c.addr, root=proj, ZBUILD_KEEP_ROOT_PATHS="1")

        # Plain build first, in the same directory, as the reference.
        self.cmake_configure(proj, build, env, launcher=False)
        self.run_ok(["ninja", "-C", build], env)
        plain = objects(build)
        plain_deps = ninja_deps(build)
        self.assertEqual(len(plain), 8, sorted(plain))
        self.run_ok(["ninja", "-C", build, "-t", "clean"], env)

        # The same build through zbuild-cc: every compile on a worker.
        self.cmake_configure(proj, build, env, launcher=True)
        r = self.run_ok(["ninja", "-C", build], env)
        self.assertNotIn("zbuild-cc:", r.stdout)
        lines = self.cc_lines()
        self.assertEqual(len(lines), 8, "\n".join(lines))
        self.assertTrue(all(" done scanned " in l for l in lines), "\n".join(lines))
        # Found by the in-process scanner, not by running the preprocessor here.
        self.assertTrue(all(" scanned builtin " in l for l in lines), "\n".join(lines))
        got = objects(build)
        self.assertEqual(sorted(got), sorted(plain))
        for path in plain:
            self.assertTrue(got[path] == plain[path], f"{path} differs from the plain build")
        self.assertEqual(ninja_deps(build), plain_deps, "depfiles must name the same headers as gcc's")
        st = c.status()
        dispatched = st["counters"]["dispatched"]
        self.assertEqual(dispatched, 8)
        run = subprocess.run([os.path.join(build, "geo-app")], capture_output=True, text=True)
        self.assertIn(os.path.join(proj, "src", "format.cc"), run.stdout)

        # A second ninja has nothing to do.
        r = self.run_ok(["ninja", "-C", build, "-n", "-d", "explain"], env)
        self.assertIn("no work to do", r.stdout)
        self.assertNotIn("explain", r.stdout + r.stderr)

        # After a clean every compile is a cache hit: nothing runs on a worker, no header scan.
        self.run_ok(["ninja", "-C", build, "-t", "clean"], env)
        self.run_ok(["ninja", "-C", build], env)
        again = self.cc_lines()[8:]
        self.assertEqual(len(again), 8, "\n".join(again))
        self.assertTrue(all(" cached manifest-hit " in l for l in again), "\n".join(again))
        self.assertEqual(c.status()["counters"]["dispatched"], dispatched)
        self.assertEqual(objects(build), plain)
        r = self.run_ok(["ninja", "-C", build, "-n", "-d", "explain"], env)
        self.assertIn("no work to do", r.stdout)

        # Editing a header recompiles exactly what includes it (the depfiles are right).
        point_h = os.path.join(proj, "include", "geo", "point.h")
        with open(point_h) as f:
            original = f.read()
        with open(point_h, "a") as f:
            f.write("\n// edited by the test\n")
        self.run_ok(["ninja", "-C", build], env)
        rebuilt = sorted(l.split()[1] for l in self.cc_lines()[16:])
        self.assertEqual(rebuilt, sorted(f"CMakeFiles/{t}.o" for t in (
            "geo.dir/src/point.cc", "geo.dir/src/polygon.cc", "geo.dir/src/format.cc", "geo.dir/src/registry.cc",
            "geo-app.dir/app/main.cc")))
        # Rescanned without lexing the system headers again: the first build's zbuild-cc runs
        # left them in the scanner's per-user cache (docs/scanner.md), in a private folder.
        for l in self.cc_lines()[16:]:
            self.assertIn(" scanned builtin ", l)
            cached = [int(w.split("=")[1]) for w in l.split() if w.startswith("headers-cached=")]
            self.assertTrue(cached and cached[0] > 0, l)
            # ...and from the pack of the first build's compiles with the same folder and flags,
            # one file instead of one per header.
            packed = [int(w.split("=")[1]) for w in l.split() if w.startswith("headers-packed=")]
            self.assertTrue(packed and packed[0] > 0, l)
        files = os.path.join(self.tmp, "cache", "zbuild", "scan-1", "files-1")
        self.assertEqual(os.stat(files).st_mode & 0o777, 0o700)

        # The edit undone (a branch switched back): the same five compile again for ninja, and
        # each is a cache hit found through its manifest's earlier record — no rescan, no run.
        with open(point_h, "w") as f:
            f.write(original)
        self.run_ok(["ninja", "-C", build], env)
        back = self.cc_lines()[21:]
        self.assertEqual(len(back), 5, "\n".join(back))
        self.assertTrue(all(" cached manifest-hit " in l for l in back), "\n".join(back))
        self.assertEqual(objects(build), plain)

    def test_make_identical_and_up_to_date(self):
        proj = self.copy_example("make-small")
        c = self.start_cluster()
        env = self.runner_env(daemon=c.addr, root=proj, ZBUILD_KEEP_ROOT_PATHS="1")   # as a build in place
        self.run_ok(["make", "-j2"], env, cwd=proj)
        plain = objects(proj, (".o", ".d"))
        self.assertEqual(len(plain), 12, sorted(plain))
        self.run_ok(["make", "clean"], env, cwd=proj)

        r = self.run_ok(["make", "-j2", *self.make_cc()], env, cwd=proj)
        self.assertNotIn("zbuild-cc:", r.stdout + r.stderr)
        self.assertEqual(len([l for l in self.cc_lines() if " done scanned builtin " in l]), 6, "\n".join(self.cc_lines()))
        got = objects(proj, (".o", ".d"))
        self.assertEqual(sorted(got), sorted(plain))
        for path in plain:
            self.assertTrue(got[path] == plain[path], f"{path} differs from the plain build")
        self.assertEqual(c.status()["counters"]["dispatched"], 6)
        q = subprocess.run(["make", "-q", *self.make_cc()], env=env, cwd=proj)
        self.assertEqual(q.returncode, 0, "make must find everything up to date")
        run = subprocess.run([os.path.join(proj, "bin", "stats")], capture_output=True, text=True)
        self.assertIn("median=3.500", run.stdout)

    def test_compile_errors_and_warnings_as_the_plain_compiler(self):
        c = self.start_cluster()
        src = os.path.join(self.tmp, "err")
        write_files(src, {
            "bad.c": "int main(void) { return undeclared; }\n",
            "warn.c": "int f(int x) { int unused; return x; }\n",
            "hdr.c": '#include "broken.h"\nint g(void) { return h(); }\n',
            "inc/broken.h": "static int h(void) { return nope + 1; }\n",
            "bad.cc": "#include <vector>\nint f() { std::vector<int> v; return v.no_such_member(); }\n",
        })
        env = self.runner_env(daemon=c.addr, root=src)
        cases = [
            ["gcc", "-Wall", "-c", "bad.c", "-o", "bad.o"],
            ["gcc", "-Wall", "-c", os.path.join(src, "warn.c"), "-o", "warn.o"],
            ["gcc", "-Wall", f"-I{src}/inc", "-c", os.path.join(src, "hdr.c"), "-o", "hdr.o", "-MD"],
            ["gcc", "-Wall", "-fdiagnostics-color=always", "-c", os.path.join(src, "bad.c"), "-o", "badc.o"],
            ["g++", "-O2", "-c", os.path.join(src, "bad.cc"), "-o", "badcc.o"],
        ]
        for argv in cases:
            with self.subTest(argv=" ".join(argv)):
                plain = subprocess.run(argv, env=env, cwd=src, capture_output=True)
                plain_obj = {}
                for f in os.listdir(src):
                    if f.endswith((".o", ".d")):
                        with open(os.path.join(src, f), "rb") as fh:
                            plain_obj[f] = fh.read()
                        os.remove(os.path.join(src, f))
                remote = subprocess.run([ZBUILD_CC, *argv], env=env, cwd=src, capture_output=True)
                self.assertEqual(remote.returncode, plain.returncode)
                self.assertEqual(remote.stdout, plain.stdout)
                self.assertEqual(remote.stderr.decode(), plain.stderr.decode())
                for f, data in plain_obj.items():
                    with open(os.path.join(src, f), "rb") as fh:
                        self.assertTrue(fh.read() == data, f"{f} differs")
                    os.remove(os.path.join(src, f))
        # Every case went to a worker (none ran locally), the failures included.
        self.assertEqual(len([l for l in self.cc_lines() if " local " in l or " fallback " in l]), 0,
                         "\n".join(self.cc_lines()))
        self.assertGreaterEqual(c.status()["counters"]["dispatched"], len(cases))

    def test_one_source_built_into_two_objects_is_compiled_once(self):
        # A source in two libraries with the same flags (CMake's object folders per target):
        # one action, as ccache keys it; each object written where its command says, with its
        # own depfile, both as the plain compiler writes them.
        c = self.start_cluster()
        src = os.path.join(self.tmp, "twice")
        os.makedirs(os.path.join(src, "liba"))
        os.makedirs(os.path.join(src, "libb"))
        with open(os.path.join(src, "shared.c"), "w") as f:
            f.write('#include <stdio.h>\nint shared(void) { return printf("x") + 1; }\n')
        env = self.runner_env(daemon=c.addr, root=src, ZBUILD_KEEP_ROOT_PATHS="1")   # as a build in place
        cmd = lambda o: ["gcc", "-O2", "-g", "-MD", "-MT", o, "-MF", o + ".d", "-c", "shared.c", "-o", o]
        plain = {}
        for o in ("liba/shared.c.o", "libb/shared.c.o"):
            self.run_ok(cmd(o), env, cwd=src)
            for f in (o, o + ".d"):
                with open(os.path.join(src, f), "rb") as fh:
                    plain[f] = fh.read()
                os.remove(os.path.join(src, f))
        self.assertEqual(plain["liba/shared.c.o"], plain["libb/shared.c.o"])   # the name is not in the object
        for o in ("liba/shared.c.o", "libb/shared.c.o"):
            self.run_ok([ZBUILD_CC, *cmd(o)], env, cwd=src)
        for f, data in plain.items():
            with open(os.path.join(src, f), "rb") as fh:
                self.assertTrue(fh.read() == data, f"{f} differs from the plain compiler's")
        lines = self.cc_lines()
        self.assertEqual(len(lines), 2, "\n".join(lines))
        self.assertIn(" done ", lines[0])
        self.assertIn(" cached ", lines[1])   # the second object: the first's action, from the cache
        self.assertEqual(c.status()["counters"]["dispatched"], 1)
        self.assertEqual(sorted(os.listdir(src)), ["liba", "libb", "shared.c"])   # nothing else written

    def test_masquerade_link_finds_the_real_compiler(self):
        c = self.start_cluster()
        src = os.path.join(self.tmp, "mq")
        links = os.path.join(self.tmp, "links")
        os.makedirs(src)
        os.makedirs(links)
        for name in ("gcc", "g++", "cc"):
            os.symlink(ZBUILD_CC, os.path.join(links, name))
        with open(os.path.join(src, "m.c"), "w") as f:
            f.write("#include <stdio.h>\nint main(void) { puts(\"hi\"); return 0; }\n")
        env = self.runner_env(daemon=c.addr, root=src)
        self.run_ok(["gcc", "-O2", "-c", "m.c", "-o", "plain.o"], env, cwd=src)
        masq = dict(env, PATH=links + os.pathsep + env["PATH"])
        self.run_ok(["gcc", "-O2", "-c", "m.c", "-o", "m.o"], masq, cwd=src)   # remote, through the link
        self.run_ok(["cc", "m.o", "-o", "m"], masq, cwd=src)                   # a link: the real cc, here
        with open(os.path.join(src, "plain.o"), "rb") as a, open(os.path.join(src, "m.o"), "rb") as b:
            self.assertTrue(a.read() == b.read(), "object differs from the plain compile")
        self.assertEqual(subprocess.run([os.path.join(src, "m")], capture_output=True, text=True).stdout, "hi\n")
        lines = self.cc_lines()
        self.assertEqual(len(lines), 1, "\n".join(lines))
        self.assertIn(" done ", lines[0])

    def test_daemon_gone_builds_locally_with_one_warning(self):
        proj = self.copy_example("cmake-small")
        build = os.path.join(proj, "build")
        nobody = self.unanswered_address()
        env = self.runner_env(daemon=nobody, root=proj)
        self.cmake_configure(proj, build, env, launcher=True)
        r = self.run_ok(["ninja", "-C", build], env)
        warnings = [l for l in (r.stdout + r.stderr).splitlines() if "zbuild-cc: warning" in l]
        self.assertEqual(len(warnings), 1, r.stdout + r.stderr)
        self.assertIn(nobody, warnings[0])
        self.assertEqual(len(objects(build)), 8)
        self.assertEqual(subprocess.run([os.path.join(build, "geo-test")]).returncode, 0)
        # A new build warns again, once; make's recursive shells count as one build too.
        mk = self.copy_example("make-small")
        r = self.run_ok(["make", "-j2", *self.make_cc()], self.runner_env(daemon=nobody, root=mk), cwd=mk)
        self.assertEqual((r.stdout + r.stderr).count("zbuild-cc: warning"), 1, r.stdout + r.stderr)
        # ZBUILD_FALLBACK=0: an error instead.
        self.run_ok(["ninja", "-C", build, "-t", "clean"], env)
        strict = dict(env, ZBUILD_FALLBACK="0")
        r = subprocess.run(["ninja", "-C", build], env=strict, capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("zbuild-cc: error: no zbuild daemon answers at " + nobody, r.stdout)

    def test_workspace_daemon_with_local_workers_exits_when_idle(self):
        proj = self.copy_example("cmake-small")
        build = os.path.join(proj, "build")
        env = self.runner_env()   # no ZBUILD_DAEMON, no ZBUILD_ROOT: the workspace file says both
        self.cmake_configure(proj, build, env, launcher=True)
        d = Proc([ZBUILD, "daemon", "--workspace", proj, "--local-workers", "2", "--idle-exit", "5", "--store",
                  os.path.join(self.tmp, "ws-store")], "workspace daemon", env=env)
        self.addCleanup(d.stop)
        d.wait_for("worker local-1 joined from")
        d.wait_for("worker local-2 joined from")
        with open(os.path.join(proj, ".zbuild-daemon")) as f:
            addr = f.read().strip()
        # Each worker runs under a zbuild-launch that the daemon started, no shell between (the
        # daemon waits for the zbuild-launch, which ends only once its worker has).
        workers = workers_of(addr)
        self.assertEqual(len(workers), 2, workers)
        for _, ppid in workers:
            self.assertEqual(proc_parent(ppid), (d.p.pid, "zbuild-launch"))
        self.run_ok(["ninja", "-C", build], env, cwd=build)
        lines = self.cc_lines()
        self.assertEqual(len(lines), 8, "\n".join(lines))
        self.assertTrue(all(" done " in l for l in lines), "\n".join(lines))
        self.assertEqual(subprocess.run([os.path.join(build, "geo-test")]).returncode, 0)
        d.wait_for("idle for 5 s: exiting", timeout=60)
        self.assertEqual(d.p.wait(30), 0)
        self.assertFalse(os.path.exists(os.path.join(proj, ".zbuild-daemon")))
        # Its workers went with it.
        self.assertEqual(workers_of(addr), [])


if __name__ == "__main__":
    unittest.main()
