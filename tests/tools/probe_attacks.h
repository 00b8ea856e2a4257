// The attacks of the hostile-peer suite (tests/e2e/test_hostile_peer.py), each a peer that
// speaks zbuild's real protocol: a worker that forges results or reports undeclared outputs,
// a client flooding unfinished uploads, hostile submissions that bypass `zbuild submit`'s own
// checks. Each prints what it saw and exits 0 when the daemon (and its workers) refused it.
#pragma once

#include <string>

int run_attack(int argc, char** argv);

// Prints "ok"/"FAIL" and the check's description; failed checks are counted.
void check(bool ok, const std::string& what);
int failure_count();
