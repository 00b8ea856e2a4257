// zbuild-launch: how the daemon starts each --launch and --local-workers command
// (daemon/launcher.h). It runs `/bin/sh -c COMMAND` and exits only once every process the
// command started has ended, with the shell's exit status. So the daemon, which waits for this
// process, waits for the whole launch: a worker the shell started (the shell may not exec it),
// srun, ssh, or anything the command left running in the background.
//
// It is a child subreaper (PR_SET_CHILD_SUBREAPER): the command's processes that outlive their
// parent become its children, and it reaps them. The daemon stops a launch by signalling its
// process group (SIGTERM, then SIGKILL). This process blocks SIGTERM, SIGINT and SIGHUP and
// keeps waiting until the rest of the group has gone; SIGKILL ends it at once.
//
// libc only; linked statically, as zbuild-sandbox is.
//
// usage: zbuild-launch COMMAND
#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: zbuild-launch COMMAND (started by zbuild daemon for --launch)\n");
    return 2;
  }
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    std::fprintf(stderr, "zbuild-launch: cannot become a subreaper: %s\n", std::strerror(errno));
    return 125;
  }
  sigset_t stop_signals, old;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGHUP);
  if (sigprocmask(SIG_BLOCK, &stop_signals, &old) != 0) {
    std::fprintf(stderr, "zbuild-launch: sigprocmask: %s\n", std::strerror(errno));
    return 125;
  }
  pid_t sh = fork();
  if (sh < 0) {
    std::fprintf(stderr, "zbuild-launch: fork: %s\n", std::strerror(errno));
    return 125;
  }
  if (sh == 0) {   // the command, with the signal mask this process was given
    sigprocmask(SIG_SETMASK, &old, nullptr);
    execl("/bin/sh", "sh", "-c", argv[1], static_cast<char*>(nullptr));
    std::fprintf(stderr, "zbuild-launch: /bin/sh: %s\n", std::strerror(errno));
    _exit(127);
  }
  int sh_status = 0;
  for (;;) {
    int st = 0;
    pid_t p = waitpid(-1, &st, 0);
    if (p < 0 && errno == EINTR) continue;
    if (p < 0) break;   // ECHILD: every process of the launch has ended
    if (p == sh) sh_status = st;
  }
  if (WIFEXITED(sh_status)) return WEXITSTATUS(sh_status);
  return 128 + (WIFSIGNALED(sh_status) ? WTERMSIG(sh_status) : 0);
}
