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
me=test-package.sh
# shellcheck source=scripts/sdbox-lib.sh
. "$(dirname "$0")/sdbox-lib.sh"
[ $# -eq 2 ] || { echo "usage: scripts/test-package.sh DEB UPGRADE_DEB" >&2; exit 2; }
[ -f "$1" ] && [ -f "$2" ] || { echo "$me: $1 or $2 is not a file" >&2; exit 2; }
sdbox_require
first=$(mktemp -d)
cp "$1" "$first/first.deb"
cp "$2" "$first/upgrade.deb"
# The package depends on procps (/bin/kill, the unit's ExecReload=).
sdbox_boot "$first/first.deb" "$first/upgrade.deb" -- procps
rm -rf "$first"

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
before=$(listing)
if [ "${TEST_PACKAGE_PREMERGE:-}" = 1 ]; then seed_flow; fi

step "install: dpkg -i $(basename "$1")"
in_box dpkg -i /pkgs/first.deb </dev/null
[ "$(in_box systemctl is-enabled authwatch)" = enabled ] || fail "authwatch.service is not enabled after dpkg -i"
ok "authwatch.service is enabled"
# Type=notify: the start that postinst made returned once the daemon said READY=1.
running ||
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
running || fail "authwatch.service is not running with watch: false"
drop_selfcheck_flow
in_box authwatch validate /etc/authwatch/flows.d
in_box systemctl reload authwatch || fail "systemctl reload authwatch failed"
wait_for "a passing run of the dropped flow in authwatch_flow_runs_total" selfcheck_passed
api /metrics | grep '^authwatch_flow_runs_total{flow="package-selfcheck"'
ok "the dropped flow runs and passes"

step "upgrade: dpkg -i $(basename "$2") keeps the edited config and the state"
in_box test -f /var/lib/private/authwatch/authwatch.db || fail "no state database in /var/lib/private/authwatch"
# The newest run of the flow, as the database holds it: {"id":N,...,"start":"..."}.
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
running || fail "authwatch.service is not running after the upgrade"
[ "$(unit_prop InvocationID)" != "$invocation_before" ] || fail "authwatch.service was not restarted by the upgrade"
ok "the service was restarted (new InvocationID)"
in_box grep -q '^watch: false ' /etc/authwatch/authwatch.yaml || fail "the upgrade replaced the edited authwatch.yaml"
ok "the edited /etc/authwatch/authwatch.yaml is kept"
wait_for "the API after the upgrade" api /api/v1/flows/package-selfcheck
run_after=$(run_by_id "$id_before")
[ "$run_after" = "$run_before" ] || fail "the run recorded before the upgrade ($run_before) is gone after it ($run_after)"
ok "the state is kept: run $run_before is still in the database"

step "remove: dpkg -r stops the service and keeps configuration and state"
in_box dpkg -r authwatch </dev/null
stopped || fail "authwatch.service is still $(unit_prop ActiveState) after dpkg -r"
ok "the service is stopped ($(unit_prop ActiveState))"
in_box test -f /etc/authwatch/authwatch.yaml || fail "dpkg -r removed the configuration"
in_box test -f /var/lib/private/authwatch/authwatch.db || fail "dpkg -r removed the state"
in_box test ! -e /usr/bin/authwatch || fail "dpkg -r left /usr/bin/authwatch"
ok "configuration and state stay after dpkg -r"

step "reinstall after remove: dpkg -i starts the service again on the state it left"
in_box dpkg -i /pkgs/upgrade.deb </dev/null
running || fail "authwatch.service is not running after a reinstall"
wait_for "the API after the reinstall" api /api/v1/flows/package-selfcheck
[ "$(run_by_id "$id_before")" = "$run_before" ] || fail "the run recorded before the upgrade is gone after remove and reinstall"
ok "running again, run $run_before still in the database"

step "purge: apt-get purge stops the running service and removes what the package added, and nothing else"
in_box apt-get purge -y -qq authwatch </dev/null
stopped || fail "authwatch.service is still $(unit_prop ActiveState) after apt-get purge"
ok "the service is stopped ($(unit_prop ActiveState))"
after=$(listing)
changes=$(diff <(echo "$before") <(echo "$after") || true)
expected=""
if [ "${TEST_PACKAGE_PREMERGE:-}" = 1 ]; then
  expected='/etc/authwatch/flows.d/seed.yaml'
fi
expected=$(printf '%s\n' /etc/authwatch /etc/authwatch/flows.d /etc/authwatch/flows.d/selfcheck.yaml $expected | LC_ALL=C sort)
got=$(sed -n 's/^> \([^ ]*\) .*/\1/p' <<<"$changes")
if [ -n "$(grep '^<' <<<"$changes")" ] || [ "$got" != "$expected" ]; then
  echo "$changes"
  fail "after purge the files differ from before the install by more than the test's own flow files (> added, < removed)"
fi
ok "only the test's own flow files are left: $(echo $got)"

echo
echo "test-package.sh: all checks passed"
