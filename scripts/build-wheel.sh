#!/usr/bin/env bash
# Builds the Python package's platform wheel with the C library inside it.
#
#   scripts/build-wheel.sh [release|debug] [OUT_DIR]      (default: release, dist/)
#
# 1. `swift build -c CONFIG --product LoanScoreC` (only the library and what it needs).
# 2. Links the product's objects again into loanscore/_lib/libloanscore.so with the Swift
#    runtime and Foundation linked in statically (-static-stdlib: SwiftPM links a dynamic
#    library product against the toolchain's shared runtime and has no option for it), only
#    the loanscore_* functions exported (scripts/libloanscore.map), stripped. The result needs
#    nothing but glibc, libstdc++ and libgcc_s: it loads in a process without a Swift toolchain.
# 3. Builds the wheel from a staging copy of clients/python (the source tree stays clean) with
#    the client environment's setuptools and wheel, and tags it py3-none-linux_<arch>: one
#    wheel for every Python 3 on this platform (the library is loaded with ctypes, no CPython ABI).
#
# Prints the wheel's path and size. Needs clients/python/.venv (make client-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${1:-release}
OUT=$(realpath -m "${2:-dist}")
PYTHON=${PYTHON:-clients/python/.venv/bin/python}
case $CONFIG in release | debug) ;; *) echo "usage: $0 [release|debug] [OUT_DIR]" >&2; exit 2 ;; esac
[ -x "$PYTHON" ] || { echo "error: $PYTHON is missing: run 'make client-venv' first" >&2; exit 1; }

swift build -c "$CONFIG" --product LoanScoreC
BIN=$(swift build -c "$CONFIG" --show-bin-path)
OBJECTS="$BIN/LoanScoreC.product/Objects.LinkFileList"
[ -f "$OBJECTS" ] || { echo "error: $OBJECTS is missing (SwiftPM's layout changed?)" >&2; exit 1; }

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/python"
tar -C clients/python --exclude=./.venv --exclude=./tests --exclude='__pycache__' --exclude='*.egg-info' --exclude=./build \
    --exclude=./src/loanscore/_lib -cf - . | tar -C "$STAGE/python" -xf -
mkdir -p "$STAGE/python/src/loanscore/_lib"
LIBRARY="$STAGE/python/src/loanscore/_lib/libloanscore.so"
# The objects were compiled for the shared runtime, so their autolink entries leave out what the
# static archives need in turn (ICU, Foundation's C shims and collections): every runtime archive
# is named in one group, and -z defs makes any symbol still undefined an error here rather than
# at dlopen time.
RUNTIME=(Foundation FoundationEssentials FoundationInternationalization _FoundationICU _FoundationCollections _FoundationCShims
         CoreFoundation swiftDispatch dispatch BlocksRuntime swiftSynchronization swift_StringProcessing swift_RegexParser
         swift_Concurrency swiftGlibc swift_Builtin_float swiftSwiftOnoneSupport swiftCore)
STATIC_LIBS=$(dirname "$(command -v swiftc)")/../lib/swift_static/linux
GROUP=(-Xlinker "-L$STATIC_LIBS" -Xlinker --start-group)
for archive in "${RUNTIME[@]}"; do GROUP+=(-Xlinker "-l$archive"); done
GROUP+=(-Xlinker --end-group)
swiftc -emit-library -module-name LoanScoreC -static-stdlib -lstdc++ -L "$BIN" -o "$LIBRARY" \
    -Xlinker --gc-sections -Xlinker -s -Xlinker -z -Xlinker defs -Xlinker --version-script="$(pwd)/scripts/libloanscore.map" \
    -Xlinker -soname=libloanscore.so "@$OBJECTS" "${GROUP[@]}" 2> >(grep -v -e "the use of \`mktemp' is dangerous" >&2)
if readelf -d "$LIBRARY" | grep -q 'NEEDED.*swift\|NEEDED.*Foundation\|NEEDED.*dispatch'; then
    echo "error: $LIBRARY still needs a shared Swift runtime:" >&2
    readelf -d "$LIBRARY" | grep NEEDED >&2
    exit 1
fi
cp include/loanscore.h "$STAGE/python/src/loanscore/_lib/"

mkdir -p "$OUT" "$STAGE/wheel"
"$PYTHON" -m pip wheel --quiet --disable-pip-version-check --no-deps --no-build-isolation -w "$STAGE/wheel" "$STAGE/python"
"$PYTHON" -m wheel tags --remove --python-tag py3 --abi-tag none --platform-tag "linux_$(uname -m)" "$STAGE"/wheel/loanscore-*.whl >/dev/null
for wheel in "$STAGE"/wheel/loanscore-*-py3-none-linux_*.whl; do
    mv "$wheel" "$OUT/"
    echo "$OUT/$(basename "$wheel") ($(du -h "$OUT/$(basename "$wheel")" | cut -f1); libloanscore.so $(du -h "$LIBRARY" | cut -f1), $CONFIG)"
done
