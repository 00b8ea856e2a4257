# Shared by tools/compose/up, down and client (sourced, not run).
#
# One deployment's state lives in ZBUILD_COMPOSE_STATE (default ~/.cache/zbuild/compose): its
# keys and an `env` file naming the project, ports and image, so `down` and `client` find what
# `up` started. ZBUILD_COMPOSE_PROJECT (default zbuild) prefixes the containers' and network's
# names; ZBUILD_COMPOSE_PORT (default 7600) is the first of the three host ports, or `none`:
# nothing published, clients reach the daemon at its address on the project's bridge network
# (what the tests do: no host port to choose, so none to collide with).

ZC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$ZC_DIR/../.." && pwd)"
BUILD_DIR="${ZBUILD_BUILD_DIR:-$REPO/build}"
STATE="${ZBUILD_COMPOSE_STATE:-${XDG_CACHE_HOME:-$HOME/.cache}/zbuild/compose}"
# runc, cgroupfs, ulimits and netavark for every podman call, without touching /etc/containers.
export CONTAINERS_CONF="$ZC_DIR/containers.conf"

zc_die() {
  echo "compose: $*" >&2
  exit 1
}

zc_need_root() {
  # The profiles are tested with rootful podman (runc, cgroupfs); rootless is another setup.
  [ "$(id -u)" = 0 ] || zc_die "run as root (podman runs the containers rootful here)"
}

zc_load_state() {
  [ -f "$STATE/env" ] || zc_die "nothing is up (no $STATE/env; run tools/compose/up PROFILE)"
  # shellcheck disable=SC1091
  . "$STATE/env"
}

# Every container runs in a user namespace: its root is this unprivileged host uid range, not the
# host's root. The workers' /proc is unmasked for bubblewrap (compose.yaml); with host root in
# the container, /proc/sys would then let it set the host's sysctls. podman-compose 1.0.3 reads
# no user-namespace key from compose.yaml, so the mapping goes on its `podman run` lines.
ZC_UID_BASE=1500000000
ZC_USERNS="--uidmap 0:$ZC_UID_BASE:65536 --gidmap 0:$ZC_UID_BASE:65536"

zc_compose() {
  podman-compose -p "$ZBUILD_PROJECT" -f "${ZBUILD_COMPOSE_FILE:-$ZC_DIR/compose.yaml}" --podman-run-args "$ZC_USERNS" "$@"
}
