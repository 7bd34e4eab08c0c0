#!/usr/bin/env bash
# Install the Debian packages some tox envs need, only when their command is missing:
#
#     scripts/ci/system-packages.sh chromium=chromium,fonts-liberation go=golang-go
#
# Each argument is COMMAND=PACKAGE[,PACKAGE...] (installed without Recommends: Chromium's pull in
# udev, upower, Mesa and a printer setup tool, none of which a headless test needs). apt-get runs as root, or through `sudo -n`; where neither
# works (or apt-get fails) the script says which packages are missing and exits 0: the tests
# that need them then skip with a reason naming the package, and nothing else is held up.
set -uo pipefail

missing=()
for pair in "$@"; do
    if ! command -v "${pair%%=*}" >/dev/null 2>&1; then
        IFS=, read -r -a packages <<<"${pair#*=}"
        missing+=("${packages[@]}")
    fi
done
if [ "${#missing[@]}" -eq 0 ]; then
    echo "system packages: present (${*})"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
else
    echo "system packages: cannot install ${missing[*]} (not root, no sudo): the tests that need them are skipped"
    exit 0
fi

echo "system packages: apt-get install ${missing[*]}"
started=$SECONDS
if "${sudo[@]}" apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null; then
    echo "system packages: installed ${missing[*]} in $((SECONDS - started)) s"
else
    echo "system packages: apt-get could not install ${missing[*]}: the tests that need them are skipped"
fi
exit 0
