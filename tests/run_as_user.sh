#!/bin/sh
# Run the test suite -- or any command -- as an unprivileged user, the way a
# non-root developer or CI runner meets uipc.  Run it as root: it copies the
# tree, builds a venv and then drops to the user.
#
#   tests/run_as_user.sh                        # pytest -q on a copy of this tree, as uid 65534
#   tests/run_as_user.sh uipc bench --quick     # any command; python/pytest/uipc come from the venv
#   UIPC_TEST_UID=1000 tests/run_as_user.sh     # another uid (gid: UIPC_TEST_GID, default the uid)
#   UIPC_TEST_EXTRAS=test,bench tests/run_as_user.sh uipc bench --quick
#
# Why a copy and a venv: the checkout and the default python may live where
# the user cannot read (/root is 0700).  The copy ($SRC, owned by the user, as
# a developer's own checkout would be) and the venv ($VENV, Debian's python,
# world-readable) are fresh at every run; uipc is installed from the copy,
# not editable.  The user gets no supplementary groups, its own HOME and
# TMPDIR, and a clean environment (only PATH, HOME, TMPDIR, CI, UIPC_*).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
USER_ID=${UIPC_TEST_UID:-65534}
GROUP_ID=${UIPC_TEST_GID:-$USER_ID}
EXTRAS=${UIPC_TEST_EXTRAS:-test}
SRC=${UIPC_TEST_SRC:-/tmp/uipc-nonroot-src}
VENV=${UIPC_TEST_VENV:-/tmp/uipc-venv-nonroot}
PY=${UIPC_TEST_PYTHON:-/usr/bin/python3}
HOME_DIR=/tmp/uipc-nonroot-home-$USER_ID
TMP_DIR=/tmp/uipc-nonroot-tmp-$USER_ID

if [ "$(id -u)" != 0 ]; then
    echo "run_as_user.sh: run me as root (I drop to uid $USER_ID myself)" >&2
    exit 2
fi

# a fresh copy of the tree, without git, build output or caches
rm -rf "$SRC"
mkdir -p "$SRC"
tar -C "$ROOT" --exclude=./.git --exclude=./build --exclude='*.egg-info' --exclude=__pycache__ \
    --exclude=.pytest_cache --exclude=.hypothesis -cf - . | tar -C "$SRC" -xf -

# the venv: created once, uipc reinstalled from the copy at every run
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --disable-pip-version-check "$SRC[$EXTRAS]" 2>&1 \
    | grep -v "is ignored: it is neither a file nor a directory" >&2 || true
"$VENV/bin/pip" install -q --disable-pip-version-check --no-deps --force-reinstall "$SRC" 2>&1 \
    | grep -v "is ignored: it is neither a file nor a directory" >&2 || true
rm -rf "$SRC/build" "$SRC"/*.egg-info
chmod -R a+rX "$VENV"
chown -R "$USER_ID:$GROUP_ID" "$SRC"

rm -rf "$HOME_DIR" "$TMP_DIR"
mkdir -p "$HOME_DIR" "$TMP_DIR"
chown "$USER_ID:$GROUP_ID" "$HOME_DIR" "$TMP_DIR"
chmod 0700 "$HOME_DIR" "$TMP_DIR"

if [ $# -eq 0 ]; then
    set -- python -m pytest -q -p no:cacheprovider tests
fi

# pass CI and UIPC_* through (CI makes a skipped conformance run fail): as
# NAME=value words ahead of the command, which env(1) takes as assignments
for var in $(env | sed -n 's/^\(CI\|UIPC_[A-Z0-9_]*\)=.*/\1/p'); do
    case $var in UIPC_TEST_*) continue ;; esac
    set -- "$var=$(printenv "$var")" "$@"
done

cd "$SRC"
exec setpriv --reuid="$USER_ID" --regid="$GROUP_ID" --clear-groups \
    env -i PATH="$VENV/bin:/usr/bin:/bin" HOME="$HOME_DIR" TMPDIR="$TMP_DIR" "$@"
