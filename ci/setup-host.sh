#!/usr/bin/env bash
# Host setup for a fresh Debian 12 machine with only Rust installed (run as root).
# Cargo needs a C toolchain to link xtask itself; everything else comes from the one
# package list, ci/packages.toml, through `cargo xtask deps`.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cc >/dev/null 2>&1; then
    echo "setup-host: installing build-essential (cargo needs a linker to build xtask)"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends build-essential
fi
cargo xtask deps
