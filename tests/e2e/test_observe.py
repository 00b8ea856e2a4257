"""What a user sees of a build: metrics JSON and CSV that match what happened, the Chrome trace,
and the HTML report checked in headless Chromium (installed through `tools/setup --browser`
when missing; the test fails, not skips, when it cannot be had)."""

import csv
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import REPO, ZBUILD, E2ECase, executed_tasks

SHAPES_TASKS = 29


def ensure_chromium():
    path = shutil.which("chromium")
    if path is None:
        r = subprocess.run([os.path.join(REPO, "tools", "setup"), "--browser"], capture_output=True, text=True,
                           timeout=1200)
        assert r.returncode == 0, f"tools/setup --browser failed:\n{r.stdout}\n{r.stderr}"
        path = shutil.which("chromium")
    assert path, "chromium is required (tools/setup --browser installs it)"
    return path


def load_in_chromium(html_path):
    """The page's DOM after its scripts ran, from a fresh headless Chromium profile."""
    chromium = ensure_chromium()
    profile = tempfile.mkdtemp(prefix="zbuild-chromium-")
    try:
        r = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                            "--no-first-run", "--disable-background-networking", "--disable-component-update",
                            "--disable-sync", f"--user-data-dir={profile}", "--dump-dom",
                            "file://" + os.path.abspath(html_path)],
                           capture_output=True, text=True, timeout=180)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert r.returncode == 0, f"chromium exited with {r.returncode}:\n{r.stderr[-3000:]}"
    return r.stdout


def page_state(dom):
    """(data-status, data-bars, number of bar rects, text of the error box) of a dumped report."""
    body = re.search(r"<body([^>]*)>", dom)
    assert body, dom[:2000]
    attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', body.group(1)))
    bars = len(re.findall(r'<rect[^>]*class="bar[ "]', dom))
    errors = re.search(r'<pre id="errors"[^>]*>(.*?)</pre>', dom, re.S)
    return attrs.get("data-status"), int(attrs.get("data-bars", "-1")), bars, errors.group(1) if errors else None


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


class Observe(E2ECase):
    def report(self, trace, name):
        html = os.path.join(self.tmp, name)
        r = subprocess.run([ZBUILD, "report", trace, "-o", html], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(html) as f:
            text = f.read()
        self.assertNotRegex(text, r'(src|href)="?(https?:)?//', "the report must be self-contained")
        return html

    def assert_csv_matches(self, row, metrics):
        for key, value in row.items():
            self.assertIn(key, metrics, f"CSV column {key} is not in the metrics JSON")
            if isinstance(metrics[key], float):
                self.assertAlmostEqual(float(value), metrics[key], places=3, msg=key)
            else:
                self.assertEqual(int(value), metrics[key], key)

    def test_metrics_csv_trace_and_report(self):
        ensure_chromium()   # before the build: a missing browser is the first thing to know
        proj = self.copy_example("shapes")
        graph = os.path.join(proj, "graph.json")
        c = self.cluster
        c.start_daemon()
        c.start_worker(name="wa", slots=1)
        c.start_worker(name="wb", slots=1)
        csv_path = os.path.join(self.tmp, "builds.csv")
        trace1 = os.path.join(self.tmp, "cold.trace.json")

        # 1. Cold: every task runs; the counts and the schedule agree with what happened.
        r, m = c.submit(graph, "--csv-out", csv_path, "--trace", trace1)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        ran = executed_tasks(r.stdout)
        self.assertEqual(len(ran), SHAPES_TASKS, r.stdout)
        self.assertEqual(m["num_workers"], 2)
        self.assertEqual(m["total_slots"], 2)
        self.assertEqual((m["total_tasks"], m["completed_tasks"], m["executed_tasks"]), (29, 29, 29))
        self.assertEqual((m["cached_tasks"], m["failed_tasks"], m["skipped_tasks"], m["retried_tasks"]), (0, 0, 0, 0))
        self.assertEqual(m["cache_hit_rate"], 0.0)
        self.assertEqual(m["cache_hit_percent"], 0.0)
        self.assertEqual(m["total_build_time_ms"], m["build_time_ms"])
        self.assertLessEqual(m["min_task_time_ms"], m["avg_task_time_ms"])
        self.assertLessEqual(m["avg_task_time_ms"], m["max_task_time_ms"])
        self.assertGreater(m["bytes_uploaded"], 0)
        self.assertGreater(m["bytes_downloaded"], 0)
        self.assertGreater(m["critical_path_ms"], 0)
        self.assertEqual(m["lower_bound_ms"], max(m["critical_path_ms"], m["total_work_ms"] // 2), m)
        self.assertGreaterEqual(m["makespan_ms"], m["lower_bound_ms"] - 1)   # nothing beats the bound
        self.assertLessEqual(m["makespan_ms"], m["build_time_ms"])
        self.assertGreater(m["efficiency"], 0.0)
        self.assertLessEqual(m["efficiency"], 1.0 + 1e-3)
        self.assertGreaterEqual(m["wait_for_worker_ms"], 0)
        done_by_worker = {w["id"]: w["tasks_done"] for w in c.status()["workers"]}
        self.assertEqual(sum(done_by_worker.values()), SHAPES_TASKS)

        # The trace: one row per worker slot, one task event per task, steps inside them.
        with open(trace1) as f:
            trace = json.load(f)
        events = trace["traceEvents"]
        task_events = [e for e in events if e.get("ph") == "X" and e.get("cat") == "task"]
        self.assertEqual(sorted(e["name"] for e in task_events), sorted(ran))
        rows = {e["tid"]: e["args"]["name"] for e in events if e.get("name") == "thread_name" and e["pid"] == 1}
        self.assertEqual(len(rows), 2, rows)
        self.assertEqual(sorted(n.split()[0] for n in rows.values()), ["wa", "wb"])
        self.assertTrue(any(e.get("cat") == "run" for e in events))
        for e in task_events:
            # Steps name their task: on a busy slot the next task's span can begin before this
            # one's end reaches the daemon, so position alone does not say whose step it is.
            inner = [s for s in events if s.get("ph") == "X" and s.get("cat") in ("fetch", "run", "upload")
                     and s["args"]["task"] == e["name"]]
            for s in inner:
                self.assertEqual(s["tid"], e["tid"], (e, s))
                self.assertLessEqual(e["ts"], s["ts"], (e, s))
                self.assertLessEqual(s["ts"] + s["dur"], e["ts"] + e["dur"], (e, s))
        z = trace["zbuild"]
        self.assertEqual(z["metrics"]["executed_tasks"], 29)
        self.assertTrue(any(t["critical"] for t in z["tasks"]))
        self.assertEqual(z["summary"]["lower_bound_ms"], m["lower_bound_ms"])

        # 2. Warm: outputs removed, every task a cache hit, nothing dispatched.
        shutil.rmtree(os.path.join(proj, "out"))
        trace2 = os.path.join(self.tmp, "warm.trace.json")
        r2, m2 = c.submit(graph, "--csv-out", csv_path, "--trace", trace2)
        self.assertEqual(r2.returncode, 0, r2.stdout + r2.stderr)
        self.assertEqual((m2["cached_tasks"], m2["total_tasks"], m2["completed_tasks"]), (29, 29, 29))
        self.assertEqual((m2["executed_tasks"], m2["failed_tasks"]), (0, 0))
        self.assertEqual(m2["cache_hit_rate"], 1.0)
        self.assertEqual(m2["cache_hit_percent"], 100.0)
        self.assertEqual((m2["critical_path_ms"], m2["lower_bound_ms"], m2["wait_for_worker_ms"]), (0, 0, 0))
        self.assertEqual(sum(w["tasks_done"] for w in c.status()["workers"]), SHAPES_TASKS)

        # The CSV: a header and one row per build, equal to the JSON of that build.
        rows_csv = read_csv(csv_path)
        self.assertEqual(len(rows_csv), 2)
        with open(csv_path) as f:
            header = f.readline().strip().split(",")
        self.assertEqual(header[:12], ["num_workers", "total_tasks", "completed_tasks", "cached_tasks", "failed_tasks",
                                       "retried_tasks", "total_build_time_ms", "min_task_time_ms", "max_task_time_ms",
                                       "avg_task_time_ms", "tasks_per_second", "cache_hit_rate"])
        for col in ("bytes_uploaded", "bytes_downloaded", "wait_for_worker_ms", "critical_path_ms", "lower_bound_ms",
                    "efficiency"):
            self.assertIn(col, header)
        self.assert_csv_matches(rows_csv[0], m)
        self.assert_csv_matches(rows_csv[1], m2)
        self.assertEqual([r["cache_hit_percent"] for r in rows_csv], ["0.0000", "100.0000"])

        # 3. The reports load in Chromium without errors and draw one bar per task.
        for trace_path, name in ((trace1, "cold.html"), (trace2, "warm.html")):
            dom = load_in_chromium(self.report(trace_path, name))
            status, bars_attr, bars, errors = page_state(dom)
            self.assertEqual(errors, "", f"{name}: script errors")
            self.assertEqual(status, "ok", f"{name}: page did not finish drawing")
            self.assertEqual(bars, SHAPES_TASKS, name)
            self.assertEqual(bars_attr, SHAPES_TASKS, name)
        self.assertIn("obj/main.o", dom)

    def test_report_check_sees_script_errors_and_bad_traces(self):
        ensure_chromium()
        # A trace the page cannot draw (a task that is not an object): the check must say so.
        broken = os.path.join(self.tmp, "broken.json")
        with open(broken, "w") as f:
            json.dump({"traceEvents": [], "zbuild": {"version": 1, "tasks": [None], "rows": []}}, f)
        status, _, _, errors = page_state(load_in_chromium(self.report(broken, "broken.html")))
        self.assertEqual(status, "error")
        self.assertIn("null", errors)
        # Not a zbuild trace at all: refused with a message, nothing written.
        plain = os.path.join(self.tmp, "plain.json")
        with open(plain, "w") as f:
            json.dump({"traceEvents": []}, f)
        out = os.path.join(self.tmp, "plain.html")
        r = subprocess.run([ZBUILD, "report", plain, "-o", out], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not a trace written by", r.stderr)
        self.assertFalse(os.path.exists(out))

    def test_failure_counts_and_progress(self):
        proj = os.path.join(self.tmp, "failing")
        os.makedirs(proj)
        tasks = [
            {"id": "ok", "argv": ["sh", "-c", "echo fine > ok.txt"], "outputs": ["ok.txt"]},
            {"id": "bad", "argv": ["sh", "-c", "echo broken >&2; exit 3"], "outputs": ["bad.txt"]},
            {"id": "after-bad", "argv": ["sh", "-c", "cp bad.txt after.txt"], "inputs": ["bad.txt"],
             "outputs": ["after.txt"]},
        ]
        graph = os.path.join(proj, "graph.json")
        with open(graph, "w") as f:
            json.dump({"version": 1, "root": ".", "tasks": tasks}, f)
        c = self.cluster
        c.start_daemon()
        c.start_worker(name="solo", slots=2)
        csv_path = os.path.join(self.tmp, "fail.csv")
        trace = os.path.join(self.tmp, "fail.trace.json")
        r, m = c.submit(graph, "--keep-going", "--csv-out", csv_path, "--trace", trace)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("FAILED: bad (exit code 3, worker solo)", r.stdout)
        self.assertIn("broken", r.stderr)
        self.assertRegex(r.stdout, r"\[\d/3\] failed bad on solo")
        self.assertEqual((m["executed_tasks"], m["failed_tasks"], m["skipped_tasks"], m["completed_tasks"]),
                         (1, 1, 1, 1))
        self.assertEqual(m["num_workers"], 1)
        self.assertEqual(m["total_slots"], 2)
        self.assertEqual(read_csv(csv_path)[0]["failed_tasks"], "1")
        status, bars_attr, bars, errors = page_state(load_in_chromium(self.report(trace, "fail.html")))
        self.assertEqual((status, errors), ("ok", ""))
        self.assertEqual((bars, bars_attr), (2, 2))   # the skipped task never ran: no bar


if __name__ == "__main__":
    unittest.main()
