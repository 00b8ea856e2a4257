"""Workers launched by the daemon (SprayCC's policy): with a plain local command, and through a
real Slurm (slurmctld + slurmd on this machine, `srun`). Workers are started while compiles
wait, take them, and are released once idle."""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import unittest

from harness import E2ECase, Proc, WORKER, ZBUILD, listening_address
from test_runner import RunnerMixin, have

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class LaunchMixin(RunnerMixin):
    def launch_daemon(self, launch, env, extra=(), wrap=()):
        d = Proc([*wrap, ZBUILD, "daemon", "--listen", "127.0.0.1:0", "--store", os.path.join(self.tmp, "store"),
                  "--launch", launch, "--max-workers", "2", "--max-pending", "2", "--release-after", "4", *extra],
                 "launching daemon", env=env)
        self.addCleanup(d.stop)
        self.addr = listening_address(d)
        return d

    def build_and_watch(self, d, launch_word):
        """Builds make-small through zbuild-cc; returns the launched worker ids."""
        proj = self.copy_example("make-small")
        env = self.runner_env(daemon=self.addr, root=proj)
        r = self.run_ok(["make", "-j4", *self.make_cc()], env, cwd=proj)
        self.assertNotIn("zbuild-cc:", r.stdout + r.stderr)
        lines = self.cc_lines()
        self.assertEqual(len([l for l in lines if " done " in l]), 6, "\n".join(lines))
        launched = [l.split("launched worker ")[1].split()[0] for l in d.lines if "launched worker" in l and
                    "(pid" in l]
        self.assertTrue(launched, d.output())
        self.assertTrue(all(launch_word in l for l in d.lines if "launched worker" in l and "(pid" in l))
        for wid in launched:
            d.wait_for(f"worker {wid} joined from")
        # Every compile ran on a launched worker.
        st = subprocess.run([ZBUILD, "status", "--daemon", self.addr, "--json"], capture_output=True, text=True)
        self.assertEqual(st.returncode, 0, st.stderr)
        import json
        status = json.loads(st.stdout)
        self.assertEqual(status["counters"]["dispatched"], 6)
        done = sum(w["tasks_done"] for w in status["workers"])
        self.assertLessEqual(done, 6)
        # Idle: each is released, and none is left.
        for wid in launched:
            d.wait_for(f"worker {wid} released", timeout=60)
        return launched


class LaunchPlainCommand(LaunchMixin, E2ECase):
    def test_local_command_grows_and_releases(self):
        env = self.runner_env()
        d = self.launch_daemon(f"{WORKER} --slots 1", env)
        launched = self.build_and_watch(d, "zbuild-worker")
        self.assertLessEqual(len(launched), 2)


class LaunchEnds(E2ECase):
    def test_stop_waits_for_everything_the_command_started(self):
        """A launch has ended when every process it started has, not when its shell has: here
        the command leaves a process that ignores SIGTERM and, once the worker has gone, writes
        a file half a second later. The daemon exits only after that file exists."""
        mark = os.path.join(self.tmp, "launch-ended")
        launch = (f"(trap '' TERM; while kill -0 $$ 2>/dev/null; do sleep 0.1; done; sleep 0.5; touch {mark}) "
                  f">/dev/null 2>&1 & exec {WORKER} --slots 1")
        d = Proc([ZBUILD, "daemon", "--listen", "127.0.0.1:0", "--store", os.path.join(self.tmp, "store"), "--launch",
                  launch, "--min-workers", "1", "--release-after", "0"], "launching daemon")
        self.addCleanup(d.stop)
        listening_address(d)
        d.wait_for("worker launch-1 joined from")
        self.assertFalse(os.path.exists(mark))
        os.kill(d.pid, signal.SIGTERM)
        self.assertEqual(d.p.wait(30), 0)
        # Looked at as soon as the daemon has exited (not once its output has ended: the
        # launched processes hold the same pipe).
        ended = os.path.exists(mark)
        d.stop()
        self.assertTrue(ended, "the daemon exited before everything its launch started:\n" + d.output())


class LaunchTemplate(E2ECase):
    def test_id_given_when_only_daemon_is_placeholder(self):
        """A template naming {daemon} but not {id} still gets --id (and keeps the worker:
        --release-after 0); the default --max-workers of a non-Slurm template is the constant."""
        d = Proc([ZBUILD, "daemon", "--listen", "127.0.0.1:0", "--store", os.path.join(self.tmp, "store"), "--launch",
                  f"{WORKER} --slots 1 --daemon {{daemon}}", "--min-workers", "1", "--release-after", "0"],
                 "launching daemon")
        self.addCleanup(d.stop)
        addr = listening_address(d)   # the real port, which {daemon} must name
        d.wait_for("zbuild daemon: --max-workers 4: the default (4)")
        d.wait_for("launched worker launch-1 (pid")
        line = next(l for l in d.lines if "launched worker launch-1 (pid" in l)
        self.assertTrue(line.endswith(f"--slots 1 --daemon {addr} --id launch-1"), line)
        d.wait_for("worker launch-1 joined from")


class LocalSlots(LaunchMixin, E2ECase):
    """zbuild daemon --local-slots: the slots run in the daemon's process, driven by its event loop and
    joined through in-process endpoints, sandboxed as a zbuild-worker's (bubblewrap by default)."""

    def slots_daemon(self, *extra, env=None):
        d = Proc([ZBUILD, "daemon", "--listen", "127.0.0.1:0", "--store", os.path.join(self.tmp, "store"),
                  "--local-slots", "2", *extra], "daemon with local slots", env=env)
        self.addCleanup(d.stop)
        return d

    def test_builds_on_the_daemons_own_slots(self):
        d = self.slots_daemon()
        self.addr = listening_address(d)
        d.wait_for("worker local-slots joined from")
        self.assertFalse([l for l in d.lines if "UNSANDBOXED" in l], d.output())   # bubblewrap by default
        proj = self.copy_example("make-small")
        env = self.runner_env(daemon=self.addr, root=proj)
        r = self.run_ok(["make", "-j4", *self.make_cc()], env, cwd=proj)
        self.assertNotIn("zbuild-cc:", r.stdout + r.stderr)
        done = [l for l in self.cc_lines() if " done " in l]
        self.assertEqual(len(done), 6, "\n".join(self.cc_lines()))
        st = subprocess.run([ZBUILD, "status", "--daemon", self.addr, "--json"], capture_output=True, text=True)
        self.assertEqual(st.returncode, 0, st.stderr)
        import json
        workers = json.loads(st.stdout)["workers"]
        self.assertEqual([w["id"] for w in workers], ["local-slots"])
        self.assertEqual(workers[0]["tasks_done"], 6)
        # Idle: its 2 slots and the one task it takes ahead, and what the daemon added of the rest
        # of its prefetch (16) while these compiles averaged under 25 ms and has not yet taken
        # back (one returning result at a time): between none and all 15.
        self.assertEqual(workers[0]["prefetch"], 16)
        self.assertTrue(0 <= workers[0]["short_credit"] <= 15, workers[0])
        self.assertEqual(workers[0]["credit"], 3 + workers[0]["short_credit"], workers[0])
        self.assertTrue(os.access(os.path.join(proj, "bin", "stats"), os.X_OK))   # real objects, linked
        self.assertEqual(d.stop(), 0, d.output())   # the slots' threads are joined; a clean exit

    def test_prefetch_in_the_worker_args_is_kept(self):
        """The local slots queue tasks ahead (--prefetch 16) unless --local-worker-args says otherwise."""
        d = self.slots_daemon("--local-worker-args", "--prefetch 0")
        self.addr = listening_address(d)
        d.wait_for("worker local-slots joined from")
        deadline = time.monotonic() + 30
        while True:   # the worker's credit follows its Hello at once, in one message
            st = subprocess.run([ZBUILD, "status", "--daemon", self.addr, "--json"], capture_output=True, text=True)
            self.assertEqual(st.returncode, 0, st.stderr)
            workers = json.loads(st.stdout)["workers"]
            if workers and workers[0]["credit"] > 0:
                break
            self.assertLess(time.monotonic(), deadline, st.stdout)
            time.sleep(0.05)
        self.assertEqual(workers[0]["credit"], 2, "2 slots, none taken ahead")

    def test_stops_at_once_killing_what_runs(self):
        """SIGTERM while a long task runs on a local slot: the task's processes are killed and the
        daemon exits 0 (it does not wait for the task: the harness would kill it after 15 s)."""
        marker = f"zb-slot-{os.getpid()}-{time.monotonic_ns()}"
        d = self.slots_daemon("--local-worker-args", "--allow-program sh")
        self.addr = listening_address(d)
        d.wait_for("worker local-slots joined from")
        graph = os.path.join(self.tmp, "long.json")
        with open(graph, "w") as f:
            json.dump({"version": 1, "root": self.tmp, "tasks": [
                {"id": "long", "argv": ["sh", "-c", f"sleep 300; echo {marker}"], "inputs": [], "outputs": []}]}, f)
        sub = Proc([ZBUILD, "submit", "--daemon", self.addr, graph], "submit")
        self.addCleanup(sub.stop)
        d.wait_for("accepted: 1 tasks")
        deadline = time.monotonic() + 30
        while not self.pids_with(marker):   # the task's shell is running
            self.assertLess(time.monotonic(), deadline, "the task never started:\n" + d.output())
            time.sleep(0.05)
        self.assertEqual(d.stop(), 0, d.output())
        self.assertEqual(self.pids_with(marker), [], "the task outlived the daemon")

    @staticmethod
    def pids_with(text):
        out = []
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        if text.encode() in f.read():
                            out.append(int(pid))
                except OSError:
                    pass
        return out

    def test_refuses_to_run_without_its_sandbox(self):
        """No bubblewrap on the daemon's PATH: the slots cannot be sandboxed, and the daemon stops
        with the reason instead of running tasks without it."""
        env = dict(os.environ, PATH="/nonexistent")
        d = self.slots_daemon(env=env)
        self.assertEqual(d.p.wait(30), 1, d.output())
        d.reader.join(5)
        self.assertIn("local slots: refusing to start: bubblewrap is not installed", d.output())

    def test_bad_worker_args_are_refused(self):
        for extra, needle in ((["--local-worker-args", "--daemon 10.0.0.1:7600"], "--daemon does not apply"),
                              (["--local-worker-args", "--sandbox maybe"], "--sandbox takes auto, bwrap or none"),
                              (["--local-worker-args", "--no-such-option"], "--no-such-option")):
            r = subprocess.run([ZBUILD, "daemon", "--listen", "127.0.0.1:0", "--store", os.path.join(self.tmp, "s2"),
                                "--local-slots", "2", *extra], capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn(needle, r.stderr)
        r = subprocess.run([ZBUILD, "daemon", "--local-worker-args", "--sandbox none"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--local-worker-args needs --local-slots", r.stderr)


def slurm_usable():
    """(True, "") when slurmctld/slurmd/srun exist (installing them with tools/setup --slurm
    when missing and allowed), else (False, why)."""
    if not all(have(t) for t in ("slurmctld", "slurmd", "srun")):
        if os.geteuid() != 0 and not have("sudo"):
            return False, "Slurm is not installed and this user cannot install it (tools/setup --slurm)"
        r = subprocess.run([os.path.join(REPO, "tools", "setup"), "--slurm"], capture_output=True, text=True)
        if r.returncode != 0 or not have("srun"):
            return False, "tools/setup --slurm failed: " + r.stderr[-500:]
    if os.geteuid() != 0:
        return False, "slurmd needs root here (SlurmdUser=root)"
    return True, ""


class LaunchThroughSlurm(LaunchMixin, E2ECase):
    def start_slurm(self):
        """slurmctld and slurmd in a network namespace of the test's own, so their fixed ports
        (Slurm cannot bind port 0 and report it) are nobody else's. Whatever talks to them (srun
        through the daemon, sinfo, squeue) runs in it too: prefix `self.netns`. The daemon's
        sockets are Unix sockets (local mode), reached by path from either namespace."""
        ok, why = slurm_usable()
        if not ok:
            self.fail(why)   # no test is skipped to get green
        # 192.0.2.1 (TEST-NET-1) on lo: slurmd resolves its wildcard listen address with
        # AI_ADDRCONFIG, which finds nothing where only loopback addresses are configured.
        holder = Proc(["unshare", "--net", "sh", "-c", "ip link set lo up && ip addr add 192.0.2.1/32 dev lo && "
                       "echo netns up && exec sleep infinity"], "network namespace")
        self.addCleanup(holder.stop)
        holder.wait_for("netns up")
        self.netns = ["nsenter", "-t", str(holder.pid), "-n"]
        conf_dir = os.path.join(self.tmp, "slurm")
        for sub in ("state", "spool"):
            os.makedirs(os.path.join(conf_dir, sub))
        ctld_port, slurmd_port = 6817, 6818   # Slurm's defaults, in the private namespace
        host = socket.gethostname()
        conf = os.path.join(conf_dir, "slurm.conf")
        with open(conf, "w") as f:
            f.write(f"""ClusterName=zbuildtest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/none
CredType=cred/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
StateSaveLocation={conf_dir}/state
SlurmdSpoolDir={conf_dir}/spool
SlurmctldPidFile={conf_dir}/slurmctld.pid
SlurmdPidFile={conf_dir}/slurmd.pid
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName={host} NodeAddr=127.0.0.1 CPUs={os.cpu_count()} State=UNKNOWN
PartitionName=zb Nodes={host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
""")
        env = self.runner_env(SLURM_CONF=conf)
        ctld = Proc([*self.netns, "slurmctld", "-D", "-f", conf], "slurmctld", env=env)
        self.addCleanup(ctld.stop)
        ctld.wait_for("Running as primary controller")
        slurmd = Proc([*self.netns, "slurmd", "-D", "-f", conf], "slurmd", env=env)
        self.addCleanup(slurmd.stop)
        slurmd.wait_for("slurmd started")
        return env

    def test_max_workers_defaults_to_the_clusters_cpus(self):
        env = self.start_slurm()
        d = Proc([*self.netns, ZBUILD, "daemon", "--listen", "127.0.0.1:0", "--store", os.path.join(self.tmp, "store"),
                  "--launch", f"srun -n1 -c1 {WORKER} --slots 1"], "launching daemon", env=env)
        self.addCleanup(d.stop)
        d.wait_for(f"zbuild daemon: --max-workers {os.cpu_count()}: the cluster's {os.cpu_count()} CPUs "
                   "(sinfo -h -o %C)")

    def test_srun_workers_take_tasks_and_are_released(self):
        env = self.start_slurm()
        d = self.launch_daemon(f"srun -n1 -c1 {WORKER} --slots 1", env, wrap=self.netns)
        launched = self.build_and_watch(d, "srun")
        self.assertLessEqual(len(launched), 2)
        # srun ended each job: Slurm's queue empties (slurmctld learns it asynchronously; no
        # log line to wait on, so its state is polled, with a deadline).
        deadline = time.monotonic() + 60
        while True:
            q = subprocess.run([*self.netns, "squeue", "-h", "-t", "PD,R"], env=env, capture_output=True, text=True)
            if q.stdout.strip() == "" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(q.stdout.strip(), "")


if __name__ == "__main__":
    unittest.main()
