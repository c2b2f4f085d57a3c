#!/usr/bin/env bash
# test-rpm.sh RPM UPGRADE_RPM: the .rpm's scriptlets under a real systemd. There is no Fedora
# here: rpm (Debian's package) installs it into the same throw-away Debian 12 as
# scripts/test-package.sh (--nodeps: that rpm database knows nothing of Debian's /usr/bin/kill).
#
#   install   rpm -i: the service is enabled and active (running)
#   upgrade   rpm -U of UPGRADE_RPM: the service was restarted, the edited authwatch.yaml is
#             kept (%config(noreplace)), the state is kept (the run recorded before is still in
#             the database)
#   erase     rpm -e: the service is stopped and disabled, the binary and the unit are gone,
#             the edited authwatch.yaml is saved as authwatch.yaml.rpmsave and the state stays
#             (RPM has no purge; docs/install.md says how to delete it)
#
# Needs what test-package.sh needs; TEST_PACKAGE_PREMERGE=1 as there.
set -euo pipefail
me=test-rpm.sh
# shellcheck source=scripts/sdbox-lib.sh
. "$(dirname "$0")/sdbox-lib.sh"
[ $# -eq 2 ] || { echo "usage: scripts/test-rpm.sh RPM UPGRADE_RPM" >&2; exit 2; }
[ -f "$1" ] && [ -f "$2" ] || { echo "$me: $1 or $2 is not a file" >&2; exit 2; }
sdbox_require
first=$(mktemp -d)
cp "$1" "$first/first.rpm"
cp "$2" "$first/upgrade.rpm"
sdbox_boot "$first/first.rpm" "$first/upgrade.rpm" -- procps rpm
rm -rf "$first"
rpm_in_box() { in_box rpm --force-debian --nodeps "$@" </dev/null; }
if [ "${TEST_PACKAGE_PREMERGE:-}" = 1 ]; then seed_flow; fi

step "install: rpm -i $(basename "$1")"
rpm_in_box -i /pkgs/first.rpm
[ "$(in_box systemctl is-enabled authwatch)" = enabled ] || fail "authwatch.service is not enabled after rpm -i"
running || fail "authwatch.service is not active (running) after rpm -i"
ok "authwatch.service is enabled and active (running)"

step "upgrade: rpm -U $(basename "$2") keeps the edited config and the state"
in_box sed -i 's/^watch: true /watch: false /' /etc/authwatch/authwatch.yaml
drop_selfcheck_flow
in_box systemctl restart authwatch
running || fail "authwatch.service is not running with the edited authwatch.yaml"
wait_for "a passing run of the selfcheck flow" selfcheck_passed
run_before=$(newest_run)
id_before=$(jq -r .id <<<"$run_before")
invocation_before=$(unit_prop InvocationID)
rpm_in_box -U /pkgs/upgrade.rpm
running || fail "authwatch.service is not running after the upgrade"
[ "$(unit_prop InvocationID)" != "$invocation_before" ] || fail "authwatch.service was not restarted by the upgrade"
ok "the service was restarted (new InvocationID)"
in_box grep -q '^watch: false ' /etc/authwatch/authwatch.yaml || fail "the upgrade replaced the edited authwatch.yaml"
ok "the edited /etc/authwatch/authwatch.yaml is kept"
wait_for "the API after the upgrade" api /api/v1/flows/package-selfcheck
[ "$(run_by_id "$id_before")" = "$run_before" ] || fail "the run recorded before the upgrade ($run_before) is gone after it"
ok "the state is kept: run $run_before is still in the database"

step "erase: rpm -e stops and disables the service"
rpm_in_box -e authwatch
stopped || fail "authwatch.service is still $(unit_prop ActiveState) after rpm -e"
in_box test ! -e /etc/systemd/system/multi-user.target.wants/authwatch.service || fail "authwatch.service is still enabled"
in_box test ! -e /usr/bin/authwatch || fail "rpm -e left /usr/bin/authwatch"
in_box test ! -e /lib/systemd/system/authwatch.service || fail "rpm -e left the unit"
ok "stopped, disabled, binary and unit gone"
in_box grep -q '^watch: false ' /etc/authwatch/authwatch.yaml.rpmsave || fail "the edited authwatch.yaml was not saved as .rpmsave"
in_box test -f /var/lib/private/authwatch/authwatch.db || fail "rpm -e removed the state"
ok "the edited config is saved as authwatch.yaml.rpmsave and the state stays"

echo
echo "$me: all checks passed"
