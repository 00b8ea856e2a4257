// The slot sandbox, for real: tasks run through one resident zbuild-sandbox helper inside
// bubblewrap (tools/setup installs it). What a task sees, what it can do, and what it leaves.
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/fs.h"
#include "common/temp_dir.h"
#include "worker/executor.h"
#include "worker/sandbox_protocol.h"
#include "worker/slot_sandbox.h"

using namespace zbuild;
using namespace zbuild::worker;
namespace fs = std::filesystem;
namespace sp = zbuild::sandbox_protocol;

namespace {

// A helper per test case, with a numbered folder per task.
struct Slot {
  TempDir t{"slot-sandbox"};
  std::unique_ptr<SlotSandbox> s;
  int n = 0;
  Slot() {
    std::string bwrap = probe_bwrap();
    REQUIRE_FALSE(bwrap.empty());
    auto r = SlotSandbox::start({bwrap, ZBUILD_SANDBOX_HELPER, t.path / "area"});
    if (!r.ok()) FAIL(r.error().message);
    s = std::move(r.value());
  }
  SandboxTask task(std::vector<std::string> argv) {
    SandboxTask k;
    k.folder = "task-" + std::to_string(++n);
    fs::create_directories(s->area() / k.folder);
    k.mount_at = "/home/u/proj";
    k.cwd = "/home/u/proj";
    k.argv = std::move(argv);
    k.env = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/home/u/proj"};
    k.timeout_ms = 20000;
    return k;
  }
  ProcessResult run(const SandboxTask& k) {
    auto r = s->run(k);
    if (!r.ok()) FAIL(r.error().message);
    return r.value();
  }
  ProcessResult sh(const std::string& script) { return run(task({"sh", "-c", script})); }
};

// Processes on this host whose command line contains `needle`.
int processes_with(const std::string& needle) {
  int found = 0;
  DIR* d = ::opendir("/proc");
  REQUIRE(d);
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    // A process may end while it is read (its cmdline then fails to read): it has none.
    auto text = read_file(std::string("/proc/") + e->d_name + "/cmdline");
    if (!text.ok()) continue;
    std::string cmd = std::move(text.value());
    for (auto& c : cmd) c = c == '\0' ? ' ' : c;
    if (cmd.find(needle) != std::string::npos) ++found;
  }
  ::closedir(d);
  return found;
}

}  // namespace

TEST_CASE("sandbox protocol: a request round-trips, and every malformed body is refused") {
  SandboxTask k;
  k.folder = "f1";
  k.mount_at = "/home/u/proj";
  k.cwd = "/home/u/proj/sub";
  k.argv = {"gcc", "-c", "a.c"};
  k.env = {"PATH=/usr/bin", "A=b"};
  k.timeout_ms = 1234;
  k.memory_limit_mb = 2;
  std::string body = encode_request_body(k);
  std::vector<char*> argv(16), env(16);
  auto parse = [&](std::string b) {
    sp::Request r;
    bool ok = sp::parse_request(reinterpret_cast<uint8_t*>(b.data()), static_cast<uint32_t>(b.size()), &r, argv.data(),
                                16, env.data(), 16);
    return std::make_pair(ok, r);
  };
  auto [ok, r] = parse(body);
  REQUIRE(ok);
  CHECK(r.timeout_ms == 1234);
  CHECK(r.memory_limit_bytes == 2u << 20);
  CHECK(std::string(r.folder) == "f1");
  CHECK(std::string(r.cwd) == "/home/u/proj/sub");
  REQUIRE(r.argc == 3);
  CHECK(std::string(r.argv[2]) == "a.c");
  CHECK(r.argv[3] == nullptr);
  CHECK(std::string(r.env[1]) == "A=b");
  // Every truncation, a trailing byte, a NUL inside a string.
  for (size_t n = 0; n < body.size(); ++n) CHECK_FALSE(parse(body.substr(0, n)).first);
  CHECK_FALSE(parse(body + "x").first);
  std::string nul = body;
  nul[nul.find("gcc") + 1] = '\0';
  CHECK_FALSE(parse(nul).first);
  // Paths that leave the slot's area or are not clean.
  for (auto [folder, at] : std::vector<std::pair<std::string, std::string>>{
           {"..", "/a"}, {"a/b", "/a"}, {"", "/a"}, {"f", "a"}, {"f", "/a/../b"}, {"f", "/a//b"}, {"f", "/"}, {"f", "/a/"}}) {
    SandboxTask bad = k;
    bad.folder = folder;
    bad.mount_at = at;
    CHECK_FALSE(parse(encode_request_body(bad)).first);
  }
  SandboxTask noeq = k;
  noeq.env = {"NOEQUALS"};
  CHECK_FALSE(parse(encode_request_body(noeq)).first);
  SandboxTask many = k;
  many.argv.assign(16, "x");   // no room for the terminating null pointer
  CHECK_FALSE(parse(encode_request_body(many)).first);
}

TEST_CASE("slot sandbox: output, exit code, signal, a missing program, the environment exactly") {
  Slot s;
  auto r = s.sh("echo out; echo err >&2; exit 3");
  CHECK(r.out == "out\n");
  CHECK(r.err == "err\n");
  CHECK(r.exit_code == 3);
  CHECK_FALSE(r.timed_out);
  // The command is not its namespace's init: a signal ends it as it would anywhere.
  CHECK(s.sh("kill -KILL $$").exit_code == 128 + SIGKILL);
  CHECK(s.sh("kill -SEGV $$").exit_code == 128 + SIGSEGV);
  auto missing = s.run(s.task({"no-such-program-zb"}));
  CHECK(missing.exit_code == 127);
  CHECK(missing.err.find("cannot run 'no-such-program-zb': No such file or directory") != std::string::npos);
  auto k = s.task({"env"});
  k.env = {"PATH=/usr/bin:/bin", "HOME=/home/u/proj", "TMPDIR=/home/u/proj/.zbuild-tmp", "FOO=bar baz"};
  auto e = s.run(k);
  CHECK(e.out == "PATH=/usr/bin:/bin\nHOME=/home/u/proj\nTMPDIR=/home/u/proj/.zbuild-tmp\nFOO=bar baz\n");
  // The working folder is the task's folder, at the path asked for.
  auto w = s.run(s.task({"sh", "-c", "pwd; echo hi > made.txt"}));
  CHECK(w.out == "/home/u/proj\n");
  CHECK(fs::exists(s.s->area() / ("task-" + std::to_string(s.n)) / "made.txt"));
}

TEST_CASE("slot sandbox: a task sees neither the helper nor other tasks' folders, and writes only its own") {
  Slot s;
  auto other = s.task({"true"});
  std::ofstream(s.s->area() / other.folder / "secret-of-other-task") << "secret\n";
  auto r = s.sh("test -e /.zbuild && echo zbuild-visible; ls -a /; cat /proc/self/mountinfo");
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("zbuild-visible") == std::string::npos);
  CHECK(r.out.find(".zbuild") == std::string::npos);
  CHECK(r.out.find(other.folder) == std::string::npos);
  CHECK(r.out.find("/home/u/proj") != std::string::npos);
  CHECK(s.sh("cat /.zbuild/slot/" + other.folder + "/secret-of-other-task").exit_code != 0);
  CHECK(s.sh("ls /.zbuild/zbuild-sandbox").exit_code != 0);
  // The helper (PID 1 of the slot) is not even listed in the task's /proc; the task's own are.
  CHECK(s.sh("test -e /proc/1 && echo helper-visible; cat /proc/1/cmdline; test -e /proc/self/status && echo self").out ==
        "self\n");
  // Nor can it be signalled (the kernel drops what a namespace's processes send their init).
  CHECK(s.sh("kill -KILL 1; kill -TERM 1; echo sent").out == "sent\n");
  CHECK(s.sh("echo alive").out == "alive\n");
  CHECK(s.s->restarts() == 0);
  // Read-only everywhere but the task's folder (and /dev/shm, private to the task).
  for (std::string w : {"echo x > /etc/x", "touch /usr/x", "mkdir /newdir", "touch /dev/x", "echo x > /home/x",
                        "echo zb > /proc/sys/kernel/hostname"}) {
    auto f = s.sh(w);
    INFO(w << ": " << f.err);
    CHECK(f.exit_code != 0);
    CHECK(f.err.find("Read-only file system") != std::string::npos);
  }
  CHECK(s.sh("echo x > /dev/null && echo ok > here.txt && echo shm > /dev/shm/x && cat /dev/shm/x").out == "shm\n");
  CHECK(s.sh("cat /dev/shm/x").exit_code != 0);   // not left for the next task
}

TEST_CASE("slot sandbox: System V IPC objects a task made are gone before the next task") {
  Slot s;
  auto made = s.sh("ipcmk -M 4096 >/dev/null && ipcmk -Q >/dev/null && ipcmk -S 2 >/dev/null && ipcs -m -q -s | grep -c '^0x'");
  REQUIRE(made.exit_code == 0);
  CHECK(made.out == "3\n");
  auto next = s.sh("ipcs -m -q -s | grep -c '^0x'; true");
  CHECK(next.out == "0\n");
}

TEST_CASE("slot sandbox: the task folder follows the task: a new place, a replaced folder, the same one reused") {
  Slot s;
  auto a = s.task({"sh", "-c", "echo a > mark; pwd"});
  CHECK(s.run(a).out == "/home/u/proj\n");
  // Another place: the old one is unbound and the folders made for it are gone.
  auto b = s.task({"sh", "-c", "pwd; test -e /home && echo home-left; test -e mark && echo old-folder"});
  b.mount_at = b.cwd = "/srv/w/b";
  auto rb = s.run(b);
  CHECK(rb.out == "/srv/w/b\n");
  // The same folder reused under a new name (as the executor does) keeps its binding and content.
  fs::rename(s.s->area() / b.folder, s.s->area() / "renamed");
  std::ofstream(s.s->area() / "renamed" / "new-file") << "n\n";
  auto c = b;
  c.folder = "renamed";
  c.argv = {"cat", "new-file"};
  CHECK(s.run(c).out == "n\n");
  // A folder replaced by a new one at the same place: the new one is what the task sees.
  fs::remove_all(s.s->area() / "renamed");
  fs::create_directories(s.s->area() / "renamed");
  std::ofstream(s.s->area() / "renamed" / "fresh") << "f\n";
  c.argv = {"sh", "-c", "ls"};
  CHECK(s.run(c).out == "fresh\n");
  CHECK(s.s->restarts() == 0);
}

TEST_CASE("slot sandbox: no capabilities, no new privileges, no network") {
  Slot s;
  auto r = s.sh("grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):' /proc/self/status");
  CHECK(r.out == "CapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n"
                 "CapBnd:\t0000000000000000\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\n");
  // Interfaces: at most the loopback one.
  auto n = s.sh("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '");
  CHECK((n.out == "lo\n" || n.out.empty()));
  CHECK(s.sh("mount -t tmpfs none /home/u/proj").exit_code != 0);
}

TEST_CASE("slot sandbox: what a task leaves running is killed when it ends; a timeout kills it all") {
  Slot s;
  auto r = s.sh("sleep 1000.4242 & echo $!; exit 0");
  CHECK(r.exit_code == 0);
  CHECK_FALSE(r.out.empty());
  CHECK(processes_with("sleep 1000.4242") == 0);
  // Double-forked into its own session: still in the task's PID namespace.
  CHECK(s.sh("setsid sh -c 'sleep 1000.4343 &' ; exit 0").exit_code == 0);
  CHECK(processes_with("sleep 1000.4343") == 0);

  auto k = s.task({"sh", "-c", "sleep 1000.4444 & sleep 1000.4545"});
  k.timeout_ms = 300;
  auto t = s.run(k);
  CHECK(t.timed_out);
  CHECK(t.duration_ms < 5000);
  CHECK(processes_with("sleep 1000.44") == 0);
  CHECK(processes_with("sleep 1000.45") == 0);
  CHECK(s.sh("echo after").out == "after\n");   // the helper serves on
}

TEST_CASE("slot sandbox: the memory limit applies to the command") {
  Slot s;
  auto k = s.task({"sh", "-c", "ulimit -v; x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo ${#x}"});
  k.memory_limit_mb = 64;
  auto r = s.run(k);
  CHECK(r.out.rfind("65536\n", 0) == 0);
  CHECK(r.out.find("100000000") == std::string::npos);
  CHECK(r.exit_code != 0);
}

TEST_CASE("slot sandbox: many tasks in a row on one helper; a dead helper is started again") {
  Slot s;
  int pid = s.s->helper_pid();
  for (int i = 0; i < 200; ++i) {
    auto r = s.sh("echo " + std::to_string(i) + "; echo e" + std::to_string(i) + " >&2; exit " + std::to_string(i % 7));
    REQUIRE(r.out == std::to_string(i) + "\n");
    REQUIRE(r.err == "e" + std::to_string(i) + "\n");
    REQUIRE(r.exit_code == i % 7);
  }
  CHECK(s.s->helper_pid() == pid);
  CHECK(s.s->restarts() == 0);
  // A helper killed between tasks: the next task starts a new one and runs.
  REQUIRE(::kill(pid, SIGKILL) == 0);
  siginfo_t info{};
  REQUIRE(::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) == 0);   // gone, not reaped
  auto r = s.sh("echo again");
  CHECK(r.out == "again\n");
  CHECK(s.s->restarts() == 1);
  CHECK(s.s->helper_pid() != pid);
}

TEST_CASE("slot sandbox: a sandbox that cannot be made, or a task it cannot take, is an error with the reason") {
  Slot s;
  auto k = s.task({"true"});
  k.mount_at = "/usr/zbuild-cannot-be-here";   // read-only: no mount point can be made
  auto r = s.s->run(k);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("sandbox setup failed (mount point)") != std::string::npos);
  auto nul = s.task({"echo", std::string("a\0b", 3)});
  auto n = s.run(nul);
  CHECK(n.exit_code == 126);
  CHECK(n.err.find("NUL") != std::string::npos);
  auto missing = s.task({"true"});
  missing.folder = "never-made";
  auto m = s.s->run(missing);
  REQUIRE_FALSE(m.ok());
  CHECK(m.error().message.find("task folder") != std::string::npos);
  CHECK(s.sh("echo still").out == "still\n");
  CHECK(s.s->restarts() == 0);
}

TEST_CASE("executor through the slot sandbox: the task's folder at its exec root, outputs hashed") {
  Slot s;
  TempDir cache_dir("slot-cache");
  BlobCache cache(cache_dir.path);
  REQUIRE(cache.init().ok());
  HostFileChecker hosts(std::vector<std::string>{});
  SandboxPolicy p;
  p.bwrap = probe_bwrap();
  p.use_bwrap = true;
  p.allowed.push_back("sh");
  Executor ex(s.t.path / "other", cache, hosts, p);
  ActionSpec a;
  a.root = "/home/someone/checkout";
  a.cwd = "sub";
  a.argv = {"sh", "-c", "pwd; echo $HOME $TMPDIR; echo made > out.txt"};
  a.outputs = {"sub/out.txt"};
  HostSide host;
  host.checked = true;
  auto r = ex.run(a, "exec-1", host, s.s.get());
  REQUIRE(r.infra_error.empty());
  CHECK(r.exit_code == 0);
  CHECK(r.out == "/home/someone/checkout/sub\n/home/someone/checkout /home/someone/checkout/.zbuild-tmp\n");
  REQUIRE(r.outputs.size() == 1);
  CHECK(r.outputs[0].digest == digest_bytes("made\n"));
  // The slot's own folder, kept emptied for its next task: only its empty .zbuild-tmp is left.
  auto emptied = [](const fs::path& d) {
    std::vector<std::string> names;
    for (auto& e : fs::directory_iterator(d)) names.push_back(e.path().filename().string());
    return names == std::vector<std::string>{".zbuild-tmp"} && fs::is_empty(d / ".zbuild-tmp");
  };
  CHECK(r.sandbox == s.s->area() / ".task");
  ex.cleanup(r);
  CHECK(emptied(s.s->area() / ".task"));

  // The next task takes over the folder, emptied, whatever the last one did to it.
  a.argv = {"sh", "-c", "cd .. && mkdir -p locked/deep && touch locked/deep/f .zbuild-tmp/t && chmod 000 locked && "
                        "chmod 777 . .zbuild-tmp && python3 -c \"import os; os.setxattr('.', 'user.zb', b'left')\"; "
                        "echo made > sub/out.txt"};
  auto r2 = ex.run(a, "exec-2", host, s.s.get());
  REQUIRE(r2.infra_error.empty());
  CHECK(r2.exit_code == 0);
  CHECK(r2.err.empty());
  ex.cleanup(r2);
  a.argv = {"sh", "-c", "cd .. && ls -A && ls -A .zbuild-tmp && stat -c %a . .zbuild-tmp && "
                        "python3 -c \"import os; print(os.listxattr('.'))\"; echo made > sub/out.txt"};
  auto r3 = ex.run(a, "exec-3", host, s.s.get());
  REQUIRE(r3.infra_error.empty());
  CHECK(r3.exit_code == 0);
  CHECK(r3.out == ".zbuild-tmp\nsub\n755\n755\n[]\n");
  CHECK(r3.err.empty());
  ex.cleanup(r3);
  CHECK(emptied(s.s->area() / ".task"));
  CHECK_FALSE(fs::exists(s.s->area() / "exec-3"));

  // No exec root, or one that cannot be shown as it is (under /usr): the task sees its folder
  // at a fixed place, and argv and what it prints are mapped from and back to the root.
  ActionSpec plain;
  plain.argv = {"sh", "-c", "pwd"};
  auto r4 = ex.run(plain, "exec-4", host, s.s.get());
  REQUIRE(r4.infra_error.empty());
  CHECK(r4.exit_code == 0);
  CHECK(r4.out == "/zbuild-task\n");
  ex.cleanup(r4);
  ActionSpec usr;
  usr.root = "/usr/src/proj";
  usr.argv = {"sh", "-c", "pwd; echo /usr/src/proj/x; echo made > /usr/src/proj/out.txt"};
  usr.outputs = {"out.txt"};
  auto r5 = ex.run(usr, "exec-5", host, s.s.get());
  REQUIRE(r5.infra_error.empty());
  CHECK(r5.exit_code == 0);
  CHECK(r5.out == "/zbuild-task\n/zbuild-task/x\n");
  REQUIRE(r5.outputs.size() == 1);
  CHECK(r5.outputs[0].digest == digest_bytes("made\n"));
  ex.cleanup(r5);
}

TEST_CASE("slot sandbox: a due call is made once while the task runs") {
  Slot s;
  auto k = s.task({"sh", "-c", "while [ ! -e flag ]; do sleep 0.01; done; echo seen"});
  fs::path flag = s.s->area() / k.folder / "flag";   // the task's folder, as the host sees it
  int calls = 0;
  DueCall due;
  due.after_ms = 1;
  due.call = [&] {
    calls++;
    std::ofstream(flag) << "x";
  };
  k.due = &due;
  auto r = s.run(k);   // ends only once the call made the flag (else the task's timeout fails it)
  CHECK_FALSE(r.timed_out);
  CHECK(r.out == "seen\n");
  CHECK(calls == 1);
}
