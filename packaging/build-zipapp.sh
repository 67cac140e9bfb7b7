#!/usr/bin/env bash
# Builds the one-file deployable: a shiv zipapp holding cmcluster and its dependencies.
# Usage: packaging/build-zipapp.sh VENV_BIN OUTPUT
#
# The shebang runs Python with -sE (no user site, no PYTHON* variables) and -S (no
# site-packages of the host): a host's older cryptography must never shadow ours.
# --compile-pyc saves about 70 ms per command on a read-only install. The zipapp's
# __main__.py runs packaging/zipapp_main.py (choosing SHIV_ROOT), then shiv's bootstrap.
set -euo pipefail
bin=$1
out=$2
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$(dirname "$out")"
tmp="$out.tmp$$"
trap 'rm -f "$tmp"' EXIT
"$bin/shiv" --quiet --compile-pyc --reproducible \
    --python '/usr/bin/env -S python3 -sES' \
    --entry-point cluster.cli.main:main \
    --output-file "$tmp" \
    "$here" 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true
[ -s "$tmp" ] || { echo "build-zipapp: shiv produced nothing" >&2; exit 1; }
# Our __main__.py chooses where to unpack when ~/.shiv cannot be written.
# ...and it carries the example alert scripts, which `install` writes out.
"$bin/python" "$here/packaging/replace-main.py" "$tmp" "$here/packaging/zipapp_main.py" \
    "$here/packaging/alerts"
chmod 755 "$tmp"
mv "$tmp" "$out"
echo "built $out ($(du -h "$out" | cut -f1))"
