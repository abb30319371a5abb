#!/usr/bin/env bash
# Release artefacts in dist/: the Linux binary, shell completions and the man page, all
# generated from the clap definition by the binary itself; with --deb, also the Debian
# package (cargo-deb, metadata in crates/lport-cli/Cargo.toml).
#
#   bash scripts/dist.sh          dist/lport, dist/completions/*, dist/man/lport.1(.gz)
#   bash scripts/dist.sh --deb    and dist/lport_<version>_<arch>.deb
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p lport-cli
bin=target/release/lport
mkdir -p dist/completions dist/man
cp "$bin" dist/lport
"$bin" completions bash > dist/completions/lport.bash
"$bin" completions zsh > dist/completions/_lport
"$bin" completions fish > dist/completions/lport.fish
"$bin" completions powershell > dist/completions/_lport.ps1
"$bin" man > dist/man/lport.1
gzip -9 -n -c dist/man/lport.1 > dist/man/lport.1.gz
if [ "${1:-}" = --deb ]; then
    command -v cargo-deb >/dev/null || cargo install cargo-deb --locked
    cargo deb -p lport-cli --no-build --output dist/
fi
ls -l dist
