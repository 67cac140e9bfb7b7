"""Start-up cost of cm* commands from the built zipapp (warm), next to `import grpc`.

Usage: .venv/bin/python bench/startup.py [--runs N]      (after make zipapp; as root)

Starts a real cmcld from dist/cmcluster.pyz with its own CMCLUSTER_ROOT, then times
whole processes: a bare interpreter, `import grpc`, a command that makes no RPC, and
commands that make one RPC over the root admin socket and over mutual TLS.
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stats import summary
from cluster.security.identity import Role
from tests.support import ZIPAPP, ClusterCA, command_env, start_daemon


def timed(argv: list[str], env: dict[str, str], runs: int) -> list[float]:
    subprocess.run(argv, env=env, check=True, capture_output=True)  # warm: unpack, caches
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    if not ZIPAPP.exists():
        print(f"{ZIPAPP} is missing: run make zipapp first", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="cmbench-") as scratch:
        base = Path(scratch)
        ca = ClusterCA.create(base / "ca")
        root = base / "localhost"
        ca.install_node(root, "localhost")
        user = ca.bundle(base / "admin.pem", user="admin", role=Role.FULL_ADMIN)
        daemon = start_daemon(root, "localhost", command=[str(ZIPAPP)])
        try:
            env = command_env(root, "localhost")
            tls_env = command_env(
                base / "client",
                "client",
                CMCLUSTER_CERT=str(user),
                CMCLUSTER_SERVER=f"localhost:{daemon.port}",
            )
            ip_env = dict(tls_env, CMCLUSTER_SERVER=f"127.0.0.1:{daemon.port}")
            # The zipapp as its shebang runs it (python3 -sES), minus the PATH lookup of
            # `env`, which on some machines goes through a slow shim (pyenv).
            z = [sys.executable, "-sES", str(ZIPAPP)]
            # Baselines with the zipapp's flags: no site, no user site, no PYTHON* vars.
            import grpc

            site = str(Path(grpc.__file__).parent.parent)
            bare_grpc = f"import sys; sys.path.insert(0, {site!r}); import grpc"
            rows = [
                ("python3 -sES -c pass", [sys.executable, "-sES", "-c", "pass"], env),
                ('python3 -sES -c "import grpc"', [sys.executable, "-sES", "-c", bare_grpc], env),
                ("cmcluster.pyz cmversion (no RPC)", [*z, "cmversion"], env),
                ("cmcluster.pyz cmsetlog, root socket (1 RPC)", [*z, "cmsetlog"], env),
                ("cmcluster.pyz cmsetlog, mutual TLS (1 RPC)", [*z, "cmsetlog"], tls_env),
                ("  same, --server by IP (+ name probe)", [*z, "cmsetlog"], ip_env),
            ]
            print(f"warm wall time per process, {args.runs} runs each, {sys.executable}")
            for label, argv, run_env in rows:
                print(f"{label:<46} {summary(timed(argv, run_env, args.runs))}")
        finally:
            daemon.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
