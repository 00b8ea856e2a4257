#!/bin/sh
# Reference local build: runs every task of graph.json in dependency order (list order when
# unconstrained), as many at a time as there are cores (-j N to choose), in place under ./out.
# Tests compare zbuild's outputs byte-for-byte against the files this produces.
# C/C++ compiles get -ffile-prefix-map=ROOT=. as zbuild gives them (its default, so that every
# checkout shares the cache: docs/graph-format.md, "Any checkout"); ZBUILD_KEEP_ROOT_PATHS=1
# leaves it out, as `zbuild submit --keep-root-paths` does.
#
#   ./build-local.sh           # build everything
#   ./build-local.sh -j 1      # one task at a time
#   ./build-local.sh --dry-run # print the commands only, in a valid order
set -eu
cd "$(dirname "$0")"
exec python3 - "$@" <<'PY'
import concurrent.futures
import json
import os
import re
import shlex
import subprocess
import sys

dry_run = "--dry-run" in sys.argv[1:]
jobs = os.cpu_count() or 1
if "-j" in sys.argv[1:]:
    at = sys.argv.index("-j")
    try:
        jobs = int(sys.argv[at + 1])
    except (IndexError, ValueError):
        sys.exit("build-local.sh: -j needs a number")
    if jobs < 1:
        sys.exit("build-local.sh: -j needs a number of at least 1")
graph_path = os.path.abspath("graph.json")
with open(graph_path) as f:
    graph = json.load(f)
if graph.get("version") != 1:
    sys.exit("build-local.sh: unsupported graph version %r" % graph.get("version"))
root = os.path.normpath(os.path.join(os.path.dirname(graph_path), graph.get("root", ".")))
tasks = graph["tasks"]
keep_root_paths = os.environ.get("ZBUILD_KEEP_ROOT_PATHS", "") not in ("", "0")


def with_root_map(argv):
    """zbuild's rule (proto/root_free.cc, add_root_prefix_map): a compiler driver asked for -c
    or -S (not -E) under a root that needs no quoting gets the root's map after its name."""
    compiler = re.fullmatch(r"(.*-)?(gcc|g\+\+|cc|c\+\+|clang|clang\+\+)(-[0-9.]+)?", os.path.basename(argv[0]))
    mapping = "-ffile-prefix-map=%s=." % root
    if (keep_root_paths or not compiler or "-E" in argv[1:] or not ({"-c", "-S"} & set(argv[1:]))
            or not re.fullmatch(r"/[A-Za-z0-9._+,@~/-]+", root) or mapping in argv):
        return argv
    return [argv[0], mapping, *argv[1:]]


# Explicit deps plus the implicit ones: a task that consumes another's output.
producer = {}
for t in tasks:
    for out in t.get("outputs", []):
        producer[os.path.normpath(out)] = t["id"]
by_id = {t["id"]: t for t in tasks}
needs = {}
for t in tasks:
    deps = set(t.get("deps", []))
    for inp in t.get("inputs", []):
        p = producer.get(os.path.normpath(inp))
        if p is not None and p != t["id"]:
            deps.add(p)
    unknown = deps - by_id.keys()
    if unknown:
        sys.exit("build-local.sh: task %s depends on unknown %s" % (t["id"], sorted(unknown)))
    needs[t["id"]] = deps

# Stable topological order: repeatedly take the first ready task in list order.
order, done = [], set()
pending = [t["id"] for t in tasks]
while pending:
    ready = next((i for i in pending if needs[i] <= done), None)
    if ready is None:
        sys.exit("build-local.sh: dependency cycle among %s" % pending)
    pending.remove(ready)
    order.append(ready)
    done.add(ready)



def run_task(task_id):
    """Runs one task; None when it produced its outputs, else why not."""
    t = by_id[task_id]
    cwd = os.path.normpath(os.path.join(root, t.get("cwd", ".")))
    for out in t.get("outputs", []):
        path = os.path.join(root, out)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if os.path.lexists(path):
            os.remove(path)  # e.g. `ar r` would otherwise update a stale archive
    env = dict(os.environ)
    env.update(t.get("env", {}))
    try:
        rc = subprocess.run(with_root_map(t["argv"]), cwd=cwd, env=env, timeout=t.get("timeout_s")).returncode
    except subprocess.TimeoutExpired:
        return "build-local.sh: task %s timed out" % task_id
    if rc != 0:
        return "build-local.sh: task %s failed with exit code %d" % (task_id, rc)
    for out in t.get("outputs", []):
        if not os.path.exists(os.path.join(root, out)):
            return "build-local.sh: task %s did not produce %s" % (task_id, out)
    return None


if dry_run:
    for n, task_id in enumerate(order, 1):
        print("[%d/%d] %s: %s" % (n, len(order), task_id, shlex.join(by_id[task_id]["argv"])), flush=True)
    sys.exit(0)

# Up to `jobs` tasks at once, each started once all it needs is done (in the order above); the
# first failure stops new starts, lets the running ones finish, and is the exit message.
finished, running, started, failure = set(), {}, 0, None
waiting = list(order)
with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
    while (waiting and failure is None) or running:
        for task_id in list(waiting):
            if failure is not None or len(running) >= jobs:
                break
            if needs[task_id] <= finished:
                waiting.remove(task_id)
                started += 1
                print("[%d/%d] %s: %s" % (started, len(order), task_id, shlex.join(by_id[task_id]["argv"])), flush=True)
                running[pool.submit(run_task, task_id)] = task_id
        done_now, _ = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
        for f in done_now:
            task_id = running.pop(f)
            why = f.result()
            if why is not None:
                failure = failure or why
            else:
                finished.add(task_id)
if failure is not None:
    sys.exit(failure)
print("build-local.sh: %d tasks done" % len(order))
PY
