#!/usr/bin/env bash
# check-reproducible.sh VERSION: run scripts/package.sh VERSION twice and require the same
# SHA256SUMS. The second build runs under another umask, into another directory,
# and seconds later, so file modes, temporary paths and the clock cannot leak into the artifacts
# unnoticed.
# REPRO_FRESH_GOCACHE=1 gives the second build an empty Go build cache (slower: everything is
# compiled again), so that the compiled code itself is compared too, not just reused.
# REPRO_KEEP=DIR keeps the first build there (DIST is ignored: the builds go to a temporary
# directory). Other variables (PACKAGE_ARCHES, PACKAGE_SKIP_GENERATED_DOCS) pass through to
# package.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:?usage: scripts/check-reproducible.sh VERSION}
work=$(mktemp -d "${TMPDIR:-/tmp}/authwatch-repro.XXXXXX")
trap 'rm -rf "$work"' EXIT

(umask 022 && DIST="$work/one" scripts/package.sh "$version" >/dev/null)
second_env=(DIST="$work/two")
if [ "${REPRO_FRESH_GOCACHE:-}" = 1 ]; then
  second_env+=(GOCACHE="$work/gocache")
fi
(umask 002 && env "${second_env[@]}" scripts/package.sh "$version" >/dev/null)

if ! cmp -s "$work/one/SHA256SUMS" "$work/two/SHA256SUMS"; then
  echo "check-reproducible.sh: FAIL: two builds of the same commit differ:" >&2
  diff "$work/one/SHA256SUMS" "$work/two/SHA256SUMS" >&2 || true
  trap - EXIT
  echo "(both builds are kept: diffoscope $work/one/FILE $work/two/FILE shows how they differ)" >&2
  exit 1
fi
echo "check-reproducible.sh: two builds gave the same SHA256SUMS:"
cat "$work/one/SHA256SUMS"
if [ -n "${REPRO_KEEP:-}" ]; then
  rm -rf "$REPRO_KEEP"
  mkdir -p "$(dirname "$REPRO_KEEP")"
  mv "$work/one" "$REPRO_KEEP"
  echo "check-reproducible.sh: the first build is in $REPRO_KEEP"
fi
