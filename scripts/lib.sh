# Shared helpers for the scripts in this folder; source it, do not run it.
# Everything here prints one clear line and exits non-zero when something is missing.

PANLLAMA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PANLLAMA_CACHE="${PANLLAMA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/panllama}"
PANLLAMA_MIN_JAVA=25

die() { echo "panllama: $*" >&2; exit 1; }

# Reads native/ggml.lock into LOCK_PACKAGE, LOCK_VERSION and LOCK_INTEGRITY.
read_lock() {
    local lock="$PANLLAMA_ROOT/native/ggml.lock"
    [ -f "$lock" ] || die "missing $lock"
    LOCK_PACKAGE=$(sed -n 's/^package=//p' "$lock")
    LOCK_VERSION=$(sed -n 's/^version=//p' "$lock")
    LOCK_INTEGRITY=$(sed -n 's/^integrity=//p' "$lock")
    [ -n "$LOCK_PACKAGE" ] && [ -n "$LOCK_VERSION" ] && [ -n "$LOCK_INTEGRITY" ] \
        || die "$lock must define package=, version= and integrity="
    GGML_CACHE="$PANLLAMA_CACHE/ggml/$LOCK_VERSION"
}

# The major version of the Java runtime at $1 (a JDK, or a runtime image such as jlink makes), or
# nothing when $1 is neither. Building needs a JDK; Maven says so when it finds none.
jdk_major() {
    [ -x "$1/bin/java" ] && [ -f "$1/release" ] || return 0
    sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$1/release"
}

# Sets JAVA_HOME to a JDK of at least $PANLLAMA_MIN_JAVA: JAVA_HOME itself when new enough,
# else the newest one in the usual install folders.
find_jdk() {
    local major
    if [ -n "${JAVA_HOME:-}" ]; then
        major=$(jdk_major "$JAVA_HOME")
        if [ -n "$major" ] && [ "$major" -ge "$PANLLAMA_MIN_JAVA" ]; then
            export JAVA_HOME; return 0
        fi
    fi
    local best="" best_major=0 candidate
    for candidate in /usr/lib/jvm/* /opt/java/* /opt/jdk* /usr/local/jdk* /usr/java/* \
                     "$HOME"/.sdkman/candidates/java/* "$HOME"/.jdks/* \
                     /Library/Java/JavaVirtualMachines/*/Contents/Home; do
        [ -d "$candidate" ] || continue
        major=$(jdk_major "$candidate")
        if [ -n "$major" ] && [ "$major" -ge "$PANLLAMA_MIN_JAVA" ] && [ "$major" -gt "$best_major" ]; then
            best="$candidate"; best_major="$major"
        fi
    done
    [ -n "$best" ] || die "no JDK $PANLLAMA_MIN_JAVA or newer found (JAVA_HOME=${JAVA_HOME:-unset}, /usr/lib/jvm, /opt, ~/.sdkman, ~/.jdks): install one, e.g. Temurin 25, and set JAVA_HOME"
    export JAVA_HOME="$best"
}

require_tool() {
    command -v "$1" >/dev/null 2>&1 || die "'$1' is not installed; $2"
}

# Makes sure the pinned llama.cpp tree is unpacked at $GGML_SOURCE (call read_lock first), with
# panllama's fixes applied.
ensure_source() {
    GGML_SOURCE="$GGML_CACHE/source"
    if [ ! -f "$GGML_SOURCE/.panllama-complete" ]; then
        unpack_source
    fi
    fix_source
}

# What panllama changes in the pinned tree before building it, named in every build's fingerprint so
# that a build made before a fix is made again.
SOURCE_FIXES="amx-tile-config amx-k-quants"

# Changes the unpacked tree in place; each change is made once and checked, so that a pin whose code
# has moved stops the build here rather than building without it.
# - amx-tile-config: ggml's AMX kernels crash with SIGILL on every Xeon with AMX when built by GCC.
#   ggml_tile_config_init fills a 64-byte tile configuration on the stack and loads it with GCC's
#   _tile_loadconfig, whose asm names only the first 8 bytes as read; GCC then drops the stores of
#   the tiles' rows and column widths as dead, every tile is configured empty, and the first tile
#   load faults. The fix loads the configuration with the whole struct as the asm's operand.
# - amx-k-quants: the AMX buffer type declines Q4_K, Q5_K and Q6_K weights, which then go where a
#   build without AMX puts them (CPU_REPACK, or the mapped file). For one row, what every decode step
#   multiplies per sequence, its kernels for them took 1.3x to 3x the time of the CPU's others (README,
#   "AMX, fixed"); for the types it keeps (Q4_0, Q4_1, Q8_0, IQ4_XS, F16) it was faster at every size.
fix_source() {
    local mmq="$GGML_SOURCE/ggml/src/ggml-cpu/amx/mmq.cpp"
    local fixed='    __asm__ volatile ("ldtilecfg %0" :: "m" (tc));  // panllama amx-tile-config: all 64 bytes are read'
    if ! grep -qF "$fixed" "$mmq" 2>/dev/null; then
        grep -qx '    _tile_loadconfig(&tc);' "$mmq" 2>/dev/null \
            || die "cannot apply panllama's amx-tile-config fix to $mmq: the pinned tree's code is not what it expects"
        sed -i "s|^    _tile_loadconfig(&tc);\$|$fixed|" "$mmq"
        grep -qF "$fixed" "$mmq" || die "applying panllama's amx-tile-config fix to $mmq failed"
    fi

    local amx="$GGML_SOURCE/ggml/src/ggml-cpu/amx/amx.cpp"
    local declined='        if (src0->type == GGML_TYPE_Q4_K || src0->type == GGML_TYPE_Q5_K || src0->type == GGML_TYPE_Q6_K) { return false; }  // panllama amx-k-quants'
    if ! grep -qF "$declined" "$amx" 2>/dev/null; then
        [ "$(grep -cx '        auto \* src1 = op->src\[1\];' "$amx" 2>/dev/null)" = 1 ] \
            || die "cannot apply panllama's amx-k-quants change to $amx: the pinned tree's code is not what it expects"
        sed -i "/^        auto \* src1 = op->src\[1\];\$/a\\
$declined" "$amx"
        grep -qF "$declined" "$amx" || die "applying panllama's amx-k-quants change to $amx failed"
    fi
}

# Downloads the npm package, checks its sha512 against the lock and clones the git bundle inside it.
unpack_source() {
    require_tool npm "install Node.js and npm (the pinned source comes from the npm registry)"
    require_tool openssl "install openssl (it checks the download's sha512)"
    require_tool git "install git (it unpacks the pinned llama.cpp bundle)"
    mkdir -p "$GGML_CACHE"
    local work; work=$(mktemp -d "$GGML_CACHE/fetch.XXXXXX")
    echo "panllama: fetching $LOCK_PACKAGE@$LOCK_VERSION from the npm registry" >&2
    if ! (cd "$work" && npm pack --silent "$LOCK_PACKAGE@$LOCK_VERSION" >/dev/null); then
        rm -rf "$work"; die "could not download $LOCK_PACKAGE@$LOCK_VERSION from the npm registry"
    fi
    local tarball actual
    tarball=$(ls "$work"/*.tgz)
    actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 | tr -d '\n')"
    if [ "$actual" != "$LOCK_INTEGRITY" ]; then
        rm -rf "$work"
        die "integrity mismatch for $LOCK_PACKAGE@$LOCK_VERSION: native/ggml.lock says $LOCK_INTEGRITY, the download is $actual; refusing to build"
    fi
    tar -xzf "$tarball" -C "$work" package/llama/gitRelease.bundle
    if ! git clone --quiet "$work/package/llama/gitRelease.bundle" "$work/tree" 2>/dev/null; then
        rm -rf "$work"; die "the llama.cpp bundle in $LOCK_PACKAGE@$LOCK_VERSION could not be unpacked"
    fi
    rm -rf "$GGML_SOURCE" && mv "$work/tree" "$GGML_SOURCE" && rm -rf "$work"
    touch "$GGML_SOURCE/.panllama-complete"
}

# Prints the folder of the reference llama.cpp tools: $PANLLAMA_REFERENCE_BIN when set (a build made
# elsewhere, e.g. carried to a GPU machine), else the reference build of scripts/build-native, built
# first if needed, with the extra build-native options given (e.g. --cuda --cuda-arch 90).
reference_bin() {
    if [ -n "${PANLLAMA_REFERENCE_BIN:-}" ]; then
        [ -x "$PANLLAMA_REFERENCE_BIN/llama-bench" ] || die "PANLLAMA_REFERENCE_BIN=$PANLLAMA_REFERENCE_BIN has no llama-bench"
        echo "$PANLLAMA_REFERENCE_BIN"
    else
        echo "$("$PANLLAMA_ROOT/scripts/build-native" --reference "$@" | tail -n 1)/bin"
    fi
}

# Prints the path of the panllama jar: $PANLLAMA_JAR when set, else this checkout's, built first if needed.
panllama_jar() {
    if [ -n "${PANLLAMA_JAR:-}" ]; then
        [ -f "$PANLLAMA_JAR" ] || die "PANLLAMA_JAR=$PANLLAMA_JAR is not a file"
        echo "$PANLLAMA_JAR"
    else
        "$PANLLAMA_ROOT/panllama" --version >/dev/null   # builds the jar if needed
        echo "$PANLLAMA_ROOT/cli/target/panllama.jar"
    fi
}
