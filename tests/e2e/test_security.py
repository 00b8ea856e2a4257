"""CurveZMQ: only allow-listed workers and clients get in, with keys a build succeeds, and
the bytes on the wire are not plaintext. Safe defaults for non-loopback addresses."""

import grp
import os
import pwd
import socket
import subprocess
import threading
import unittest

from harness import E2ECase, Proc, WORKER, ZBUILD, run_as_nobody, bind_port_block, listening_address

MARKER = "zbuild_secret_marker_4f1c"


class Recorder:
    """A TCP relay for PORT and PORT+1 (ventilator and sink) that records every byte."""

    def __init__(self, target_port):
        self.port, self.servers = bind_port_block(2, listen=True)
        self.data = bytearray()
        self.lock = threading.Lock()
        for off, s in enumerate(self.servers):
            threading.Thread(target=self._accept, args=(s, target_port + off), daemon=True).start()

    def _accept(self, srv, target):
        while True:
            try:
                a, _ = srv.accept()
            except OSError:
                return
            b = socket.create_connection(("127.0.0.1", target))
            for x, y in ((a, b), (b, a)):
                threading.Thread(target=self._pipe, args=(x, y), daemon=True).start()

    def _pipe(self, src, dst):
        try:
            while True:
                chunk = src.recv(65536)
                if not chunk:
                    break
                with self.lock:
                    self.data += chunk
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def seen(self, text):
        with self.lock:
            return text.encode() in self.data

    def close(self):
        for s in self.servers:
            s.close()


class Curve(E2ECase):
    def keygen(self, name):
        r = subprocess.run([ZBUILD, "keygen", "--dir", os.path.join(self.tmp, "keys"), name], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        key = os.path.join(self.tmp, "keys", name + ".key")
        self.assertEqual(os.stat(key).st_mode & 0o077, 0, "secret key readable by others")
        with open(os.path.join(self.tmp, "keys", name + ".pub")) as f:
            return key, os.path.join(self.tmp, "keys", name + ".pub"), f.read().strip()

    def project(self):
        proj = os.path.join(self.tmp, "proj")
        os.makedirs(proj, exist_ok=True)
        with open(os.path.join(proj, "a.c"), "w") as f:
            f.write(f'const char* {MARKER}(void) {{ return "{MARKER}"; }}\n')
        import json
        with open(os.path.join(proj, "graph.json"), "w") as f:
            json.dump({"version": 1, "tasks": [{"id": "a.o", "argv": ["gcc", "-c", "a.c", "-o", "a.o"],
                                                "inputs": ["a.c"], "outputs": ["a.o"]}]}, f)
        return proj

    def run_build(self, keys, via_recorder, expect_plaintext):
        c = self.cluster
        dkey, dpub, _ = keys["daemon"]
        wkey, _, wpub_text = keys["worker"]
        ckey, _, cpub_text = keys["client"]
        allow_w = os.path.join(self.tmp, "workers.allow")
        allow_c = os.path.join(self.tmp, "clients.allow")
        with open(allow_w, "w") as f:
            f.write(f"# build farm\n{wpub_text} worker-1\n")
        with open(allow_c, "w") as f:
            f.write(f"{cpub_text}\n")
        # Without keys a loopback daemon binds no TCP port (private Unix sockets); the plaintext
        # control asks for plain TCP explicitly.
        extra = ["--curve-key", dkey, "--allow-workers", allow_w, "--allow-clients", allow_c] if not expect_plaintext \
            else ["--insecure"]
        c.start_daemon(extra)
        rec = Recorder(c.port) if via_recorder else None
        wargs = ["--curve-key", wkey, "--daemon-key", dpub] if not expect_plaintext else []
        addr = f"127.0.0.1:{rec.port}" if rec else c.addr
        w = Proc([WORKER, "--daemon", addr, "--slots", "1", "--work-dir", os.path.join(self.tmp, "w"), "--id", "good",
                  *wargs], "worker good")
        c.workers["good"] = w
        c.daemon.wait_for("worker good joined")
        proj = self.project()
        cargs = ["--curve-key", ckey, "--daemon-key", dpub] if not expect_plaintext else []
        r, m = c.submit(os.path.join(proj, "graph.json"), *cargs)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + c.daemon.output())
        self.assertEqual(m["executed_tasks"], 1)
        if rec:
            self.assertEqual(rec.seen(MARKER), expect_plaintext)
            rec.close()
        return c

    def keys(self):
        return {n: self.keygen(n) for n in ("daemon", "worker", "client", "stranger")}

    def test_plaintext_control(self):
        """Without keys the source text crosses the wire in clear: the check below can fail."""
        self.run_build(self.keys(), via_recorder=True, expect_plaintext=True)

    def test_keys_encrypt_and_admit_only_the_allow_listed(self):
        keys = self.keys()
        c = self.run_build(keys, via_recorder=True, expect_plaintext=False)
        dpub = keys["daemon"][1]
        skey = keys["stranger"][0]
        # A worker with a key not on the list is refused, logged with its key, and gets nothing.
        bad = Proc([WORKER, "--daemon", c.addr, "--slots", "1", "--work-dir", os.path.join(self.tmp, "bad"),
                    "--id", "intruder", "--curve-key", skey, "--daemon-key", dpub], "worker intruder")
        try:
            c.daemon.wait_for("refused a worker", timeout=30)
            self.assertIn(keys["stranger"][2], c.daemon.output())
            self.assertNotIn("worker intruder joined", c.daemon.output())
            bad.wait_for("refused this peer's CurveZMQ key", timeout=30)   # and the worker is told so
        finally:
            bad.stop()
        # A worker with no keys at all gets nothing, and is told the daemon wants keys.
        nokey = Proc([WORKER, "--daemon", c.addr, "--slots", "1", "--work-dir", os.path.join(self.tmp, "nk"),
                      "--id", "nokey"], "worker nokey")
        try:
            nokey.wait_for("requires CurveZMQ keys", timeout=30)
            self.assertNotIn("worker nokey joined", c.daemon.output())
        finally:
            nokey.stop()
        # The daemon's own user reaches it through its private Unix socket, keys or not (that user
        # can read the daemon's secret key anyway). Everyone else speaks CURVE over TCP: another
        # local user with a stranger's key, or none, is refused (no status, no build) and told
        # why; with an allow-listed key, admitted.
        c.daemon.wait_for("this user's clients also at")
        self.assertIn("workers", c.status())
        for args, why in ((["--curve-key", "stranger.key", "--daemon-key", "daemon.pub"],
                           "refused this peer's CurveZMQ key"),
                          ([], "requires CurveZMQ keys"),
                          (["--curve-key", "client.key", "--daemon-key", "daemon.pub"], None)):
            r = run_as_nobody([ZBUILD, "status", "--daemon", c.addr, *args], os.path.join(self.tmp, "nobody"),
                              {"stranger.key": skey, "client.key": keys["client"][0], "daemon.pub": dpub})
            if why:
                self.assertNotEqual(r.returncode, 0, r.stdout)
                self.assertIn(why, r.stderr)
            else:
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("workers", r.stdout)
        # A client key is not a worker key: it cannot join as a worker.
        ckey = keys["client"][0]
        imp = Proc([WORKER, "--daemon", c.addr, "--slots", "1", "--work-dir", os.path.join(self.tmp, "imp"),
                    "--id", "impostor", "--curve-key", ckey, "--daemon-key", dpub], "worker impostor")
        try:
            c.daemon.wait_for("refused a worker", timeout=30, count=2)
            self.assertNotIn("worker impostor joined", c.daemon.output())
        finally:
            imp.stop()
        # SIGHUP re-reads the lists: once allowed, the stranger joins.
        with open(os.path.join(self.tmp, "workers.allow"), "a") as f:
            f.write(keys["stranger"][2] + "\n")
        os.kill(c.daemon.pid, 1)
        c.daemon.wait_for("allow-lists loaded: 2 worker key(s)", timeout=30)
        late = Proc([WORKER, "--daemon", c.addr, "--slots", "1", "--work-dir", os.path.join(self.tmp, "late"),
                     "--id", "welcome", "--curve-key", skey, "--daemon-key", dpub], "worker welcome")
        c.workers["welcome"] = late
        c.daemon.wait_for("worker welcome joined", timeout=30)


class SafeDefaults(E2ECase):
    def test_non_loopback_needs_keys_or_insecure(self):
        r = subprocess.run([ZBUILD, "daemon", "--listen", "0.0.0.0:0", "--store", os.path.join(self.tmp, "s")],
                           capture_output=True, text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("needs CurveZMQ keys", r.stderr)
        d = Proc([ZBUILD, "daemon", "--listen", "0.0.0.0:0", "--store", os.path.join(self.tmp, "s2"),
                  "--insecure"], "insecure daemon")
        try:
            d.wait_for("WITHOUT authentication", timeout=30)
            addr = listening_address(d)
            self.assertTrue(addr.startswith("0.0.0.0:") and addr != "0.0.0.0:0", addr)
        finally:
            d.stop()


    def test_store_folder_others_can_change_is_refused(self):
        # Open to others (not sticky): anyone could rename the store and put theirs in its place.
        shared = os.path.join(self.tmp, "shared")
        os.makedirs(shared)
        os.chmod(shared, 0o777)
        r = subprocess.run([ZBUILD, "daemon", "--listen", "127.0.0.1:0", "--store", os.path.join(shared, "store")],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("store " + os.path.join(shared, "store") + ": refusing to use it", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(shared, "store", "CURRENT")))
        # The store folder itself open to others: refused too.
        own = os.path.join(self.tmp, "own")
        os.makedirs(own, mode=0o700)
        os.makedirs(os.path.join(own, "store"))
        os.chmod(os.path.join(own, "store"), 0o777)
        r = subprocess.run([ZBUILD, "daemon", "--listen", "127.0.0.1:0", "--store", os.path.join(own, "store")],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("is not this user's alone", r.stderr)

    @staticmethod
    def private_group(gid):
        """The user-private-group rule (common/owner.h), read from the user database here."""
        me = pwd.getpwuid(os.geteuid())
        g = grp.getgrgid(gid)
        others = any(p.pw_gid == gid and p.pw_uid != me.pw_uid for p in pwd.getpwall())
        return gid == me.pw_gid and g.gr_name == me.pw_name and set(g.gr_mem) <= {me.pw_name} and not others

    def test_store_folder_its_users_private_group_may_write_is_used(self):
        """umask 002 under the user-private-group convention: a store folder made 0775 whose group
        holds no one else is the user's alone; the same folder with a shared group is refused."""
        home = os.path.join(self.tmp, "upg")
        os.makedirs(os.path.join(home, "store"))
        for d in (home, os.path.join(home, "store")):
            os.chmod(d, 0o775)
        gid = os.stat(home).st_gid
        d = Proc([ZBUILD, "daemon", "--listen", "127.0.0.1:0", "--store", os.path.join(home, "store")], "daemon")
        self.addCleanup(d.stop)
        if self.private_group(gid):
            listening_address(d)
            self.assertEqual(d.stop(), 0, d.output())
            self.assertTrue(os.path.exists(os.path.join(home, "store", "CURRENT")))
        else:
            self.assertEqual(d.p.wait(30), 1, d.output())
        if os.geteuid() == 0:   # nogroup: a group the user is not alone in (its members' files' group)
            self.assertTrue(self.private_group(gid), "root's group holds no one else here")
            os.chown(home, 0, 65534)
            r = subprocess.run([ZBUILD, "daemon", "--listen", "127.0.0.1:0", "--store", os.path.join(home, "store")],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("is not this user's alone", r.stderr)


if __name__ == "__main__":
    unittest.main()
