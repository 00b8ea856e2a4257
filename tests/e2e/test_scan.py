"""`zbuild scan` (docs/scanner.md): the in-process include scanner on every compile of a real
CMake project's compilation database finds exactly the files the compiler's -M names (C and C++,
project headers under conditions and system headers); what it cannot follow is said, and bad
input names the file."""

import json
import os
import subprocess
import unittest

from harness import E2ECase, ZBUILD


class Scan(E2ECase):
    def scan(self, *args):
        return subprocess.run([ZBUILD, "scan", *args], capture_output=True, text=True, timeout=300)

    def test_cmake_project_identical_to_the_compiler(self):
        proj = self.copy_example("cmake-small")
        build = os.path.join(proj, "build")
        r = subprocess.run(["cmake", "-S", proj, "-B", build, "-G", "Ninja", "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        db = os.path.join(build, "compile_commands.json")
        with open(db) as f:
            n = len(json.load(f))
        self.assertGreater(n, 0)
        r = self.scan("--compdb", db, "--compare", "--list")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(f"{n} compiles: {n} scanned", r.stdout)
        self.assertIn(f"0 gave up; against -M: {n} identical, 0 superset, 0 missing files", r.stdout)
        self.assertIn("/usr/include/stdio.h", r.stdout)   # --list names system headers too

    def test_what_it_cannot_follow_and_bad_input(self):
        src = os.path.join(self.tmp, "src")
        os.makedirs(src)
        with open(os.path.join(src, "a.c"), "w") as f:
            f.write("#include <stdio.h>\nint main(void) { return 0; }\n")
        with open(os.path.join(src, "m.h"), "w") as f:
            f.write("#define M 1\n")
        entries = [{"directory": src, "file": "a.c", "arguments": ["gcc", "-c", "a.c", "-o", "a.o"]},
                   {"directory": src, "file": "a.c", "arguments": ["gcc", "-imacros", "m.h", "-c", "a.c", "-o", "b.o"]}]
        db = os.path.join(self.tmp, "compile_commands.json")
        with open(db, "w") as f:
            json.dump(entries, f)
        r = self.scan("--compdb", db, "--compare")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("a.c: the scanner gave up: option -imacros", r.stdout)
        self.assertIn("2 compiles: 1 scanned", r.stdout)
        self.assertIn("1 identical, 0 superset, 0 missing files", r.stdout)

        r = self.scan("--compdb", os.path.join(self.tmp, "absent.json"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("absent.json", r.stderr)
        with open(db, "w") as f:
            f.write('{"not": "a list"}')
        r = self.scan("--compdb", db)
        self.assertEqual(r.returncode, 1)
        self.assertIn("compile_commands.json: not a JSON array", r.stderr)
        r = self.scan()
        self.assertEqual(r.returncode, 2)
        self.assertIn("--compdb is required", r.stderr)


if __name__ == "__main__":
    unittest.main()
