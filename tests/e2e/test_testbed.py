"""The multi-host test bed (tests/e2e/testbed.py): hosts in network namespaces on a bridge of
their own, each with its own view of /usr, and a real build of examples/shapes through a
CURVE-keyed daemon on one host with workers on two others (one behind a delayed link).
Needs root (network and mount namespaces), iproute2, util-linux, bubblewrap, ping, g++-11 and
clang-16 (tools/setup installs them)."""

import json
import os
import re
import subprocess
import unittest

from harness import E2ECase, CurveKeys, workers_used
from testbed import TestBed, TestBedError

DELAY_MS = 5

# The worker's sandbox (src/worker/executor.cc), enough of it to show what /usr it sees.
BWRAP = ["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin",
         "--symlink", "usr/sbin", "/sbin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
         "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--"]

CONNECT = """
import socket, sys
s = socket.socket()
s.settimeout(10)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print("connected")
except OSError as e:
    print("error", e.errno, e)
"""


def rtt_min_ms(ping_output):
    m = re.search(r"rtt min/avg/max/mdev = ([\d.]+)/", ping_output)
    if not m:
        raise AssertionError(f"no rtt in ping output:\n{ping_output}")
    return float(m.group(1))


def leftovers(tag):
    """Namespaces, links and state the bed with `tag` left behind."""
    out = [n for n in os.listdir("/run/netns") if tag in n] if os.path.isdir("/run/netns") else []
    out += [n for n in os.listdir("/sys/class/net") if tag in n]
    if os.path.exists(f"/run/zbuild-testbed/{tag}"):
        out.append(f"/run/zbuild-testbed/{tag}")
    return out


class TestBedHosts(E2ECase):
    @classmethod
    def setUpClass(cls):
        cls.bed = TestBed(label="test_testbed")
        try:
            cls.a = cls.bed.add_host("a")                                  # the daemon's host
            cls.b = cls.bed.add_host("b")                                  # workers' hosts
            cls.c = cls.bed.add_host("c", delay_ms=DELAY_MS)
            cls.nc = cls.bed.add_host("nocc", usr="nocompiler")
            cls.g11 = cls.bed.add_host("gcc11", usr="gcc11")
            cls.c16 = cls.bed.add_host("clang16", usr="clang16")
        except BaseException:
            cls.bed.close()
            raise

    @classmethod
    def tearDownClass(cls):
        tag = cls.bed.tag
        cls.bed.close()
        left = leftovers(tag)
        if left:
            raise AssertionError(f"the test bed left {left}")

    def sh(self, host, script, **kw):
        return host.run(["sh", "-c", script], cwd=self.tmp, **kw)

    def test_addresses_and_links(self):
        hosts = list(self.bed.hosts.values())
        addrs = [h.addr for h in hosts]
        self.assertEqual(len(set(addrs + [self.bed.gateway])), len(hosts) + 1, addrs)
        for h in hosts:
            r = h.run(["ip", "-4", "-o", "addr", "show"])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn(f"inet {h.addr}/", r.stdout)
            self.assertEqual(sorted(l.split()[1] for l in r.stdout.splitlines()), ["eth0", "lo"], r.stdout)
            # The subnet is all a host can reach: no default route, no way to the machine's own
            # addresses but the bridge's.
            r = h.run(["ip", "-4", "route", "show"])
            self.assertEqual([l.split()[0] for l in r.stdout.splitlines()], [str(self.bed.subnet)], r.stdout)
        r = self.b.run(["ping", "-c", "1", "-W", "5", self.a.addr])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_nocompiler_host_has_no_compiler_even_in_bubblewrap(self):
        probe = ("for p in gcc g++ cc c++ cpp clang clang++ clang-16 g++-12 g++-11 as ld x86_64-linux-gnu-g++; do "
                 "command -v $p && echo FOUND $p; done; "
                 "for d in /usr/lib/gcc /usr/libexec/gcc /usr/lib/llvm-14 /usr/lib/llvm-16; do "
                 "test -e $d && echo FOUND $d; done; g++ --version")
        for argv in (["sh", "-c", probe], [*BWRAP, "sh", "-c", probe]):
            r = self.nc.run(argv, cwd=self.tmp)
            self.assertNotEqual(r.returncode, 0, r.stdout)
            self.assertNotIn("FOUND", r.stdout)
            self.assertIn("g++: not found", r.stderr)
            # Not a broken system: the rest of /usr is there.
            self.assertEqual(self.nc.run([*argv[:-1], "ls /usr/bin/python3 && ldd --version"]).returncode, 0)
        # The client's own view is untouched.
        self.assertEqual(subprocess.run(["g++", "--version"], capture_output=True).returncode, 0)

    def test_gcc11_host(self):
        for argv in (["sh", "-c", "g++ -dumpversion; gcc -dumpversion; cc -dumpversion; c++ -dumpversion"],
                     [*BWRAP, "sh", "-c", "g++ -dumpversion; gcc -dumpversion; cc -dumpversion; c++ -dumpversion"]):
            r = self.g11.run(argv)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.split(), ["11"] * 4)
        r = self.sh(self.g11, "command -v g++-12 gcc-12 clang; ls -d /usr/lib/gcc/x86_64-linux-gnu/*")
        self.assertEqual(r.stdout.split(), ["/usr/lib/gcc/x86_64-linux-gnu/11"], r.stdout + r.stderr)
        with open(os.path.join(self.tmp, "v.cc"), "w") as f:
            f.write("#include <vector>\nint main() { std::vector<int> v{__GNUC__}; return v[0] == 11 ? 0 : 1; }\n")
        r = self.sh(self.g11, "g++ -O1 v.cc -o v && ./v")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_clang16_host(self):
        r = self.c16.run(["clang", "--version"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout.splitlines()[0], r"clang version 16\.")
        r = self.c16.run([*BWRAP, "clang++", "--version"])
        self.assertRegex(r.stdout, r"clang version 16\.", r.stderr)
        r = self.sh(self.c16, "for p in gcc g++ cc c++ cpp clang-14 g++-12; do command -v $p && echo FOUND $p; done; "
                              "ls /usr/lib/gcc/x86_64-linux-gnu/*/cc1plus 2>/dev/null && echo FOUND cc1plus; true")
        self.assertNotIn("FOUND", r.stdout)
        with open(os.path.join(self.tmp, "h.cc"), "w") as f:
            f.write("#include <string>\nint main() { return std::string(\"x\").size() == 1 && __clang_major__ == 16"
                    " ? 0 : 1; }\n")
        r = self.sh(self.c16, "clang++ h.cc -o h && ./h")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_delay_shows_in_the_round_trip(self):
        # Each direction of c's link waits DELAY_MS: a round trip to an undelayed host takes at
        # least twice that. (A lower bound only: nothing here asserts how fast anything is.)
        r = self.c.run(["ping", "-c", "3", "-i", "0.2", "-W", "5", self.a.addr])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertGreaterEqual(rtt_min_ms(r.stdout), 2 * DELAY_MS, r.stdout)
        r = subprocess.run(["ping", "-c", "3", "-i", "0.2", "-W", "5", self.c.addr], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertGreaterEqual(rtt_min_ms(r.stdout), 2 * DELAY_MS, r.stdout)

    def test_build_across_hosts_with_curve(self):
        keys = CurveKeys(self.tmp, workers=("b", "c"))
        c = self.cluster
        c.start_daemon(keys.daemon_args(), host=self.a)
        self.assertEqual(c.addr.rsplit(":", 1)[0], self.a.addr)
        # The daemon is on a's address, reachable from b over the bridge; b's own loopback has
        # nothing on that port (a's loopback is a's alone).
        r = self.b.run(["python3", "-c", CONNECT, self.a.addr, str(c.port)])
        self.assertEqual(r.stdout.strip(), "connected", r.stderr)
        r = self.b.run(["python3", "-c", CONNECT, "127.0.0.1", str(c.port)])
        self.assertTrue(r.stdout.startswith("error"), r.stdout + r.stderr)
        before = {h.name: self.bytes_through(h) for h in (self.a, self.b, self.c)}

        c.start_worker(name="b", host=self.b, extra=keys.worker_args("b"))
        c.start_worker(name="c", host=self.c, extra=keys.worker_args("c"))
        proj = self.copy_example("shapes")
        r, m = c.submit(os.path.join(proj, "graph.json"), *keys.client_args(), "--local-slots", "0")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + c.daemon.output() + "\n".join(
            f"--- worker {n}:\n" + w.output() for n, w in c.workers.items()))
        self.assertEqual(m["failed_tasks"], 0)
        self.assertEqual(m["executed_tasks"], m["total_tasks"])
        used = workers_used(r.stdout)
        self.assertEqual(set(used), {"b", "c"}, r.stdout)
        self.assertEqual(sum(used.values()), m["total_tasks"], r.stdout)
        run = subprocess.run([os.path.join(proj, "out", "bin", "shapes")], capture_output=True, text=True)
        self.assertEqual(run.returncode, 0, run.stderr)
        # Everything went over the bridge: each host's port carried the build's traffic.
        for h in (self.a, self.b, self.c):
            self.assertGreater(self.bytes_through(h) - before[h.name], 10000, h.name)

    def test_workers_start_on_every_profile(self):
        """What a test of toolchain transfer needs: a keyed worker starts and joins from a host
        without a compiler, or with another one. (Building there fetches the client's toolchain,
        ~130 MB the first time: too slow for this test; docs/testbed.md.)"""
        hosts = (self.nc, self.g11, self.c16)
        keys = CurveKeys(self.tmp, workers=tuple(h.name for h in hosts))
        c = self.cluster
        c.start_daemon(keys.daemon_args(), host=self.a)
        for h in hosts:
            c.start_worker(name=h.name, host=h, extra=keys.worker_args(h.name))   # waits for "joined"
        self.assertEqual(sorted(w["id"] for w in self.status(c, keys)["workers"]), sorted(h.name for h in hosts))

    @staticmethod
    def status(cluster, keys):
        r = subprocess.run([cluster.zbuild, "status", "--daemon", cluster.addr, "--json", *keys.client_args()],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    @staticmethod
    def bytes_through(host):
        base = f"/sys/class/net/{host.veth}/statistics"
        total = 0
        for f in ("rx_bytes", "tx_bytes"):
            with open(os.path.join(base, f)) as fh:
                total += int(fh.read())
        return total


class TestBedCleanUp(unittest.TestCase):
    def test_failure_leaves_nothing(self):
        """A host that cannot be made (an unknown profile, a duplicate) fails loudly, and closing
        the bed still removes everything; a second close is harmless."""
        bed = TestBed(label="test_testbed cleanup")
        tag = bed.tag
        try:
            h = bed.add_host("x", delay_ms=1)
            p = h.popen(["python3", "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
            with self.assertRaises(TestBedError):
                bed.add_host("x")
            with self.assertRaises(TestBedError):
                bed.add_host("y", usr="windows")
        finally:
            bed.close()
        bed.close()
        self.assertIsNotNone(p.poll(), "a process the bed started outlived it")
        p.stdin.close()
        self.assertEqual(leftovers(tag), [])


if __name__ == "__main__":
    unittest.main()
