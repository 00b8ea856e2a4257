// run_process: the one place zbuild starts processes; with an address-space limit it starts the
// command itself (no prlimit in between).
#include <catch2/catch.hpp>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "common/subprocess.h"
#include "common/temp_dir.h"

using namespace zbuild;

TEST_CASE("run_process: output, exit code, working folder and environment, with and without a memory limit") {
  TempDir t("subprocess");
  for (bool ends_with_main : {false, true})
  for (uint64_t limit : {uint64_t{0}, uint64_t{256} << 20}) {
    INFO("limit " << limit << ", ends with main " << ends_with_main);
    ProcessSpec ps;
    ps.ends_with_main = ends_with_main;
    ps.argv = {"sh", "-c", "pwd; echo $ZB_X; echo err >&2; ulimit -v; exit 3"};
    ps.cwd = t.path.string();
    ps.env = {"PATH=/usr/bin:/bin", "ZB_X=x1"};
    ps.use_env = true;
    ps.address_space_limit = limit;
    auto r = run_process(ps);
    REQUIRE(r.ok());
    std::string ulimit = limit ? std::to_string(limit >> 10) : "unlimited";
    CHECK(r.value().out == std::filesystem::canonical(t.path).string() + "\nx1\n" + ulimit + "\n");
    CHECK(r.value().err == "err\n");
    CHECK(r.value().exit_code == 3);
  }
}

TEST_CASE("run_process: the limit holds, signals are the command's own, a missing program is an error") {
  for (bool ends_with_main : {false, true}) {
  INFO("ends with main " << ends_with_main);
  ProcessSpec ps;
  ps.ends_with_main = ends_with_main;
  ps.argv = {"sh", "-c", "x=$(head -c 300000000 /dev/zero | tr '\\0' a); echo ${#x}"};
  ps.env = {"PATH=/usr/bin:/bin"};
  ps.use_env = true;
  ps.address_space_limit = uint64_t{64} << 20;
  auto r = run_process(ps);
  REQUIRE(r.ok());
  CHECK(r.value().out.find("300000000") == std::string::npos);
  CHECK(r.value().exit_code != 0);

  ps.argv = {"sh", "-c", "kill -TERM $$"};   // SIGTERM at its default: the shell dies of it
  auto k = run_process(ps);
  REQUIRE(k.ok());
  CHECK(k.value().exit_code == 128 + 15);

  ps.argv = {"zbuild-no-such-program-4711"};
  auto m = run_process(ps);
  REQUIRE_FALSE(m.ok());
  CHECK(m.error().message == "zbuild-no-such-program-4711: cannot run: No such file or directory");

  ps.argv = {"/etc/passwd"};   // found, but its exec fails
  auto x = run_process(ps);
  REQUIRE_FALSE(x.ok());
  CHECK(x.error().message == "/etc/passwd: cannot run: Permission denied");
  }
}

TEST_CASE("run_process: a due call is made once while the command runs, never after it ended") {
  TempDir t("subprocess-due");
  std::string flag = (t.path / "flag").string();
  int calls = 0;
  DueCall due;
  due.after_ms = 1;
  due.call = [&] {
    calls++;
    std::FILE* f = std::fopen(flag.c_str(), "w");
    if (f) std::fclose(f);
  };
  ProcessSpec ps;
  ps.ends_with_main = GENERATE(false, true);
  // Ends only once the call has made the flag; the timeout fails the test if it never does.
  ps.argv = {"sh", "-c", "while [ ! -e \"$1\" ]; do sleep 0.01; done; echo seen", "sh", flag};
  ps.timeout_ms = 60000;
  ps.due = &due;
  auto r = run_process(ps);
  REQUIRE(r.ok());
  CHECK_FALSE(r.value().timed_out);
  CHECK(r.value().out == "seen\n");
  CHECK(calls == 1);

  DueCall later;
  later.after_ms = 3600 * 1000;
  later.call = [&] { calls++; };
  ps.argv = {"true"};
  ps.due = &later;
  auto q = run_process(ps);
  REQUIRE(q.ok());
  CHECK(calls == 1);
}

TEST_CASE("run_process ends_with_main: more output than a pipe holds, capped; the group's stragglers are not waited for") {
  ProcessSpec ps;
  ps.ends_with_main = true;
  ps.output_cap = 300000;
  ps.timeout_ms = 60000;
  // 1 MB on each stream (16 pipe buffers): read while the command runs.
  ps.argv = {"sh", "-c", "head -c 1000000 /dev/zero | tr '\\0' o; head -c 1000000 /dev/zero | tr '\\0' e >&2"};
  auto r = run_process(ps);
  REQUIRE(r.ok());
  CHECK(r.value().out == std::string(300000, 'o'));
  CHECK(r.value().err == std::string(300000, 'e'));
  CHECK(r.value().exit_code == 0);

  // A background process holding the output open ends with the command (killed with its group):
  // had it been waited for, the timeout would have ended the command.
  ps.argv = {"sh", "-c", "sleep 600 & echo started"};
  auto b = run_process(ps);
  REQUIRE(b.ok());
  CHECK_FALSE(b.value().timed_out);
  CHECK(b.value().out == "started\n");
  CHECK(b.value().exit_code == 0);

  ps.argv = {"sleep", "600"};
  ps.timeout_ms = 100;
  auto t = run_process(ps);
  REQUIRE(t.ok());
  CHECK(t.value().timed_out);
}

TEST_CASE("run_process ends_with_main: what an escaped process writes between two commands is not the second's") {
  TempDir t("subprocess-stale");
  std::string go = (t.path / "go").string(), wrote = (t.path / "wrote").string(), away = (t.path / "away").string();
  ProcessSpec ps;
  ps.ends_with_main = true;
  ps.timeout_ms = 60000;
  // Leaves its process group (setsid) with this thread's output pipe, and writes to it once told
  // to; the command ends once it has left (else it would be killed with the group).
  ps.argv = {"sh", "-c",
             "setsid sh -c ': > \"$3\"; while [ ! -e \"$1\" ]; do sleep 0.01; done; echo stale; echo stale >&2; : > \"$2\"' "
             "sh \"$1\" \"$2\" \"$3\" & while [ ! -e \"$3\" ]; do sleep 0.01; done; echo first",
             "sh", go, wrote, away};
  auto a = run_process(ps);
  REQUIRE(a.ok());
  CHECK(a.value().out == "first\n");
  std::FILE* f = std::fopen(go.c_str(), "w");
  REQUIRE(f);
  std::fclose(f);
  for (int i = 0; i < 6000 && !std::filesystem::exists(wrote); ++i) ::usleep(10000);
  REQUIRE(std::filesystem::exists(wrote));
  ps.argv = {"sh", "-c", "echo second; echo second >&2"};
  auto b = run_process(ps);
  REQUIRE(b.ok());
  CHECK(b.value().out == "second\n");
  CHECK(b.value().err == "second\n");
}
