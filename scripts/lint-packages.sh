#!/usr/bin/env bash
# lint-packages.sh DIST: check what scripts/package.sh built into DIST, without installing it
# (scripts/test-package.sh installs the .deb under systemd):
#   - lintian on every .deb: no tag left but those packaging/lintian-overrides explains
#     (with PACKAGE_SKIP_GENERATED_DOCS=1, no-manual-page is expected and suppressed)
#   - every .deb, .rpm and .tar.gz holds the files an operator is told about (docs/install.md),
#     /etc/authwatch/authwatch.yaml is a conffile (%config(noreplace) in the .rpm), the unit
#     starts /usr/bin/authwatch, the maintainer scripts are there
#   - the .deb and the .rpm of an architecture install the same files (but for each one's
#     own: the Debian changelog and lintian overrides, the RPM licence directory)
#   - SHA256SUMS matches the files
# Needs lintian and rpm (apt-get install lintian rpm).
set -euo pipefail
dist=${1:?usage: scripts/lint-packages.sh DIST}
fail() { echo "lint-packages.sh: FAIL: $*" >&2; exit 1; }
# has ARGS: grep -q that reads all its input (a producer cut off by SIGPIPE fails under pipefail).
has() { grep "$@" >/dev/null; }
for tool in lintian rpm; do command -v $tool >/dev/null || fail "$tool missing: apt-get install $tool"; done
cd "$dist"
sha256sum --quiet -c SHA256SUMS || fail "SHA256SUMS does not match the files"

skip=()
[ "${PACKAGE_SKIP_GENERATED_DOCS:-}" = 1 ] && skip=(--suppress-tags no-manual-page)
common=(/usr/bin/authwatch /lib/systemd/system/authwatch.service /etc/authwatch/authwatch.yaml
  /etc/authwatch/flows.d /etc/authwatch/flows.d/README /usr/share/doc/authwatch/copyright
  /usr/share/doc/authwatch/examples/flows.d/keycloak.yaml
  /usr/share/doc/authwatch/examples/systemd/authwatch-browser.conf
  /usr/share/doc/authwatch/third-party-licenses.gz)
if [ "${PACKAGE_SKIP_GENERATED_DOCS:-}" != 1 ]; then
  common+=(/usr/share/man/man1/authwatch.1.gz /usr/share/bash-completion/completions/authwatch
    /usr/share/zsh/vendor-completions/_authwatch /usr/share/fish/vendor_completions.d/authwatch.fish)
fi
has_all() { # LISTING WHAT
  local f
  for f in "${common[@]}"; do grep -qx "$f" <<<"$1" || fail "$2 lacks $f"; done
}

for deb in *.deb; do
  echo "lintian $deb"
  # Overridden tags are listed (O:) with their reasons (N:); any other tag, down to the
  # pedantic ones, fails. (With --show-overrides, --fail-on counts the overridden tags too:
  # hence two runs.)
  lintian --display-info --pedantic --show-overrides "${skip[@]}" "$deb" 2>&1 |
    grep -v 'running with root privileges is not recommended' || true
  lintian --fail-on error,warning,info,pedantic --display-info --pedantic "${skip[@]}" "$deb" >/dev/null 2>&1 ||
    fail "lintian: $deb (tags above without O:)"
  deb_files=$(dpkg-deb --fsys-tarfile "$deb" | tar -t | sed 's#^\./#/#; s#/$##' | grep -v '^/$' | LC_ALL=C sort)
  has_all "$deb_files" "$deb"
  changelog_version=$(dpkg-deb --fsys-tarfile "$deb" | tar -xOf - ./usr/share/doc/authwatch/changelog.Debian.gz | gzip -dc |
    sed -n '1s/^authwatch (\(.*\)) .*/\1/p')
  [ "$changelog_version" = "$(dpkg-deb -f "$deb" Version)" ] ||
    fail "$deb: changelog.Debian.gz names version $changelog_version, the package is $(dpkg-deb -f "$deb" Version)"
  [ "$(dpkg-deb -f "$deb" Depends)" = procps ] || fail "$deb: Depends is not procps (the unit's ExecReload= runs /bin/kill)"
  dpkg-deb -I "$deb" conffiles | has -x /etc/authwatch/authwatch.yaml || fail "$deb: authwatch.yaml is not a conffile"
  for s in postinst prerm postrm; do dpkg-deb -I "$deb" "$s" >/dev/null || fail "$deb: no $s"; done
  dpkg-deb --fsys-tarfile "$deb" | tar -xOf - ./lib/systemd/system/authwatch.service | has '^ExecStart=/usr/bin/authwatch run ' ||
    fail "$deb: the unit does not start /usr/bin/authwatch"

  arch=$(dpkg-deb -f "$deb" Architecture)
  case $arch in amd64) rpm_arch=x86_64;; arm64) rpm_arch=aarch64;; *) fail "unexpected architecture $arch";; esac
  rpm_file=$(ls -- *."$rpm_arch".rpm)
  echo "rpm $rpm_file"
  rpm_files=$(rpm -qpl "$rpm_file" | LC_ALL=C sort)
  has_all "$rpm_files" "$rpm_file"
  rpm -qpc "$rpm_file" | has -x /etc/authwatch/authwatch.yaml || fail "$rpm_file: authwatch.yaml is not %config"
  rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$rpm_file" | has -x 'cn /etc/authwatch/authwatch.yaml' ||
    fail "$rpm_file: authwatch.yaml is not %config(noreplace)"
  rpm -qpR "$rpm_file" | has -x /usr/bin/kill || fail "$rpm_file: does not require /usr/bin/kill"
  for s in postinstall preuninstall postuninstall; do
    rpm -qp --scripts "$rpm_file" | has "^$s scriptlet" || fail "$rpm_file: no $s scriptlet"
  done
  # Regular files only: a .deb lists every parent directory, an .rpm only those it owns.
  deb_regular=$(dpkg-deb --fsys-tarfile "$deb" | tar -tv | awk '$1 ~ /^-/ { sub(/^\./, "", $6); print $6 }' |
    grep -v -e '^/usr/share/doc/authwatch/changelog.Debian.gz$' -e '^/usr/share/lintian/' | LC_ALL=C sort)
  rpm_regular=$(rpm -qp --qf '[%{FILEMODES:perms} %{FILENAMES}\n]' "$rpm_file" | awk '$1 ~ /^-/ { print $2 }' |
    grep -v '^/usr/share/licenses/' | LC_ALL=C sort)
  only=$(diff <(echo "$deb_regular") <(echo "$rpm_regular")) || true
  [ -z "$only" ] || fail "$deb and $rpm_file install different files (< only in the .deb, > only in the .rpm):
$only"
done

for tgz in *.tar.gz; do
  echo "tar $tgz"
  top=${tgz%.tar.gz}
  listing=$(tar -tzf "$tgz")
  for f in authwatch LICENSE README.md THIRD_PARTY_LICENSES docs/install.md flows.d/keycloak.yaml \
      systemd/authwatch.service systemd/authwatch.yaml systemd/authwatch-browser.conf third_party/uplot/LICENSE; do
    grep -qx "$top/$f" <<<"$listing" || fail "$tgz lacks $top/$f"
  done
  if [ "${PACKAGE_SKIP_GENERATED_DOCS:-}" != 1 ]; then
    for f in man/authwatch.1 completions/authwatch.bash completions/_authwatch completions/authwatch.fish; do
      grep -qx "$top/$f" <<<"$listing" || fail "$tgz lacks $top/$f"
    done
  fi
  [ -z "$(tar -tvzf "$tgz" | awk '$2 != "0/0"')" ] || fail "$tgz has files not owned by 0/0"
done
echo "lint-packages.sh: $(ls -- *.deb *.rpm *.tar.gz | wc -l) artifacts checked"
