#!/usr/bin/env bash
# package.sh VERSION: build the release artifacts of authwatch into dist/:
#   authwatch_VERSION-1_{amd64,arm64}.deb       (nfpm, packaging/nfpm.yaml)
#   authwatch-VERSION-1.{x86_64,aarch64}.rpm
#   authwatch-VERSION-linux-{amd64,arm64}.tar.gz (binary, LICENSE, README, docs, example flows,
#                                                 unit, sample config, man page, completions)
#   SHA256SUMS
#
# Reproducible: the same commit (and VERSION) gives the same SHA256SUMS on any machine with
# the same Go toolchain (scripts/check-reproducible.sh builds twice and compares). Static
# binaries (CGO_ENABLED=0) built with -trimpath, no build id, the commit stamped by go build
# itself (vcs.revision, vcs.time: stable for a commit); every file's mtime is
# SOURCE_DATE_EPOCH, the last commit's time; archives are sorted and owned by root:root.
#
# The man page and completions come from `authwatch man` and `authwatch completion
# bash|zsh|fish` run on the freshly built binary. PACKAGE_SKIP_GENERATED_DOCS=1 builds without
# them, for trees whose CLI does not have those commands yet.
#
# Environment: PACKAGE_ARCHES (default "amd64 arm64"), DIST (default dist; give a path
# outside the repository or an ignored one, or go build would stamp vcs.modified),
# SOURCE_DATE_EPOCH (default: the last commit's time; required outside a git checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
die() { echo "package.sh: $*" >&2; exit 2; }

version=${1:-}
[ -n "$version" ] || die "usage: scripts/package.sh VERSION (e.g. 1.2.0 or 1.3.0-rc.1)"
version=${version#v}
semver='^([0-9]+\.[0-9]+\.[0-9]+)(-([0-9A-Za-z.]+))?(\+([0-9A-Za-z.]+))?$'
[[ $version =~ $semver ]] || die "VERSION $version: not a semantic version MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD] (e.g. 1.2.0, 1.3.0-rc.1)"
arches=${PACKAGE_ARCHES:-amd64 arm64}
dist=${DIST:-dist}
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null) || die "not a git checkout: set SOURCE_DATE_EPOCH"
fi
export SOURCE_DATE_EPOCH
# Files this script writes get the same modes whatever the caller's umask.
umask 022
export LC_ALL=C TZ=UTC

stage=$(mktemp -d "${TMPDIR:-/tmp}/authwatch-package.XXXXXX")
trap 'rm -rf "$stage"' EXIT
export AW_STAGE=$stage AW_VERSION=$version

build_binary() { # ARCH
  mkdir -p "$stage/$1"
  # The caller's GOFLAGS, GOAMD64, GOARM64 and GOEXPERIMENT would change the code: pinned.
  GOOS=linux GOARCH=$1 CGO_ENABLED=0 GOFLAGS=-mod=readonly GOAMD64=v1 GOARM64=v8.0 GOEXPERIMENT='' \
    go build -trimpath \
    -ldflags "-s -w -buildid= -X github.com/authwatch/authwatch/internal/version.Version=$version" \
    -o "$stage/$1/authwatch" ./cmd/authwatch
}

# third_party_licenses BINARY: the licence texts of the Go toolchain and of every module linked
# into BINARY, copied from the module cache (a module without one fails the build).
third_party_licenses() {
  local goroot modcache path ver dir found f
  goroot=$(go env GOROOT) modcache=$(go env GOMODCACHE)
  echo "authwatch links the Go standard library and the Go modules below into its binary."
  echo "Each is distributed under its own licence, reproduced here as the module ships it."
  printf '\n==== Go %s (standard library and runtime)\n\n' "$(go env GOVERSION)"
  cat "$goroot/LICENSE"
  go version -m "$1" | awk '$1 == "dep" { print $2, $3 }' | sort | while read -r path ver; do
    # The module cache escapes upper-case letters as !lower-case.
    dir="$modcache/$(sed 's/[A-Z]/!\L&/g' <<<"$path")@$ver"
    [ -d "$dir" ] || go mod download "$path@$ver" >/dev/null
    found=0
    for f in "$dir"/LICENSE* "$dir"/LICENCE* "$dir"/COPYING* "$dir"/NOTICE* "$dir"/PATENTS; do
      [ -f "$f" ] || continue
      printf '\n==== %s %s (%s)\n\n' "$path" "$ver" "$(basename "$f")"
      cat "$f"
      found=1
    done
    [ "$found" = 1 ] || die "module $path $ver has no LICENSE file in $dir"
  done
}

# The unit in the package is the repository's, with the binary where the package puts it.
packaged_unit() {
  sed -e 's#^ExecStart=/usr/local/bin/authwatch #ExecStart=/usr/bin/authwatch #' \
      -e 's#^\# Install: see README.md ("Install as a service")\.#\# Installed by the authwatch package: change it with `systemctl edit authwatch`.#' \
      systemd/authwatch.service >"$stage/authwatch.service"
  grep -q '^ExecStart=/usr/bin/authwatch run ' "$stage/authwatch.service" ||
    die "systemd/authwatch.service: no 'ExecStart=/usr/local/bin/authwatch run ...' line to point at /usr/bin/authwatch"
  ! grep -q /usr/local/bin "$stage/authwatch.service" ||
    die "systemd/authwatch.service still names /usr/local/bin after the substitution"
}

changelog() {
  local date
  date=$(date -u -d "@$SOURCE_DATE_EPOCH" -R)
  {
    echo "authwatch ($(deb_version)) unstable; urgency=medium"
    echo
    echo "  * Release $version, built from commit $(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)."
    echo "    Changes: https://github.com/authwatch/authwatch/commits/v$version"
    echo
    echo " -- $(sed -n 's/^maintainer: //p' packaging/nfpm.yaml)  $date"
  } | gzip -9n >"$stage/changelog.Debian.gz"
}

# The Debian version nfpm writes: a pre-release sorts before its release (~), then the
# package revision.
deb_version() {
  [[ $version =~ $semver ]]
  echo "${BASH_REMATCH[1]}${BASH_REMATCH[3]:+~${BASH_REMATCH[3]}}${BASH_REMATCH[5]:++${BASH_REMATCH[5]}}-1"
}

generated_docs() { # HOST_BINARY
  local bin=$1 sh
  if [ "${PACKAGE_SKIP_GENERATED_DOCS:-}" = 1 ]; then
    echo "package.sh: PACKAGE_SKIP_GENERATED_DOCS=1: no man page and no completions in these packages" >&2
    sed '/# generated-docs: begin/,/# generated-docs: end/d' packaging/nfpm.yaml >"$stage/nfpm.yaml"
    return
  fi
  cp packaging/nfpm.yaml "$stage/nfpm.yaml"
  "$bin" man >"$stage/authwatch.1" 2>"$stage/man.err" ||
    die "\`authwatch man\` failed (exit $?): this tree's CLI cannot print its man page yet: $(head -1 "$stage/man.err")
  The man page and the completions are generated by \`authwatch man\` and \`authwatch completion bash|zsh|fish\`;
  set PACKAGE_SKIP_GENERATED_DOCS=1 to build the packages without them."
  grep -q '^\.TH ' "$stage/authwatch.1" || die "\`authwatch man\` printed no roff man page (no .TH line)"
  gzip -9n "$stage/authwatch.1"
  for sh in bash zsh fish; do
    "$bin" completion "$sh" >"$stage/completion.$sh" 2>"$stage/completion.err" ||
      die "\`authwatch completion $sh\` failed (exit $?): $(head -1 "$stage/completion.err")
  set PACKAGE_SKIP_GENERATED_DOCS=1 to build the packages without completions and man page."
    [ -s "$stage/completion.$sh" ] || die "\`authwatch completion $sh\` printed nothing"
  done
}

tarball() { # ARCH
  local name="authwatch-$version-linux-$1" d
  d="$stage/tar/$name"
  mkdir -p "$d/docs" "$d/flows.d" "$d/systemd" "$d/third_party/uplot"
  cp "$stage/$1/authwatch" "$d/authwatch"
  cp LICENSE README.md "$d/"
  cp -r docs/. "$d/docs/"
  cp flows.d/*.yaml "$d/flows.d/"
  cp systemd/authwatch.service systemd/authwatch.yaml systemd/authwatch-browser.conf "$d/systemd/"
  cp internal/statuspage/assets/vendor/uplot/LICENSE "$d/third_party/uplot/LICENSE"
  gzip -dc "$stage/$1/third-party-licenses.gz" >"$d/THIRD_PARTY_LICENSES"
  if [ -f "$stage/authwatch.1.gz" ]; then
    mkdir -p "$d/man" "$d/completions"
    gzip -dc "$stage/authwatch.1.gz" >"$d/man/authwatch.1"
    cp "$stage/completion.bash" "$d/completions/authwatch.bash"
    cp "$stage/completion.zsh" "$d/completions/_authwatch"
    cp "$stage/completion.fish" "$d/completions/authwatch.fish"
  fi
  chmod -R u=rwX,go=rX "$d"
  chmod 0755 "$d/authwatch"
  tar --sort=name --format=gnu --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
    -C "$stage/tar" -cf - "$name" | gzip -9n >"$dist/$name.tar.gz"
}

rm -rf "$dist"
mkdir -p "$dist"
host_arch=$(go env GOHOSTARCH)
host_bin=""
for arch in $arches; do
  echo "package.sh: building authwatch $version for linux/$arch"
  build_binary "$arch"
  third_party_licenses "$stage/$arch/authwatch" | gzip -9n >"$stage/$arch/third-party-licenses.gz"
  if [ "$arch" = "$host_arch" ] && [ "$(go env GOHOSTOS)" = linux ]; then host_bin="$stage/$arch/authwatch"; fi
done
if [ -z "$host_bin" ] && [ "${PACKAGE_SKIP_GENERATED_DOCS:-}" != 1 ]; then
  echo "package.sh: building a host binary to generate the man page and completions"
  GOOS=$(go env GOHOSTOS) GOARCH=$host_arch CGO_ENABLED=0 go build -trimpath -o "$stage/host-authwatch" ./cmd/authwatch
  host_bin="$stage/host-authwatch"
fi
generated_docs "$host_bin"
packaged_unit
changelog

for arch in $arches; do
  for packager in deb rpm; do
    AW_ARCH=$arch go tool nfpm package --config "$stage/nfpm.yaml" --packager "$packager" --target "$dist/" >/dev/null
  done
  tarball "$arch"
done

(cd "$dist" && sha256sum -- *.deb *.rpm *.tar.gz >SHA256SUMS)
echo "package.sh: $dist/:"
(cd "$dist" && ls -l -- *.deb *.rpm *.tar.gz SHA256SUMS | awk '{ printf "  %10d  %s\n", $5, $9 }')
