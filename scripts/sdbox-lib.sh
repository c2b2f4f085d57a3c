# sdbox-lib.sh: what scripts/test-package.sh and scripts/test-rpm.sh share, sourced by them:
# a throw-away Debian 12 booted by systemd (../shared/sdbox) with the packages under test
# bound read-only at /pkgs, and helpers to drive and question it.
#
# The sourcing script sets `me` (its name, for messages) and calls, in order:
#   sdbox_require                 skip (exit 0) without root or the Debian tools, fail under CI=true
#   sdbox_boot FILE... -- PKG...  copy FILEs to /pkgs, add the Debian PKGs to the root file
#                                 system once (SDBOX_ROOTFS, default /var/tmp/authwatch-sdbox-rootfs),
#                                 boot the container (stopped on exit)
# shellcheck shell=bash
: "${me:?the sourcing script sets me}"

fail() {
  if [ -n "${box:-}" ] && [ -d "/run/sdbox/$box" ]; then
    in_box systemctl status --no-pager authwatch >&2 || true
    in_box journalctl -u authwatch --no-pager -n 40 >&2 || true
  fi
  echo "$me: FAIL: $*" >&2; exit 1
}
step() { printf '\n-- %s\n' "$*"; }
ok() { echo "ok: $*"; }
# has ARGS: grep -q that reads all its input (a producer cut off by SIGPIPE fails under pipefail).
has() { grep "$@" >/dev/null; }

# wait_for WHAT CMD...: CMD succeeds within 60 s (an upper bound that only catches a hang).
wait_for() {
  local what=$1; shift
  for _ in $(seq 120); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  fail "$what: not within 60 s"
}

sdbox_require() {
  local missing="" why
  command -v systemd-nspawn >/dev/null || missing="systemd-container"
  command -v debootstrap >/dev/null || missing="$missing debootstrap"
  if [ -n "$missing" ] || [ "$(id -u)" != 0 ]; then
    why="needs root and the Debian packages: ${missing:-none missing}"
    [ "${CI:-}" = true ] && fail "$why"
    echo "$me: SKIP: $why (apt-get install$missing)"; exit 0
  fi
}

sdbox() { bash "$sdbox_script" "$@"; }
in_box() { sdbox exec "$box" "$@"; }
unit_prop() { in_box systemctl show -p "$1" --value authwatch; }
api() { in_box curl -fsS "http://127.0.0.1:9464$1"; }
running() { [ "$(unit_prop ActiveState)/$(unit_prop SubState)" = active/running ]; }
stopped() { local s; s=$(unit_prop ActiveState); [ "$s" != active ] && [ "$s" != activating ] && [ "$(unit_prop MainPID)" = 0 ]; }

sdbox_boot() {
  local repo s f extra=() missing=()
  repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  sdbox_script=${SDBOX:-}
  for s in "$repo/../shared/sdbox" "$repo/../../shared/sdbox"; do
    if [ -z "$sdbox_script" ] && [ -f "$s" ]; then sdbox_script=$s; fi
  done
  [ -n "$sdbox_script" ] || fail "sdbox not found beside the repository (../shared/sdbox); set SDBOX"
  rootfs=${SDBOX_ROOTFS:-/var/tmp/authwatch-sdbox-rootfs}
  box=authwatch-$me-$$
  box=${box//./-}
  pkgs=$(mktemp -d)
  while [ $# -gt 0 ] && [ "$1" != -- ]; do cp "$1" "$pkgs/"; shift; done
  [ $# -gt 0 ] && shift
  extra=("$@")
  chmod -R a+rX "$pkgs"

  step "container ($rootfs)"
  sdbox rootfs "$rootfs" >/dev/null
  # Packages a standard Debian has but sdbox's minimal one does not, added once, as apt would.
  for f in "${extra[@]}"; do
    chroot "$rootfs" dpkg -s "$f" >/dev/null 2>&1 || missing+=("$f")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    # The package lists debootstrap left may be older than the mirror: refresh them if needed.
    rootfs_apt install -y -qq --no-install-recommends "${missing[@]}" ||
      { rootfs_apt update -qq && rootfs_apt install -y -qq --no-install-recommends "${missing[@]}"; } ||
      fail "could not install ${missing[*]} into $rootfs (chroot $rootfs apt-get install ${missing[*]})"
  fi
  trap 'sdbox stop "$box" || true; rm -rf "$pkgs"' EXIT
  sdbox start "$box" --rootfs "$rootfs" --bind-ro "$pkgs:/pkgs"
}
rootfs_apt() { chroot "$rootfs" apt-get "$@" </dev/null >/dev/null 2>&1; }

# seed_flow: a flow in /etc/authwatch/flows.d before the install (TEST_PACKAGE_PREMERGE=1).
seed_flow() {
  step "seeding flows.d with one flow (TEST_PACKAGE_PREMERGE=1: the daemon does not start without one)"
  in_box sh -c 'mkdir -p /etc/authwatch/flows.d && cat >/etc/authwatch/flows.d/seed.yaml' <<'YAML'
name: package-seed
every: 5s
steps:
  - {id: healthz, kind: http, url: "http://127.0.0.1:9464/healthz", expect: {status: 200}}
YAML
}

# drop_selfcheck_flow: a flow in which authwatch checks its own /healthz every second.
drop_selfcheck_flow() {
  in_box sh -c 'cat >/etc/authwatch/flows.d/selfcheck.yaml' <<'YAML'
# Written by scripts/test-package.sh: authwatch checks its own /healthz.
name: package-selfcheck
every: 1s
steps:
  - {id: healthz, kind: http, url: "http://127.0.0.1:9464/healthz", expect: {status: 200}}
YAML
}
selfcheck_passed() { api /metrics | has '^authwatch_flow_runs_total{flow="package-selfcheck".*result="pass".*} [1-9]'; }
# newest_run: the newest run of the selfcheck flow, as the database holds it: {"id":N,"start":"..."}.
newest_run() { api "/api/v1/flows/package-selfcheck/runs?limit=1" | jq -c '.runs[0] | {id, start}'; }
# run_by_id ID: that run of the selfcheck flow, or null. (Run ids are shared by all flows: the
# newest 200 runs are searched; the tests last seconds and the flow runs every second.)
run_by_id() {
  api "/api/v1/flows/package-selfcheck/runs?limit=200" | jq -c --argjson id "$1" '[.runs[] | select(.id == $id) | {id, start}][0]'
}
