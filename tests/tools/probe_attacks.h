// The attacks of the hostile-peer suite (tests/e2e/test_hostile_peer.py), each a peer that
// speaks zbuild's real protocol: a worker that forges results or reports undeclared outputs,
// a client flooding unfinished uploads, hostile submissions that bypass `zbuild submit`'s own
// checks. Each prints what it saw and exits 0 when the daemon (and its workers) refused it.
#pragma once

int run_attack(int argc, char** argv);
