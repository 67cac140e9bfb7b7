"""-t (preview) on cmrunpkg, cmhaltpkg, cmmodpkg, cmrunnode, cmhaltnode, cmhaltcl and
cmapplyconf, and cmeval: the options, and printing what the coordinator predicts.
Nothing is changed; the exit status says whether the command would be accepted."""

import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from cluster.cli.args import CmArgumentParser

if TYPE_CHECKING:
    from cluster.pb.v1 import package_pb2
    from cluster.transport.client import Outcome

PREVIEW_HELP = (
    "preview: print what would happen (which packages start, halt or move where, in "
    "what order and why, or why not), change nothing"
)


def add_preview_options(
    parser: CmArgumentParser, *, always: bool = False, short_format: bool = True
) -> None:
    """-t and, for it, -f/--format table|json (`always`: cmeval, which only previews;
    `short_format` False where -f means force, as in cmhaltnode)."""
    if not always:
        parser.add_argument("-t", dest="preview", action="store_true", help=PREVIEW_HELP)
    parser.add_argument(
        *(["-f", "--format"] if short_format else ["--format"]),
        dest="format",
        choices=("table", "json"),
        default="table",
        help="with -t: the prediction as text (table) or as one JSON document",
    )


def preview_value(args: object) -> "package_pb2.Preview.ValueType":
    """package_pb2.Preview for the request: PREVIEW_NONE without -t; `args` may also be
    the format itself ("table" or "json")."""
    from cluster.pb.v1 import package_pb2

    if not isinstance(args, str) and not getattr(args, "preview", True):
        return package_pb2.PREVIEW_NONE
    fmt = args if isinstance(args, str) else getattr(args, "format", "")
    return package_pb2.PREVIEW_JSON if fmt == "json" else package_pb2.PREVIEW_TEXT


def show(prog: str, progress: "Iterator[str | Outcome]") -> int:
    """Print the prediction; 0 when the command would be accepted, 1 (with why) if not."""
    from cluster.cli.confcommon import follow

    outcome = follow(progress)
    if outcome.ok:
        return 0
    print(f"{prog}: {outcome.message}", file=sys.stderr)
    return 1


def evaluation(fmt: str, **fields: Any) -> "package_pb2.EvaluateRequest":
    """An EvaluateRequest in the format -f/--format asked for; `fields` are its own
    (fail_nodes, down_subnets, halt_nodes, join_nodes, halt_this_node, config...)."""
    from cluster.pb.v1 import package_pb2

    return package_pb2.EvaluateRequest(format=preview_value(fmt), **fields)
