"""Entry point of cmcluster.pyz: dispatches busybox-style on the program name.

`cmcluster.pyz cmviewcl -v` and a symlink `cmviewcl -> cmcluster.pyz` run the same
command. Command modules are imported only when chosen, and they import gRPC only
after parsing their arguments, so `--help` and usage errors stay instant.
"""

import importlib
import os
import sys
from collections.abc import Callable
from pathlib import Path

from cluster.errors import CmError

# name -> (module with main(argv, prog) -> int, one-line summary)
COMMANDS: dict[str, tuple[str, str]] = {
    "cmcld": ("cluster.daemon.main", "the node daemon (runs in the foreground)"),
    "cmqsd": ("cluster.quorum.main", "the quorum server (runs in the foreground)"),
    "cmcert": ("cluster.cli.cmcert", "cluster CA and certificates: init-ca, issue, install, show"),
    "cmmakepkg": ("cluster.cli.cmmakepkg", "write a commented package configuration template"),
    "cmquerycl": ("cluster.cli.cmquerycl", "show the network configuration of nodes"),
    "cmruncl": ("cluster.cli.cmruncl", "start the cluster"),
    "cmhaltcl": ("cluster.cli.cmhaltcl", "halt the cluster"),
    "cmrunnode": ("cluster.cli.cmrunnode", "start nodes (join the running cluster)"),
    "cmhaltnode": ("cluster.cli.cmhaltnode", "halt nodes (leave the cluster)"),
    "cmrunpkg": ("cluster.cli.cmrunpkg", "run packages"),
    "cmhaltpkg": ("cluster.cli.cmhaltpkg", "halt packages"),
    "cmmodpkg": ("cluster.cli.cmmodpkg", "enable or disable package switching"),
    "cmviewcl": ("cluster.cli.cmviewcl", "show the status of the cluster and its packages"),
    "cmsetlog": ("cluster.cli.cmsetlog", "show or change cmcld's log level"),
    "cmversion": ("cluster.cli.cmversion", "print the cmcluster version"),
    "cmlog": ("tools.cmlog", "read this node's cmcld or package log, filtered"),
    "cmtakeover": ("tools.cmtakeover", "emergency: run a package here without the cluster"),
    "cmcheckconf": ("cluster.cli.cmcheckconf", "check cluster and package files"),
    "cmeval": ("cluster.cli.cmeval", "predict what the cluster would do if... (nothing changes)"),
    "cmapplyconf": ("cluster.cli.cmapplyconf", "check and distribute the configuration"),
    "cmgetconf": ("cluster.cli.cmgetconf", "write the applied configuration as ASCII"),
    "cmviewconf": ("cluster.cli.cmviewconf", "show the applied configuration"),
    "cmdeleteconf": (
        "cluster.cli.cmdeleteconf",
        "delete a package's or the cluster's configuration",
    ),
    "cmguard": ("cluster.guard.main", "internal: the lease guard cmcld starts (not by hand)"),
}
MULTICALL_NAMES = {"cmcluster", "cmcluster.pyz", "__main__.py", "__main__"}
INTERNAL_ERROR = 70


def usage() -> str:
    from cluster.version import __version__

    width = max(map(len, COMMANDS))
    lines = [
        f"cmcluster {__version__}: a high-availability cluster manager",
        "",
        "usage: cmcluster.pyz COMMAND [ARGS...]   (or a symlink named COMMAND)",
        "       cmcluster.pyz install --prefix DIR [--force]",
        "       cmcluster.pyz --version | help",
        "",
        "commands:",
    ]
    lines += [f"  {name:<{width}}  {summary}" for name, (_, summary) in sorted(COMMANDS.items())]
    lines += ["", "Run COMMAND --help for its options."]
    return "\n".join(lines)


def run_command(name: str, argv: list[str]) -> int:
    """Run one command, turning operator errors into one line and an exit status."""
    try:
        if name == "install":
            from cluster.cli import install

            return install.main(argv, name)
        module = importlib.import_module(COMMANDS[name][0])
        entry: Callable[[list[str], str], int] = module.main
        return entry(argv, name)
    except CmError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (| head): not an error worth a word.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as exc:
        # A file or socket problem no lower layer explained: still one line.
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"{name}: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception as exc:
        if os.environ.get("CMCLUSTER_DEBUG"):
            raise
        print(
            f"{name}: internal error: {type(exc).__name__}: {exc} "
            "(a bug; set CMCLUSTER_DEBUG=1 to see where)",
            file=sys.stderr,
        )
        return INTERNAL_ERROR


def dispatch(argv: list[str]) -> int:
    program = Path(argv[0]).name if argv else "cmcluster"
    args = argv[1:]
    if program in COMMANDS:
        return run_command(program, args)
    if program not in MULTICALL_NAMES and not program.startswith("cmcluster"):
        print(f"{program}: not a cmcluster command\n\n{usage()}", file=sys.stderr)
        return 2
    if not args or args[0] in ("help", "-h", "--help"):
        print(usage())
        return 0
    if args[0] in ("--version", "-V", "version"):
        from cluster.version import __version__

        print(f"cmcluster {__version__}")
        return 0
    if args[0] in COMMANDS or args[0] == "install":
        return run_command(args[0], args[1:])
    print(f"cmcluster: unknown command {args[0]!r} (see cmcluster help)", file=sys.stderr)
    return 2


def forget_chosen_shiv_root() -> None:
    """The zipapp's start (packaging/zipapp_main.py) may have set SHIV_ROOT for this run
    only: package scripts and services started from here must not inherit it."""
    chosen = getattr(sys.modules.get("_cmcluster_main"), "CHOSEN", "")
    if chosen and os.environ.get("SHIV_ROOT") == chosen:
        del os.environ["SHIV_ROOT"]


def main() -> None:
    forget_chosen_shiv_root()
    sys.exit(dispatch(sys.argv))
