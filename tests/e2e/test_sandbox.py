"""Worker safety: tasks run only allow-listed programs, inside a sandbox where only their own
directory is writable, other files are invisible and there is no network. The worker keeps
serving after each refusal."""

import json
import os
import shutil
import socket
import unittest

from harness import E2ECase

NET_C = r"""
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char** argv) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons(atoi(argv[1]));
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (connect(s, (struct sockaddr*)&a, sizeof a) != 0) { perror("connect"); return 1; }
  puts("connected");
  return 0;
}
"""


class Sandbox(E2ECase):
    def test_hostile_tasks_fail_with_a_reason_and_the_worker_keeps_serving(self):
        if not shutil.which("bwrap"):
            self.fail("bubblewrap is required (tools/setup installs it)")
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        self.addCleanup(listener.close)
        port = listener.getsockname()[1]
        outside = os.path.join(self.tmp, "outside-secret.txt")
        with open(outside, "w") as f:
            f.write("do not read me\n")
        escape = os.path.join(self.tmp, "escaped.txt")
        proj = os.path.join(self.tmp, "proj")
        os.makedirs(proj)
        with open(os.path.join(proj, "net.c"), "w") as f:
            f.write(NET_C)
        with open(os.path.join(proj, "ok.c"), "w") as f:
            f.write("int ok(void) { return 1; }\n")

        def task(tid, argv, inputs=(), outputs=()):
            return {"id": tid, "argv": argv, "inputs": list(inputs), "outputs": list(outputs)}

        hostile = {
            "write-outside": task("write-outside", ["sh", "-c", f"echo pwned > {escape}"]),
            "read-outside": task("read-outside", ["sh", "-c", f"cat {outside}"]),
            "network": task("network", ["sh", "-c", f"gcc net.c -o net && ./net {port}"], inputs=["net.c"]),
            "not-allowed": task("not-allowed", ["python3", "-c", "print('hi')"]),
        }
        c = self.cluster
        c.start_daemon()
        w = c.start_worker(slots=1, name="guarded", allow=("sh",))
        w.wait_for("sandbox: bubblewrap")
        for name, t in hostile.items():
            g = os.path.join(proj, f"{name}.json")
            with open(g, "w") as f:
                json.dump({"version": 1, "tasks": [t]}, f)
            # No local slot: the point is what the worker refuses, not where else it could run.
            r, m = c.submit(g, "--local-slots", "0")
            self.assertEqual(r.returncode, 1, f"{name}: {r.stdout}{r.stderr}")
            self.assertEqual(m["failed_tasks"], 1, name)
            err = r.stderr
            if name == "write-outside":
                self.assertFalse(os.path.exists(escape), "the task wrote outside its sandbox")
                self.assertTrue("Read-only file system" in err or "No such file or directory" in err, err)
            elif name == "read-outside":
                self.assertNotIn("do not read me", r.stdout + err)
                self.assertIn("No such file or directory", err)
            elif name == "network":
                self.assertIn("connect", err)
                self.assertNotIn("connected", r.stdout)
            else:
                self.assertIn("not allow-listed", err)
            self.assertIsNone(w.p.poll(), f"the worker died after {name}")
        # The same worker still builds.
        g = os.path.join(proj, "ok.json")
        with open(g, "w") as f:
            json.dump({"version": 1, "tasks": [task("ok.o", ["gcc", "-c", "ok.c", "-o", "ok.o"], ["ok.c"],
                                                    ["ok.o"])]}, f)
        r, m = c.submit(g)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(os.path.exists(os.path.join(proj, "ok.o")))


if __name__ == "__main__":
    unittest.main()
