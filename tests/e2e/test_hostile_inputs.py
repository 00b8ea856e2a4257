"""Hostile graphs and trees against the client, the graph loader and zbuild-cc (issue 9, trust
boundaries): a loader variable in a task's environment, a compile that makes the compiler run
another program (directly and through a response file), inputs that are links leading out of
the root, outputs under a folder that is such a link, task ids that would drive the terminal,
and a workspace file others could have written. Each is refused with a message naming the
task and the place, and the attack leaves no trace (no marker file, nothing written outside)."""

import json
import os
import stat
import subprocess
import unittest

from harness import BUILD_DIR, E2ECase, ZBUILD
from test_runner import RunnerMixin

ZBUILD_CC = os.path.abspath(os.environ.get("ZBUILD_CC_BIN", os.path.join(BUILD_DIR, "src", "cli", "zbuild-cc")))
DEAD = "127.0.0.1:9"   # nothing listens: a graph refused at load never gets that far

RLO = "\u202e"
ESC = "\x1b"


def write(path, text, mode=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    if mode is not None:
        os.chmod(path, mode)


def compile_task(tid, src="a.cc", out="out/a.o", extra=(), inputs=None, env=None):
    t = {"id": tid, "argv": ["g++", *extra, "-c", src, "-o", out],
         "inputs": list(inputs if inputs is not None else [src]), "outputs": [out]}
    if env:
        t["env"] = env
    return t


def files_under(d):
    out = []
    for base, _, files in os.walk(d):
        out += [os.path.relpath(os.path.join(base, f), d) for f in files]
    return sorted(out)


class HostileGraphs(E2ECase):
    def project(self, source="int a() { return 1; }\n"):
        self.proj = os.path.join(self.tmp, "proj")
        self.outside = os.path.join(self.tmp, "outside")
        os.makedirs(self.outside, exist_ok=True)
        write(os.path.join(self.proj, "a.cc"), source)
        return self.proj

    def graph(self, *tasks):
        g = os.path.join(self.proj, "graph.json")
        write(g, json.dumps({"version": 1, "tasks": list(tasks)}))
        return g

    def submit(self, graph, daemon=None):
        return subprocess.run([ZBUILD, "submit", "--daemon", daemon or self.cluster.addr, graph],
                              capture_output=True, text=True, timeout=300)

    def start_cluster(self):
        self.cluster.start_daemon()
        self.cluster.start_worker(name="w1")

    def assert_refused(self, r, *needles):
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        for n in ("graph.json",) + needles:
            self.assertIn(n, r.stderr)

    def test_loader_variable_in_a_task_environment_is_refused_at_load(self):
        self.project()
        for var in ("LD_PRELOAD", "GCONV_PATH", "MALLOC_PERTURB_", "PATH"):
            g = self.graph(compile_task("ok"), compile_task("preload", out="out/b.o", env={var: "/tmp/evil.so"}))
            r = self.submit(g, daemon=DEAD)   # refused before anything is contacted
            self.assert_refused(r, "task 'preload'", var)
            self.assertFalse(os.path.exists(os.path.join(self.proj, "out")))

    def wrapper(self):
        """A program gcc -wrapper would run: it leaves a marker, then runs the real pass."""
        self.marker = os.path.join(self.tmp, "wrapper-ran")
        w = os.path.join(self.tmp, "evil-wrapper.sh")
        write(w, f"#!/bin/sh\ntouch '{self.marker}'\nexec \"$@\"\n", mode=0o755)
        return w

    def test_compiler_options_that_run_code_are_refused_before_the_scan(self):
        self.start_cluster()
        self.project()
        w = self.wrapper()
        # The attack is real: run by gcc itself, the wrapper leaves its marker.
        subprocess.run(["g++", "-wrapper", w, "-c", "a.cc", "-o", os.path.join(self.tmp, "control.o")],
                       cwd=self.proj, check=True, capture_output=True)
        self.assertTrue(os.path.exists(self.marker))
        os.unlink(self.marker)

        g = self.graph(compile_task("direct", extra=["-wrapper", w]))
        r = self.submit(g)
        self.assert_refused(r, "task 'direct'", "-wrapper")
        self.assertFalse(os.path.exists(self.marker), "the wrapper ran on the submitting machine")

        # Hidden in a response file (nested), relative to the task's folder.
        write(os.path.join(self.proj, "flags.rsp"), "-O2 @more.rsp\n")
        write(os.path.join(self.proj, "more.rsp"), f"-wrapper {w}\n")
        g = self.graph(compile_task("via-rsp", extra=["@flags.rsp"], inputs=["a.cc", "flags.rsp", "more.rsp"]))
        r = self.submit(g)
        self.assert_refused(r, "task 'via-rsp'", "-wrapper")
        self.assertFalse(os.path.exists(self.marker), "the wrapper ran on the submitting machine")

        for extra in (["-B", self.tmp], ["-fplugin=" + os.path.join(self.tmp, "evil.so")],
                      ["-specs=" + os.path.join(self.tmp, "evil.specs")]):
            r = self.submit(self.graph(compile_task("opt", extra=extra)))
            self.assert_refused(r, "task 'opt'", extra[0].split("=")[0])
        self.assertEqual(self.cluster.status()["counters"]["dispatched"], 0)
        self.assertFalse(os.path.exists(os.path.join(self.proj, "out")))

    def test_inputs_leading_out_of_the_root_are_refused(self):
        self.start_cluster()
        self.project('#include "inc/secret.h"\nint a() { return SECRET; }\n')
        write(os.path.join(self.outside, "secret.h"), "#define SECRET 42\n")
        # A graph input that is a link to a file outside the root.
        os.symlink(os.path.join(self.outside, "secret.h"), os.path.join(self.proj, "leak.h"))
        r = self.submit(self.graph(compile_task("linked-input", inputs=["a.cc", "leak.h"])))
        self.assert_refused(r, "task 'linked-input'", "'leak.h'", "outside the root")
        # A discovered header whose folder is a link leading outside the root.
        os.symlink(self.outside, os.path.join(self.proj, "inc"))
        r = self.submit(self.graph(compile_task("linked-folder")))
        self.assert_refused(r, "task 'linked-folder'", "inc/secret.h", "outside the root")
        self.assertEqual(self.cluster.status()["counters"]["dispatched"], 0)
        self.assertFalse(os.path.exists(os.path.join(self.proj, "out")))

        # Links that stay inside the root are followed.
        os.unlink(os.path.join(self.proj, "inc"))
        write(os.path.join(self.proj, "real", "secret.h"), "#define SECRET 7\n")
        os.symlink("real", os.path.join(self.proj, "inc"))
        os.symlink("real/secret.h", os.path.join(self.proj, "alias.h"))
        r = self.submit(self.graph(compile_task("inside", inputs=["a.cc", "alias.h"])))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(os.path.isfile(os.path.join(self.proj, "out", "a.o")))

    def test_outputs_are_not_written_through_links_leading_out_of_the_root(self):
        self.start_cluster()
        self.project()
        os.symlink(self.outside, os.path.join(self.proj, "out"))
        r = self.submit(self.graph(compile_task("through-link")))
        self.assert_refused(r, "task 'through-link'", "'out/a.o'", "outside the root")
        self.assertEqual(files_under(self.outside), [], "something was written outside the root")

        # A link at the output path itself is replaced, not written through.
        os.unlink(os.path.join(self.proj, "out"))
        victim = os.path.join(self.outside, "victim")
        write(victim, "precious\n")
        os.makedirs(os.path.join(self.proj, "out"))
        os.symlink(victim, os.path.join(self.proj, "out", "a.o"))
        r = self.submit(self.graph(compile_task("replace-link")))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertFalse(os.path.islink(os.path.join(self.proj, "out", "a.o")))
        with open(victim) as f:
            self.assertEqual(f.read(), "precious\n")
        self.assertEqual(files_under(self.outside), ["victim"])
        self.assertEqual(sorted(os.listdir(os.path.join(self.proj, "out"))), ["a.o"])

    def test_task_ids_that_drive_the_terminal_are_printed_escaped(self):
        self.start_cluster()
        self.project()
        ok_id = f"ok{RLO}txt.exe"
        bad_id = f"bad{ESC}[2J{ESC}]0;pwned{ESC}\\"
        g = self.graph(
            {"id": ok_id, "argv": ["true"]},
            # The task's own stderr is the command's: printed as it is, escape and all.
            {"id": bad_id, "argv": ["sh", "-c", "printf 'own\\033[1m text\\n' >&2; exit 3"]})
        r = self.submit(g)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        ours = r.stdout
        self.assertNotIn(RLO, ours)
        self.assertNotIn(ESC, ours)
        self.assertIn("ok\\u{202e}txt.exe", ours)
        self.assertIn("bad\\x1b[2J\\x1b]0;pwned\\x1b\\", ours)
        self.assertIn("FAILED: bad\\x1b[2J", ours)
        self.assertIn("failed: bad\\x1b[2J", ours)
        self.assertIn(f"own{ESC}[1m text", r.stderr)   # the command's output, untouched
        self.assertNotIn(RLO, r.stderr)

        # The same in an error from the graph loader.
        g = self.graph(compile_task(f"x{RLO}y", env={"LD_PRELOAD": "e.so"}))
        r = self.submit(g, daemon=DEAD)
        self.assert_refused(r, "task 'x\\u{202e}y'")
        self.assertNotIn(RLO, r.stderr)


class HostileTrees(RunnerMixin, E2ECase):
    """zbuild-cc in a tree someone else could have prepared."""

    def env(self, **extra):
        return self.runner_env(**extra)

    def cc(self, env, cwd, *args):
        return subprocess.run([ZBUILD_CC, "gcc", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)

    def test_workspace_file_in_a_folder_others_can_write_is_ignored(self):
        c = self.cluster
        c.start_daemon()
        c.start_worker(name="w1")
        proj = os.path.join(self.tmp, "proj")
        write(os.path.join(proj, "a.c"), "int a(void) { return 1; }\n")
        write(os.path.join(proj, ".zbuild-daemon"), c.addr + "\n", mode=0o644)
        nobody = self.unanswered_address()
        write(os.path.join(self.tmp, "config", "zbuild", "daemon"), nobody + "\n")   # the user's own choice
        env = self.env()

        os.chmod(proj, 0o777 | stat.S_ISVTX)   # world-writable (sticky does not make it safe)
        r = self.cc(env, proj, "-c", "a.c", "-o", "a.o")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.isfile(os.path.join(proj, "a.o")))
        self.assertEqual(r.stderr.count("ignoring the workspace file " + os.path.join(proj, ".zbuild-daemon")), 1,
                         r.stderr)
        self.assertIn("writable by other users", r.stderr)
        self.assertIn("compiling locally", r.stderr)   # the trusted config names nobody: fallback
        self.assertIn(nobody, r.stderr)
        self.assertEqual(c.status()["counters"]["dispatched"], 0)
        # Said once per build.
        r = self.cc(env, proj, "-c", "a.c", "-o", "a2.o")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("ignoring the workspace file", r.stderr)
        self.assertTrue(all(" fallback " in l for l in self.cc_lines()), "\n".join(self.cc_lines()))

        # The same file in a folder only its owner can write is used.
        os.chmod(proj, 0o755)
        r = self.cc(env, proj, "-c", "a.c", "-o", "a3.o")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("warning", r.stderr)
        self.assertIn(" done ", self.cc_lines()[-1])

    def test_header_leading_out_of_the_root_is_not_shipped(self):
        c = self.cluster
        c.start_daemon()
        c.start_worker(name="w1")
        proj = os.path.join(self.tmp, "proj")
        outside = os.path.join(self.tmp, "outside")
        write(os.path.join(outside, "secret.h"), "#define SECRET 42\n")
        write(os.path.join(proj, "a.c"), '#include "inc/secret.h"\nint a(void) { return SECRET; }\n')
        os.symlink(outside, os.path.join(proj, "inc"))
        env = self.env(ZBUILD_DAEMON=c.addr, ZBUILD_ROOT=proj)
        r = self.cc(env, proj, "-c", "a.c", "-o", "a.o")
        self.assertEqual(r.returncode, 0, r.stderr)   # compiled here, by the fallback rules
        self.assertTrue(os.path.isfile(os.path.join(proj, "a.o")))
        self.assertIn("input 'inc/secret.h'", r.stderr)
        self.assertIn("outside the root", r.stderr)
        self.assertEqual(c.status()["counters"]["dispatched"], 0)
        # ZBUILD_FALLBACK=0: an error instead.
        r = self.cc(dict(env, ZBUILD_FALLBACK="0"), proj, "-c", "a.c", "-o", "b.o")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("zbuild-cc: error: input 'inc/secret.h'", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(proj, "b.o")))


if __name__ == "__main__":
    unittest.main()
