#!/usr/bin/env bash
# Links lport for macOS on Linux: zig as the C compiler and linker (ring, rustls's crypto,
# needs one that targets Apple), through cargo-zigbuild. Both from PyPI. Checks that each
# output is a Mach-O executable for its architecture and copies it to dist/.
#
#   scripts/build-macos.sh              # debug builds of both targets
#   PROFILE=release scripts/build-macos.sh
#
# macOS 11 is the oldest target: without MACOSX_DEPLOYMENT_TARGET zig asks for the newest.
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-debug}
export MACOSX_DEPLOYMENT_TARGET=${MACOSX_DEPLOYMENT_TARGET:-11.0}

if ! command -v cargo-zigbuild >/dev/null || ! python3 -c 'import ziglang' 2>/dev/null; then
    if python3 -m pip --version >/dev/null 2>&1; then
        python3 -m pip install --quiet --disable-pip-version-check ziglang cargo-zigbuild ||
            python3 -m pip install --quiet --disable-pip-version-check --break-system-packages ziglang cargo-zigbuild
    else
        # Debian's Python without pip: install it, then allow the system-wide install.
        apt-get install -y -qq --no-install-recommends python3-pip >/dev/null
        python3 -m pip install --quiet --break-system-packages ziglang cargo-zigbuild
    fi
    hash -r
fi
flags=(--locked -p lport-cli)
[ "$PROFILE" = release ] && flags+=(--release)
mkdir -p dist
for target in aarch64-apple-darwin x86_64-apple-darwin; do
    rustup target add "$target" >/dev/null
    # The SDK is not here: a warning that xcrun is missing is expected and harmless.
    cargo zigbuild "${flags[@]}" --target "$target"
    bin=target/$target/$PROFILE/lport
    [ -f "$bin" ] || { echo "build-macos.sh: $bin was not built" >&2; exit 1; }
    # Mach-O 64-bit magic (cf fa ed fe), then the CPU type: 0x0100000c arm64, 0x01000007 x86_64.
    magic=$(od -An -tx1 -N8 "$bin" | tr -d ' \n')
    case "$target" in
        aarch64-*) want=cffaedfe0c000001 ;;
        x86_64-*) want=cffaedfe07000001 ;;
    esac
    if [ "$magic" != "$want" ]; then
        echo "build-macos.sh: $bin is not a Mach-O executable for $target (header $magic)" >&2
        exit 1
    fi
    cp "$bin" "dist/lport-$target"
    echo "$target: Mach-O executable, $(stat -c %s "$bin") bytes -> dist/lport-$target"
done
