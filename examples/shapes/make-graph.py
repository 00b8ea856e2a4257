#!/usr/bin/env python3
"""Generates graph.json (zbuild graph format version 1) for the shapes example.

The task list is derived from the files on disk (src/*.cc, app/*.cc, tests/*.cc),
so re-running this script after adding or removing a source keeps the graph true.

    python3 make-graph.py            # rewrite graph.json
    python3 make-graph.py --check    # exit 1 if graph.json is out of date
    python3 make-graph.py --stdout   # print instead of writing
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

CXX = "g++"
CXXFLAGS = ["-std=c++20", "-O2", "-Wall", "-Wextra", "-Werror", "-Iinclude"]
# Exactly one compile task carries -g so that debug-info path mapping is exercised.
DEBUG_SOURCE = "src/scene.cc"
COMPILE_TIMEOUT_S = 600
LINK_TIMEOUT_S = 600
TEST_TIMEOUT_S = 120

LIBRARY = "out/lib/libshapes.a"
PROGRAMS = {
    # program output: source directory whose objects it links (plus the library)
    "out/bin/shapes": "app",
    "out/bin/shapes_tests": "tests",
}


def sources(directory):
    return sorted(p.relative_to(HERE).as_posix() for p in (HERE / directory).glob("*.cc"))


def object_for(source):
    return "out/obj/" + Path(source).stem + ".o"


def task(task_id, argv, inputs, outputs, timeout_s):
    return {
        "id": task_id,
        "argv": argv,
        "cwd": ".",
        "inputs": inputs,
        "outputs": outputs,
        "deps": [],
        "env": {},
        "timeout_s": timeout_s,
    }


def compile_task(source):
    obj = object_for(source)
    flags = list(CXXFLAGS)
    if source == DEBUG_SOURCE:
        flags.append("-g")
    argv = [CXX] + flags + ["-c", source, "-o", obj]
    return task(obj[len("out/"):], argv, [source], [obj], COMPILE_TIMEOUT_S)


def build_graph():
    lib_sources = sources("src")
    prog_sources = {out: sources(d) for out, d in PROGRAMS.items()}
    all_sources = lib_sources + [s for srcs in prog_sources.values() for s in srcs]

    objects = [object_for(s) for s in all_sources]
    if len(set(objects)) != len(objects):
        sys.exit("make-graph.py: two sources map to the same object name")
    if DEBUG_SOURCE not in all_sources:
        sys.exit(f"make-graph.py: {DEBUG_SOURCE} does not exist")

    tasks = [compile_task(s) for s in all_sources]

    lib_objects = [object_for(s) for s in lib_sources]
    tasks.append(task("lib/libshapes.a", ["ar", "rcsD", LIBRARY] + lib_objects, lib_objects,
                      [LIBRARY], LINK_TIMEOUT_S))

    for program, srcs in prog_sources.items():
        objs = [object_for(s) for s in srcs]
        argv = [CXX, "-o", program] + objs + [LIBRARY]
        tasks.append(task(program[len("out/"):], argv, objs + [LIBRARY], [program],
                          LINK_TIMEOUT_S))

    tasks.append(task("run-tests",
                      ["sh", "-c", "./out/bin/shapes_tests > out/test-results.txt"],
                      ["out/bin/shapes_tests"], ["out/test-results.txt"], TEST_TIMEOUT_S))
    return {"version": 1, "root": ".", "tasks": tasks}


def render(graph):
    # One task per line: valid JSON that still diffs nicely.
    lines = ["{", '  "version": %d,' % graph["version"], '  "root": %s,' % json.dumps(graph["root"]),
             '  "tasks": [']
    body = [("    " + json.dumps(t)) for t in graph["tasks"]]
    lines.append(",\n".join(body))
    lines += ["  ]", "}"]
    return "\n".join(lines) + "\n"


def main(argv):
    text = render(build_graph())
    json.loads(text)  # sanity check
    target = HERE / "graph.json"
    if "--stdout" in argv:
        sys.stdout.write(text)
    elif "--check" in argv:
        current = target.read_text() if target.exists() else ""
        if current != text:
            print("graph.json is out of date; run make-graph.py", file=sys.stderr)
            return 1
    else:
        target.write_text(text)
        print(f"wrote {target.name}: {len(json.loads(text)['tasks'])} tasks")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
