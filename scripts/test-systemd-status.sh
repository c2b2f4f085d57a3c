#!/usr/bin/env bash
# Proves, under a real systemd (sdbox: PID 1 of a throw-away systemd-nspawn
# container booting this machine's /usr), what systemd-analyze cannot:
#
#   - the repo's unit, with every hardening directive kept, starts the daemon
#     (Type=notify: `systemctl start` returns once READY=1 came);
#   - a fresh install with an empty flows.d starts and says "0 flows" in
#     STATUS= (`systemctl show -p StatusText`);
#   - a flow file added and `systemctl reload authwatch` run updates STATUS=
#     ("1 flow, 0 failing, …; last reload ok"), and so does a failing one;
#   - a broken flow file makes the reload say "last reload rejected" while the
#     old flows keep running.
#
# Needs root, systemd-container (systemd-nspawn) and go. Usage:
#   scripts/test-systemd-status.sh
# SDBOX=path/to/sdbox chooses sdbox (default: ../shared/sdbox beside the
# repository); AUTHWATCH_BIN=path uses a built binary instead of building one
# (a build takes ~10 s warm, minutes cold; the rest ~20 s).
# Exit 0 when every check passed; the unit's journal is printed on failure.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
sdbox=${SDBOX:-}
for c in "$repo/../shared/sdbox" "$repo/../../shared/sdbox" /work/shared/sdbox; do
  [ -n "$sdbox" ] && break
  [ -x "$c" ] && sdbox=$c
done
[ -n "$sdbox" ] || { echo "test-systemd-status: no sdbox (set SDBOX=)"; exit 2; }
[ "$(id -u)" = 0 ] || { echo "test-systemd-status: needs root (systemd-nspawn)"; exit 2; }
command -v systemd-nspawn >/dev/null || { echo "test-systemd-status: needs systemd-nspawn (apt-get install systemd-container)"; exit 2; }

t0=$(date +%s.%N)
since() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
name=aw-status-$$
work=$(mktemp -d)
chmod 0755 "$work" # DynamicUser= must reach the binary
cleanup() {
  "$sdbox" stop "$name" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# The binary and the files, bound read-only at /opt/authwatch.
mkdir -p "$work/bin" "$work/flows"
if [ -n "${AUTHWATCH_BIN:-}" ]; then
  cp "$AUTHWATCH_BIN" "$work/bin/authwatch"
else
  (cd "$repo" && go build -o "$work/bin/authwatch" ./cmd/authwatch)
fi
chmod 0755 "$work/bin" "$work/bin/authwatch" "$work/flows"
# The repo's unit as it is, but for where the binary lives: every hardening
# directive stays.
sed 's#/usr/local/bin/authwatch#/opt/authwatch/bin/authwatch#' "$repo/systemd/authwatch.service" >"$work/authwatch.service"
grep -q '^ExecStart=/opt/authwatch/bin/authwatch run' "$work/authwatch.service"
diff <(grep -v '^ExecStart=' "$repo/systemd/authwatch.service") <(grep -v '^ExecStart=' "$work/authwatch.service")
cat >"$work/authwatch.yaml" <<'EOF'
flows_dir: /etc/authwatch/flows.d
listen: 127.0.0.1:9464
watch: false        # the reloads below come from systemctl reload
EOF
# A flow that checks the daemon itself (the container has its own loopback),
# one that fails (nothing listens on port 9), one that does not load.
cat >"$work/flows/self.yaml" <<'EOF'
name: self
every: 1s
steps:
  - id: health
    kind: http
    url: http://127.0.0.1:9464/healthz
    expect: {status: 200}
EOF
cat >"$work/flows/down.yaml" <<'EOF'
name: down
every: 1s
steps:
  - id: call
    kind: http
    url: http://127.0.0.1:9/
    expect: {status: 200}
EOF
printf 'name: broken\nsteps: [\n' >"$work/flows/broken.yaml"
chmod 0644 "$work"/flows/* "$work/authwatch.yaml" "$work/authwatch.service"
echo "built in $(since) s"

"$sdbox" start "$name" --bind-ro "$work:/opt/authwatch" >/dev/null
echo "container up in $(since) s"
box() { "$sdbox" exec "$name" "$@"; }
fail() {
  echo "FAIL: $*"
  box systemctl status --no-pager authwatch || true
  box journalctl -u authwatch --no-pager -n 60 || true
  exit 1
}
status_text() { box systemctl show -p StatusText --value authwatch; }
wait_status() { # wait_status WANT: StatusText equal to WANT within 30 s
  for _ in $(seq 150); do
    [ "$(status_text)" = "$1" ] && { echo "ok ($(since) s): StatusText=$1"; return 0; }
    sleep 0.2
  done
  fail "StatusText is '$(status_text)', want '$1'"
}

box mkdir -p /etc/authwatch/flows.d
box cp /opt/authwatch/authwatch.yaml /etc/authwatch/authwatch.yaml
box cp /opt/authwatch/authwatch.service /etc/systemd/system/authwatch.service
box systemctl daemon-reload
# Type=notify: start returns once the daemon sent READY=1.
box timeout 60 systemctl start authwatch || fail "systemctl start authwatch"
props=$(box systemctl show -p Type -p ActiveState -p SubState -p NRestarts authwatch)
grep -qx 'Type=notify' <<<"$props" || fail "not Type=notify: $props"
grep -qx 'ActiveState=active' <<<"$props" || fail "not active after start: $props"
grep -qx 'SubState=running' <<<"$props" || fail "not running after start: $props"
echo "ok ($(since) s): started, $(tr '\n' ' ' <<<"$props")"
# A fresh install: no flow file yet.
wait_status "0 flows, 0 failing, 0 incidents open; last reload ok"

box cp /opt/authwatch/flows/self.yaml /etc/authwatch/flows.d/
box timeout 30 systemctl reload authwatch || fail "systemctl reload authwatch"
wait_status "1 flow, 0 failing, 0 incidents open; last reload ok"

box cp /opt/authwatch/flows/down.yaml /etc/authwatch/flows.d/
box timeout 30 systemctl reload authwatch || fail "systemctl reload authwatch (2)"
wait_status "2 flows, 1 failing, 1 incident open; last reload ok"

box cp /opt/authwatch/flows/broken.yaml /etc/authwatch/flows.d/
box timeout 30 systemctl reload authwatch || fail "systemctl reload authwatch (3)"
wait_status "2 flows, 1 failing, 1 incident open; last reload rejected (the old flows run; see the log)"

props=$(box systemctl show -p ActiveState -p NRestarts authwatch)
grep -qx 'ActiveState=active' <<<"$props" || fail "not active at the end: $props"
grep -qx 'NRestarts=0' <<<"$props" || fail "restarted: $props"
box timeout 40 systemctl stop authwatch || fail "systemctl stop authwatch"
echo "PASS: authwatch under systemd with the repo's unit: readiness, STATUS= and reload ($(since) s)"
