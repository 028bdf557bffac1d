#!/usr/bin/env bash
# Install the Debian packages zcimport needs to build, test, demo and benchmark.
# Python packages do not come from Debian: test/venv.sh installs them with pip
# into virtual environments under .venv/ (python3-venv and python3-dev here
# are what it needs to make them and to build the client's C module).
#
# Idempotent: it asks dpkg what is missing and installs only that, running
# apt-get update at most once.  Must run as root (as CI and sessions do).
set -euo pipefail

packages=(
	build-essential
	postgresql-15
	postgresql-server-dev-15
	postgresql-15-pgaudit
	libkrb5-dev
	openssl
	python3-dev
	python3-venv
	distro-info-data
	tzdata
	clang
	libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing packages: ${missing[*]}; run as root to install them" >&2
	exit 1
fi

echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
