#!/usr/bin/env bash
# test-package.sh DEB UPGRADE_DEB: install the authwatch .deb for real, in a throw-away Debian 12
# booted by systemd (../shared/sdbox), and check what an operator relies on:
#
#   install   dpkg -i: the service is enabled and active (running), systemd shows a STATUS=
#             line, `authwatch validate /etc/authwatch/flows.d` passes on the flows.d as
#             installed, /etc/authwatch/authwatch.yaml is a conffile
#   reload    with watch: false set in authwatch.yaml, a flow dropped into /etc/authwatch/flows.d
#             runs after `systemctl reload authwatch` (its passing runs appear in
#             authwatch_flow_runs_total on /metrics)
#   upgrade   dpkg -i of UPGRADE_DEB (a higher version): the service was restarted,
#             `authwatch --version` names the new version, the edited authwatch.yaml is kept,
#             the state is kept (the run recorded before the upgrade is still in the database,
#             same id and start time)
#   remove    dpkg -r: the service is stopped; the configuration and the state stay, and a
#             dpkg -i after it starts the service again on that state
#   purge     apt-get purge (of the running service): it is stopped, and everything the
#             package and its service added is gone (a listing of the container's files equals
#             the one taken before the install, but for the flow files the test wrote itself,
#             which dpkg leaves alone)
#
# Needs root, systemd-nspawn (apt-get install systemd-container) and, the first time, debootstrap
# to build the container's root file system (SDBOX_ROOTFS, default
# /var/tmp/authwatch-sdbox-rootfs: ~3-5 min, ~250 MB, reused afterwards).
# TEST_PACKAGE_PREMERGE=1 is for trees without the rest of issue 13: it puts a flow file into
# flows.d before the install (their daemon does not start, and validate fails, without any
# flow) and does not ask `authwatch --version` for the package's version (their CLI prints
# "dev" whatever the build stamped).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
fail() {
  if [ -n "${box:-}" ] && [ -d "/run/sdbox/$box" ]; then
    in_box systemctl status --no-pager authwatch >&2 || true
    in_box journalctl -u authwatch --no-pager -n 40 >&2 || true
  fi
  echo "test-package.sh: FAIL: $*" >&2; exit 1
}
[ $# -eq 2 ] || { echo "usage: scripts/test-package.sh DEB UPGRADE_DEB" >&2; exit 2; }
deb=$(readlink -f "$1") upgrade_deb=$(readlink -f "$2")
[ -f "$deb" ] && [ -f "$upgrade_deb" ] || { echo "test-package.sh: $1 or $2 is not a file" >&2; exit 2; }

missing=""
command -v systemd-nspawn >/dev/null || missing="systemd-container"
command -v debootstrap >/dev/null || missing="$missing debootstrap"
if [ -n "$missing" ] || [ "$(id -u)" != 0 ]; then
  why="needs root and the Debian packages: ${missing:-none missing}"
  [ "${CI:-}" = true ] && fail "$why"
  echo "test-package.sh: SKIP: $why (apt-get install$missing)"; exit 0
fi
sdbox=${SDBOX:-}
for s in "$repo/../shared/sdbox" "$repo/../../shared/sdbox"; do
  [ -z "$sdbox" ] && [ -f "$s" ] && sdbox=$s
done
[ -n "$sdbox" ] || fail "sdbox not found beside the repository (../shared/sdbox); set SDBOX"
rootfs=${SDBOX_ROOTFS:-/var/tmp/authwatch-sdbox-rootfs}
box=authwatch-pkg-$$
pkgs=$(mktemp -d)
cp "$deb" "$pkgs/first.deb"
cp "$upgrade_deb" "$pkgs/upgrade.deb"
chmod -R a+rX "$pkgs"

sdbox() { bash "$sdbox" "$@"; }
in_box() { sdbox exec "$box" "$@"; }
cleanup() { sdbox stop "$box" || true; rm -rf "$pkgs"; }
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

# listing: the container's files (path, type, mode, owner), without what changes by itself
# or belongs to dpkg's and apt's own records. /var/lib/systemd/linger is systemd-logind's state
# directory: it appears when something (apt, dbus) wakes logind during the test.
listing() {
  in_box find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp \
      -o -path /var/tmp -o -path /var/log -o -path /var/cache -o -path /var/lib/dpkg \
      -o -path /var/lib/apt -o -path /var/lib/systemd/timers -o -path /var/lib/systemd/catalog \
      -o -path /var/lib/systemd/random-seed -o -path /var/lib/systemd/coredump -o -path /var/lib/systemd/linger -o -path /pkgs \) -prune \
      -o -printf '%p %y %m %u:%g\n' | LC_ALL=C sort
}

unit_prop() { in_box systemctl show -p "$1" --value authwatch; }
api() { in_box curl -fsS "http://127.0.0.1:9464$1"; }

step "container ($rootfs)"
sdbox rootfs "$rootfs" >/dev/null
# The package depends on procps (/bin/kill, the unit's ExecReload=), which a standard Debian
# has but sdbox's minimal one does not: add it to the root file system once, as apt would.
if [ ! -x "$rootfs/bin/kill" ]; then
  install_procps() { chroot "$rootfs" apt-get install -y -qq --no-install-recommends procps </dev/null >/dev/null 2>&1; }
  # The package lists debootstrap left may be older than the mirror: refresh them if needed.
  install_procps || { chroot "$rootfs" apt-get update -qq </dev/null >/dev/null 2>&1 && install_procps; } ||
    fail "could not install procps into $rootfs (chroot $rootfs apt-get install procps)"
fi
trap cleanup EXIT
sdbox start "$box" --rootfs "$rootfs" --bind-ro "$pkgs:/pkgs"
before=$(listing)

if [ "${TEST_PACKAGE_PREMERGE:-}" = 1 ]; then
  step "seeding flows.d with one flow (TEST_PACKAGE_PREMERGE=1: the daemon does not start without one)"
  in_box sh -c 'mkdir -p /etc/authwatch/flows.d && cat >/etc/authwatch/flows.d/seed.yaml' <<'EOF'
name: package-seed
every: 5s
steps:
  - {id: healthz, kind: http, url: "http://127.0.0.1:9464/healthz", expect: {status: 200}}
EOF
fi

step "install: dpkg -i $(basename "$deb")"
in_box dpkg -i /pkgs/first.deb </dev/null
[ "$(in_box systemctl is-enabled authwatch)" = enabled ] || fail "authwatch.service is not enabled after dpkg -i"
ok "authwatch.service is enabled"
# Type=notify: the start that postinst made returned once the daemon said READY=1.
[ "$(unit_prop ActiveState)/$(unit_prop SubState)" = active/running ] ||
  fail "authwatch.service is not active (running) after dpkg -i"
ok "authwatch.service is active (running)"
status_text=$(unit_prop StatusText)
[ -n "$status_text" ] || fail "systemctl show -p StatusText is empty: the daemon sent no STATUS="
in_box systemctl status --no-pager authwatch | has '^ *Status: "' || fail "systemctl status shows no Status: line"
ok "systemctl status shows Status: \"$status_text\""
in_box dpkg-query -W -f='${Conffiles}\n' authwatch | has '^ /etc/authwatch/authwatch.yaml ' ||
  fail "/etc/authwatch/authwatch.yaml is not a conffile"
ok "/etc/authwatch/authwatch.yaml is a conffile"
in_box authwatch validate /etc/authwatch/flows.d || fail "authwatch validate /etc/authwatch/flows.d failed on the flows.d as installed"
ok "authwatch validate /etc/authwatch/flows.d passes"

step "reload: a flow dropped into flows.d runs after systemctl reload"
# With watch: false the daemon does not see new files by itself: only the reload can start the
# flow. (The edited conffile is also what the upgrade must keep.)
in_box sed -i 's/^watch: true /watch: false /' /etc/authwatch/authwatch.yaml
in_box grep -q '^watch: false ' /etc/authwatch/authwatch.yaml || fail "could not set watch: false in authwatch.yaml"
in_box systemctl restart authwatch
[ "$(unit_prop ActiveState)/$(unit_prop SubState)" = active/running ] || fail "authwatch.service is not running with watch: false"
in_box sh -c 'cat >/etc/authwatch/flows.d/selfcheck.yaml' <<'EOF'
# Written by scripts/test-package.sh: authwatch checks its own /healthz.
name: package-selfcheck
every: 1s
steps:
  - {id: healthz, kind: http, url: "http://127.0.0.1:9464/healthz", expect: {status: 200}}
EOF
in_box authwatch validate /etc/authwatch/flows.d
in_box systemctl reload authwatch || fail "systemctl reload authwatch failed"
passing_runs() { api /metrics | has '^authwatch_flow_runs_total{flow="package-selfcheck".*result="pass".*} [1-9]'; }
wait_for "a passing run of the dropped flow in authwatch_flow_runs_total" passing_runs
api /metrics | grep '^authwatch_flow_runs_total{flow="package-selfcheck"'
ok "the dropped flow runs and passes"

step "upgrade: dpkg -i $(basename "$upgrade_deb") keeps the edited config and the state"
in_box test -f /var/lib/private/authwatch/authwatch.db || fail "no state database in /var/lib/private/authwatch"
# The newest run of the flow, as the database holds it: {"id":N,...,"start":"..."}.
newest_run() { api "/api/v1/flows/package-selfcheck/runs?limit=1${1:+&before=$1}" | jq -c '.runs[0] | {id, start}'; }
run_before=$(newest_run)
id_before=$(jq -r .id <<<"$run_before")
invocation_before=$(unit_prop InvocationID)
old_version=$(in_box dpkg-query -W -f='${Version}' authwatch)
in_box dpkg -i /pkgs/upgrade.deb </dev/null
new_version=$(in_box dpkg-query -W -f='${Version}' authwatch)
[ "$new_version" != "$old_version" ] || fail "the upgrade package has the same version ($old_version)"
in_box dpkg --compare-versions "$new_version" gt "$old_version" || fail "$new_version is not higher than $old_version"
ok "upgraded $old_version -> $new_version"
upstream_version=${new_version%-*}            # 1.3.0~rc.1-1 -> 1.3.0~rc.1
upstream_version=${upstream_version/\~/-}     # the binary says 1.3.0-rc.1
if [ "${TEST_PACKAGE_PREMERGE:-}" != 1 ]; then
  in_box authwatch --version | has -F "$upstream_version" ||
    fail "authwatch --version does not name $upstream_version: $(in_box authwatch --version)"
fi
[ "$(unit_prop ActiveState)/$(unit_prop SubState)" = active/running ] || fail "authwatch.service is not running after the upgrade"
[ "$(unit_prop InvocationID)" != "$invocation_before" ] || fail "authwatch.service was not restarted by the upgrade"
ok "the service was restarted (new InvocationID)"
in_box grep -q '^watch: false ' /etc/authwatch/authwatch.yaml || fail "the upgrade replaced the edited authwatch.yaml"
ok "the edited /etc/authwatch/authwatch.yaml is kept"
wait_for "the API after the upgrade" api /api/v1/flows/package-selfcheck
run_after=$(newest_run $((id_before + 1)))
[ "$run_after" = "$run_before" ] || fail "the run recorded before the upgrade ($run_before) is gone after it ($run_after)"
ok "the state is kept: run $run_before is still in the database"

step "remove: dpkg -r stops the service and keeps configuration and state"
in_box dpkg -r authwatch </dev/null
state=$(unit_prop ActiveState)
[ "$state" != active ] && [ "$state" != activating ] || fail "authwatch.service is still $state after dpkg -r"
[ "$(unit_prop MainPID)" = 0 ] || fail "authwatch.service still has a main process after dpkg -r"
ok "the service is stopped (ActiveState=$state)"
in_box test -f /etc/authwatch/authwatch.yaml || fail "dpkg -r removed the configuration"
in_box test -f /var/lib/private/authwatch/authwatch.db || fail "dpkg -r removed the state"
in_box test ! -e /usr/bin/authwatch || fail "dpkg -r left /usr/bin/authwatch"
ok "configuration and state stay after dpkg -r"

step "reinstall after remove: dpkg -i starts the service again on the state it left"
in_box dpkg -i /pkgs/upgrade.deb </dev/null
[ "$(unit_prop ActiveState)/$(unit_prop SubState)" = active/running ] || fail "authwatch.service is not running after a reinstall"
wait_for "the API after the reinstall" api /api/v1/flows/package-selfcheck
[ "$(newest_run $((id_before + 1)))" = "$run_before" ] || fail "the run recorded before the upgrade is gone after remove and reinstall"
ok "running again, run $run_before still in the database"

step "purge: apt-get purge stops the running service and removes what the package added, and nothing else"
in_box apt-get purge -y -qq authwatch </dev/null
state=$(unit_prop ActiveState)
[ "$state" != active ] && [ "$state" != activating ] || fail "authwatch.service is still $state after apt-get purge"
ok "the service is stopped (ActiveState=$state)"
after=$(listing)
extra=$(diff <(echo "$before") <(echo "$after") || true)
expected=""
if [ "${TEST_PACKAGE_PREMERGE:-}" = 1 ]; then
  expected='/etc/authwatch/flows.d/seed.yaml'
fi
expected=$(printf '%s\n' /etc/authwatch /etc/authwatch/flows.d /etc/authwatch/flows.d/selfcheck.yaml $expected | LC_ALL=C sort)
got=$(sed -n 's/^> \([^ ]*\) .*/\1/p' <<<"$extra")
if [ -n "$(grep '^<' <<<"$extra")" ] || [ "$got" != "$expected" ]; then
  echo "$extra"
  fail "after purge the files differ from before the install by more than the test's own flow files (> added, < removed)"
fi
ok "only the test's own flow files are left: $(echo $got)"

echo
echo "test-package.sh: all checks passed"
