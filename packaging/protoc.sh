#!/usr/bin/env bash
# Generates cluster/pb/v1 from proto/cluster/pb/v1/*.proto into OUT (the repository
# root for `make proto`; a scratch directory for the freshness test).
# Usage: packaging/protoc.sh VENV_BIN OUT
set -euo pipefail
bin=$(cd "$1" && pwd)
out=$2
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out/cluster/pb/v1"
cd "$here"
# protoc finds the mypy plugins (protoc-gen-mypy, protoc-gen-mypy_grpc) on PATH.
PATH="$bin:$PATH" "$bin/python" -m grpc_tools.protoc -Iproto \
    --python_out="$out" --grpc_python_out="$out" \
    --mypy_out=quiet:"$out" --mypy_grpc_out=quiet:"$out" \
    proto/cluster/pb/v1/*.proto
