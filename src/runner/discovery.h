// Where zbuild-cc's daemon is, which directory is the exec root, and the once-per-build
// fallback warning.
//
// Daemon: $ZBUILD_DAEMON, else the workspace file `.zbuild-daemon` (HOST:PORT on its first
// line) in the current directory or the nearest parent that has one (written by
// `zbuild daemon --workspace DIR`), else the user's config file $XDG_CONFIG_HOME/zbuild/daemon
// (else ~/.config/zbuild/daemon), else 127.0.0.1:7600.
// A workspace file is trusted only when it belongs to the user (or root), is writable by no one
// else, and no folder from the working directory up to the file's own is writable by group or
// others (sticky bit or not): whoever can write there could name their own daemon, which then
// receives the sources. An untrusted file is ignored (the search goes on) and reported.
// Exec root: $ZBUILD_ROOT, else the workspace directory, else the deepest directory holding the
// working directory, the source and the object; "/" is refused (nothing could be shipped).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <string>
#include <vector>

namespace zbuild::runner {

constexpr const char* kWorkspaceFile = ".zbuild-daemon";

struct Location {
  std::string daemon;      // HOST:PORT
  std::string workspace;   // directory holding the workspace file, when that is where it came from
  std::string source;      // "ZBUILD_DAEMON", the workspace file's path, the config file or "default"
  std::string ignored;     // the first workspace file not trusted, and why ("" when none); said once per build
};

// Why a workspace file may not be trusted, "" when it may. `file` is its status, `me` the
// user, `open_folder` the first folder from the working directory up to the file's that is
// writable by other users: others, or a group that is not the user's private group
// (common/owner.h) ("" when none).
std::string workspace_file_distrust(const struct stat& file, uid_t me, const std::string& open_folder);

// `cwd` is absolute.
Location find_daemon(const std::string& cwd);

// The exec root for a compile (absolute, lexically normal), or empty when none fits.
// `paths` are absolute and lexically normal.
std::string choose_root(const Location& loc, const std::vector<std::string>& paths);

// The working directory as the compiler sees it: $PWD when it names the same directory as
// ".", else getcwd() (gcc records $PWD in debug info the same way).
std::string current_dir();

// True the first time it is called for this daemon address within one build: the build is
// the outermost make/ninja/cmake (or similar) process above this one, else the parent
// process. Marker files live in $XDG_RUNTIME_DIR/zbuild (else /tmp/zbuild-UID).
bool first_fallback_in_build(const std::string& daemon);

}  // namespace zbuild::runner
