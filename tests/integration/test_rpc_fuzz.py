"""Every Node and Admin RPC of a real cmcld, under every class of caller, with generated
hostile requests (issue 12): no status UNKNOWN, no crash (INTERNAL, a traceback or an
ERROR record in cmcld.log), cmcld answers cmviewcl afterwards, and nothing is written
outside its CMCLUSTER_ROOT.

The cmcld (node1, one per module) has an applied configuration, cluster `fuzz`: node1,
node2 at 127.0.0.2 and a quorum server at 127.0.0.3 (nothing listens on either) and a
package pkg1 without scripts, so that "member" means something (node2). No request can
then change the cluster for good, so no RPC is left out, not even DeleteConfig or
HaltCluster for root and full_admin: a configuration change (ApplyConfig, DeleteConfig,
a StageConfig of node2's) must be staged on node2 too, forming or joining a cluster
needs node2 or the quorum server, pkg1 has nothing to run. The last tests check that
the configuration is still generation 1. One change is undone after each call: a
SetLogLevel that moved the level away from info is set back (debug logs the tracebacks
of handled errors, error would hide the records checked here).

Callers: root on the admin socket, node2 (member), node3 (a node certificate of the CA
in no configuration), users with monitor, package_admin and full_admin certificates (no
access-control policy: the certificate's role applies) and a quorum-server certificate.
Whether a caller gets past the identity check is read from the proto's declarations
(auth.proto), not from cluster/transport/auth.py. For each (RPC, caller):

- refused: PERMISSION_DENIED whatever the request, which is not even parsed (root on a
  Node RPC: UNIMPLEMENTED, the admin socket serves the Admin service only). A user may
  hear about an oversized or unparsable request first: its role can depend on the
  package the request names;
- admitted: any status but UNKNOWN and INTERNAL; an unparsed refusal for a request over
  the declared size (RESOURCE_EXHAUSTED; a member's coordinator order may be refused as
  such first); never OK for an undeclared enum value; replies of the declared type;
- after every call: cmcld still runs and answers root at once, and what it logged is
  records of its own, one per line, with no crash and no control characters (a newline
  in a request's field would forge a record, a NUL makes the log a binary file).

Inputs: messages generated field by field from the request's descriptor (hostile names
and paths, control characters, NUL, long strings, integer extremes, undeclared enum
values, long repeated fields, nested messages), such messages with their bytes mutated,
random bytes, and requests one byte over the declared limit (where it is at most 1 MiB;
the 32 MiB ones would only slow the run). Heartbeat, a request stream, gets up to four
frames, the first often a well-formed hello of node2's so that later frames reach the
membership protocol; then the stream is closed. Streamed replies are read for at most
STREAM_WAIT seconds (ReadLog follow, a cmruncl waiting for node2), then cancelled.

Writes: cmcld runs under strace, filtered (seccomp) to the calls that create, open for
writing, rename, remove, bind or chmod files, children followed; every such successful
call must name a path under CMCLUSTER_ROOT (or /dev/null, /proc/PID/oom_score_adj). A
listing of /tmp before and after could not tell cmcld's files from other processes'.

Reproducing: hypothesis prints the falsifying request and a @reproduce_failure blob;
every example notes RPC_FUZZ_SEED, and running with `RPC_FUZZ_SEED=N` replays that
run's choices (cmcld's state also depends on the calls made before).
RPC_FUZZ_SCALE=N runs N times as many examples.
"""

import contextlib
import operator
import os
import random
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import message_factory, text_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, note, seed, settings
from hypothesis import strategies as st

from cluster.config.check import check_config
from cluster.config.compile import blob_bytes, make_blob
from cluster.config.source import PackageSource, Source
from cluster.guard.client import Guard
from cluster.paths import HostPaths
from cluster.pb.v1 import (
    auth_pb2,
    common_pb2,
    config_pb2,
    membership_pb2,
    node_pb2,
    services_pb2,
)
from cluster.security import ca
from cluster.security.identity import Identity, Kind, Role
from cluster.security.pem import load_credentials
from tests.support import ClusterCA, Daemon, command_env, run, start_daemon

SEED = int(os.environ.get("RPC_FUZZ_SEED") or random.SystemRandom().randrange(2**32))
CALL_TIMEOUT = 5.0  # seconds: a unary call that takes longer is a hang
STREAM_WAIT = 0.5  # seconds a streamed reply is read before the call is cancelled
STREAM_ITEMS = 20
MAX_OVERSIZE = 1 << 20  # requests one byte over the limit only where it is this or less
SCALE = int(os.environ.get("RPC_FUZZ_SCALE", "1"))  # RPC_FUZZ_SCALE=10: ten times the examples
ADMITTED_EXAMPLES = 30 * SCALE
REFUSED_EXAMPLES = 3 * SCALE
FUZZ = settings(
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

CLUSTER = """\
CLUSTER_NAME fuzz
QS_HOST 127.0.0.3
NODE_NAME node1
  NETWORK_INTERFACE lo
    HEARTBEAT_IP 127.0.0.1
NODE_NAME node2
  NETWORK_INTERFACE lo
    HEARTBEAT_IP 127.0.0.2
"""
PACKAGE = """\
package_name pkg1
node_name node1
node_name node2
auto_run no
"""

# -- the RPCs and the callers -----------------------------------------------------------


@dataclass(frozen=True)
class Rpc:
    service: str
    method: MethodDescriptor
    caller: int  # auth_pb2.Caller
    role: int  # common_pb2.Role, for operators
    limit: int  # the largest request accepted, in bytes

    @property
    def label(self) -> str:
        return f"{self.service}/{self.method.name}"

    @property
    def path(self) -> str:
        return f"/cluster.pb.v1.{self.label}"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis' printer
        printer.text(self.label)


def _rpcs() -> list[Rpc]:
    found = []
    for service in ("Node", "Admin"):
        for method in services_pb2.DESCRIPTOR.services_by_name[service].methods:
            options = method.GetOptions()
            kib = options.Extensions[auth_pb2.max_request_kib] or 64
            found.append(
                Rpc(
                    service,
                    method,
                    options.Extensions[auth_pb2.caller],
                    options.Extensions[auth_pb2.required_role],
                    kib << 10,
                )
            )
    return found


@dataclass(frozen=True)
class Caller:
    label: str
    kind: str  # "root", "member", "outsider", "user", "quorum server"
    role: int = 0  # common_pb2.Role of a user certificate


CALLERS = (
    Caller("root", "root"),
    Caller("member", "member"),
    Caller("outsider", "outsider"),
    Caller("monitor", "user", common_pb2.ROLE_MONITOR),
    Caller("package_admin", "user", common_pb2.ROLE_PACKAGE_ADMIN),
    Caller("full_admin", "user", common_pb2.ROLE_FULL_ADMIN),
    Caller("quorum_server", "quorum server"),
)
NODE_CLASSES = (auth_pb2.CALLER_MEMBER, auth_pb2.CALLER_INVITER, auth_pb2.CALLER_COORDINATOR)


def admitted(caller: Caller, rpc: Rpc) -> bool:
    """Whether the caller gets past the identity check of a configured node."""
    if rpc.caller == auth_pb2.CALLER_OPERATOR:
        return caller.kind == "root" or (caller.kind == "user" and caller.role >= rpc.role)
    return rpc.caller in NODE_CLASSES and caller.kind == "member"


RPCS = _rpcs()
PAIRS = [(caller, rpc) for caller in CALLERS for rpc in RPCS]
ADMITTED = [pair for pair in PAIRS if admitted(*pair)]
REFUSED = [pair for pair in PAIRS if not admitted(*pair)]


def pair_id(pair: tuple[Caller, Rpc]) -> str:
    return f"{pair[0].label}-{pair[1].label}"


# -- generated requests -----------------------------------------------------------------

# fmt: off
HOSTILE = (
    "", "node1", "node2", "node3", "pkg1", "fuzz", "root", "NODE1", "node1 ", "a b", "-",
    ".", "..", "/", "../../../../tmp/cmfuzz", "/etc/passwd", "pkg1/../../x", "n1\x00.evil",
    "node1\n", "\n2026-01-01 00:00:00.000 ERROR node1 cmcld[1]: forged", "\x00",
    "\x7f\x85\u2028", "\u202enode1", "\U0001f600", "%s%n{}", "$(touch /tmp/cmfuzz)",
    "a" * 40, "A" * 39,
)
# fmt: on
SHORT_STRINGS = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=24),
    st.text(st.characters(max_codepoint=0x9F), max_size=24),
)
LONG_STRINGS = st.builds(
    operator.mul,
    st.sampled_from(["A", "\x00", "\n", "é", "\U0001f600", "../"]),
    st.integers(256, 8192),
)
STRINGS = st.one_of(SHORT_STRINGS, LONG_STRINGS)
SHORT_BYTES = st.binary(max_size=64)
BYTES = st.one_of(
    SHORT_BYTES,
    st.builds(operator.mul, st.sampled_from([b"\x00", b"\xff"]), st.integers(256, 8192)),
)
F = FieldDescriptor
_INT_RANGES = {
    **dict.fromkeys((F.TYPE_INT32, F.TYPE_SINT32, F.TYPE_SFIXED32), (-(2**31), 2**31 - 1)),
    **dict.fromkeys((F.TYPE_INT64, F.TYPE_SINT64, F.TYPE_SFIXED64), (-(2**63), 2**63 - 1)),
    **dict.fromkeys((F.TYPE_UINT32, F.TYPE_FIXED32), (0, 2**32 - 1)),
    **dict.fromkeys((F.TYPE_UINT64, F.TYPE_FIXED64), (0, 2**64 - 1)),
}
_EDGES = (0, 1, -1, 2, 2**31 - 1, 2**32 - 1, 2**32, 2**48 - 1, 2**48, 2**53 + 1, 2**63 - 1)
UNKNOWN_ENUM_VALUES = (99, -1, 2**31 - 1)
MAX_DEPTH = 3  # nested messages; long strings and long lists only at the top level


def integers(low: int, high: int) -> st.SearchStrategy[int]:
    edges = sorted({low, high, *(e for e in _EDGES if low <= e <= high)})
    return st.one_of(st.sampled_from(edges), st.integers(low, high))


def scalars(fd: FieldDescriptor, depth: int = 1) -> st.SearchStrategy[Any]:
    if fd.type == F.TYPE_STRING:
        return STRINGS if depth == 0 else SHORT_STRINGS
    if fd.type == F.TYPE_BYTES:
        return BYTES if depth == 0 else SHORT_BYTES
    if fd.type == F.TYPE_BOOL:
        return st.booleans()
    if fd.type == F.TYPE_ENUM:
        return st.sampled_from([*declared(fd), *UNKNOWN_ENUM_VALUES])
    if fd.type in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        return st.floats(width=64 if fd.type == F.TYPE_DOUBLE else 32)
    return integers(*_INT_RANGES[fd.type])


def declared(fd: FieldDescriptor) -> set[int]:
    """The values an enum field's type declares."""
    assert fd.enum_type is not None
    return {value.number for value in fd.enum_type.values}


def repeated(items: st.SearchStrategy[Any], depth: int) -> st.SearchStrategy[list[Any]]:
    """A few items; at the top level also one item many times (past the count limits)."""
    few = st.lists(items, max_size=3)
    if depth:
        return few
    many = st.tuples(items, st.integers(65, 300)).map(lambda pair: [pair[0]] * pair[1])
    return st.one_of(few, many)


_MESSAGES: dict[tuple[str, int], st.SearchStrategy[Message]] = {}


def messages(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    """Messages of `descriptor`'s type, each field present or not, one member per oneof."""
    key = (descriptor.full_name, depth)
    if key not in _MESSAGES:
        _MESSAGES[key] = _message_strategy(descriptor, depth)
    return _MESSAGES[key]


def _message_strategy(descriptor: Descriptor, depth: int) -> st.SearchStrategy[Message]:
    cls = message_factory.GetMessageClass(descriptor)

    @st.composite
    def build(draw: st.DrawFn) -> Message:
        message = cls()
        for oneof in descriptor.oneofs:
            chosen = draw(st.sampled_from([None, *oneof.fields]))
            if chosen is not None:
                _fill(draw, message, chosen, depth)
        for fd in descriptor.fields:
            if fd.containing_oneof is None and draw(st.booleans()):
                _fill(draw, message, fd, depth)
        return message

    return build()


def _fill(draw: st.DrawFn, message: Message, fd: FieldDescriptor, depth: int) -> None:
    target = getattr(message, fd.name)
    if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
        key_fd = fd.message_type.fields_by_name["key"]
        value_fd = fd.message_type.fields_by_name["value"]
        if value_fd.message_type is not None:
            return  # no map of messages in a request
        target.update(draw(st.dictionaries(scalars(key_fd), scalars(value_fd), max_size=3)))
        return
    if fd.message_type is not None:
        if depth >= MAX_DEPTH:
            return
        items = messages(fd.message_type, depth + 1)
    else:
        items = scalars(fd, depth)
    if fd.is_repeated:
        target.extend(draw(repeated(items, depth)))
    elif fd.message_type is not None:
        target.CopyFrom(draw(items))
    else:
        setattr(message, fd.name, draw(items))


def unknown_enum(message: Message) -> str:
    """The first field holding an enum value its type does not declare, "" if none."""
    for fd, value in message.ListFields():
        if fd.type == F.TYPE_ENUM:
            values = value if fd.is_repeated else [value]
            if any(v not in declared(fd) for v in values):
                return fd.name
        elif fd.message_type is not None and not fd.message_type.GetOptions().map_entry:
            for item in value if fd.is_repeated else [value]:
                inner = unknown_enum(item)
                if inner:
                    return f"{fd.name}.{inner}"
    return ""


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _nested(path: list[int], inner: bytes = b"") -> bytes:
    for number in reversed(path):
        inner = _varint(number << 3 | 2) + _varint(len(inner)) + inner
    return inner


SPECIAL_GARBAGE = (
    b"\xff" * 16,
    b"\x08" + b"\xff" * 10 + b"\x01",  # a varint longer than 64 bits
    b"\x0a\xff\xff\xff\xff\x0f",  # a length far beyond the message
    b"\x0b\x0c\x0c",  # groups, unbalanced
    b"\x0d\x00",  # a fixed32 cut short
    b"\x0a\x02\xc3\x28",  # invalid UTF-8 in field 1
    _nested([1] * 200),  # nesting past the parser's recursion limit
    _nested([2, 2, *[5] * 150]),  # CheckFiles: candidate.entries.children...
)
GARBAGE = st.one_of(st.binary(max_size=256), st.sampled_from(SPECIAL_GARBAGE))


@dataclass(frozen=True)
class Request:
    """What one call sends: one frame, or the frames of a request stream."""

    kind: str  # "message", "mutated", "garbage", "oversize", "stream"
    frames: tuple[bytes, ...]
    shown: str = ""
    unknown_enum: str = ""  # the field holding an undeclared enum value, if any

    def __repr__(self) -> str:
        if self.kind == "oversize":
            return f"Request(oversize: {len(self.frames[0])} bytes)"
        return f"Request({self.kind}: {self.shown or self.frames!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis' printer
        printer.text(repr(self))


def _show(message: Message) -> str:
    text = text_format.MessageToString(message, as_one_line=True)
    return text if len(text) < 2000 else f"{text[:2000]}... ({len(text)} characters)"


@st.composite
def generated(draw: st.DrawFn, descriptor: Descriptor) -> Request:
    message = draw(messages(descriptor))
    return Request("message", (message.SerializeToString(),), _show(message), unknown_enum(message))


@st.composite
def mutated(draw: st.DrawFn, descriptor: Descriptor) -> Request:
    data = bytearray(draw(messages(descriptor)).SerializeToString())
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["flip", "cut", "insert", "append"]))
        at = draw(st.integers(0, len(data)))
        if how == "flip" and data:
            data[min(at, len(data) - 1)] ^= draw(st.integers(1, 255))
        elif how == "cut":
            del data[at:]
        elif how == "insert":
            data[at:at] = draw(GARBAGE)
        else:
            data += draw(GARBAGE)
    return Request("mutated", (bytes(data),))


def oversize(rpc: Rpc) -> Request:
    return Request("oversize", (b"\x00" * (rpc.limit + 1),))


@st.composite
def frames(draw: st.DrawFn, rpc: Rpc) -> Request:
    """A heartbeat stream: often a hello of node2's first, then any frames."""
    frame_type = membership_pb2.HeartbeatFrame.DESCRIPTOR
    hello = st.builds(
        lambda generation, path: membership_pb2.HeartbeatFrame(
            hello=membership_pb2.HeartbeatHello(
                node_name="node2", cluster_name="fuzz", config_generation=generation, path=path
            )
        ),
        integers(0, 2**64 - 1),
        STRINGS,
    )
    message_frame = messages(frame_type)
    shown: list[str] = []
    sent: list[bytes] = []
    first = draw(st.one_of(hello, message_frame))
    sent.append(first.SerializeToString())
    shown.append(_show(first))
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["message", "message", "garbage", "mutated", "oversize"]))
        if kind == "message":
            frame = draw(message_frame)
            sent.append(frame.SerializeToString())
            shown.append(_show(frame))
        elif kind == "garbage":
            sent.append(draw(GARBAGE))
            shown.append(repr(sent[-1]))
        elif kind == "mutated":
            sent.append(draw(mutated(frame_type)).frames[0])
            shown.append(repr(sent[-1]))
        else:
            sent.append(b"\x00" * (rpc.limit + 1))
            shown.append(f"<{rpc.limit + 1} bytes>")
    return Request("stream", tuple(sent), " | ".join(shown))


def requests(rpc: Rpc) -> st.SearchStrategy[Request]:
    if rpc.method.client_streaming:
        return frames(rpc)
    kinds = [
        generated(rpc.method.input_type),
        mutated(rpc.method.input_type),
        st.builds(lambda data: Request("garbage", (data,)), GARBAGE),
    ]
    if rpc.limit <= MAX_OVERSIZE:
        kinds.append(st.just(oversize(rpc)))
    return st.one_of(kinds)


# -- the daemon and the calls -----------------------------------------------------------

TRACED = (
    "open,openat,openat2,creat,truncate,mkdir,mkdirat,mknod,mknodat,rename,renameat,"
    "renameat2,link,linkat,symlink,symlinkat,unlink,unlinkat,rmdir,chmod,fchmodat,chown,"
    "lchown,fchownat,bind,chdir,fchdir,clone,clone3,fork,vfork"
)


STRACE = ["strace", "-f", "-qq", "-y", "-s", "4096", "--seccomp-bpf"]


def strace_works() -> bool:
    """strace is installed and may trace here (ptrace can be forbidden in a container)."""
    if shutil.which("strace") is None:
        return False
    argv = [*STRACE, "-e", "trace=chdir", "-o", os.devnull, "true"]
    return subprocess.run(argv, capture_output=True, timeout=30, check=False).returncode == 0


@dataclass
class Target:
    daemon: Daemon
    channels: dict[str, grpc.Channel]
    trace: Path | None
    stopped: bool = False
    log_read: int = 0  # bytes of cmcld.log already checked

    def new_log(self) -> str:
        """The lines cmcld logged since the last call of this (a line being written is
        left for the next one)."""
        with self.daemon.paths.cmcld_log.open("rb") as log:
            log.seek(self.log_read)
            data = log.read()
        data = data[: data.rfind(b"\n") + 1]
        self.log_read += len(data)
        return data.decode("utf-8", "replace")

    @property
    def root(self) -> Path:
        return self.daemon.root

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis' printer
        printer.text(f"Target(cmcld for node1 in {self.root})")

    def log_level(self, level: str = "") -> str:
        reply = unary(self.channels["root"], "/cluster.pb.v1.Admin/SetLogLevel")(
            node_pb2.SetLogLevelRequest(level=level).SerializeToString(), timeout=CALL_TIMEOUT
        )
        return node_pb2.SetLogLevelResponse.FromString(reply).level

    def stop(self) -> None:
        """SIGTERM to cmcld itself (strace, its parent, would hold the signal)."""
        if self.stopped:
            return
        self.stopped = True
        for channel in self.channels.values():
            channel.close()
        process = self.daemon.process
        if process.poll() is None:
            pid = int(self.daemon.paths.cmcld_pid.read_text().split()[0])
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        guard = Guard.running_pid(self.daemon.paths)  # the lease guard our cmcld started
        if guard:
            with contextlib.suppress(ProcessLookupError):
                os.kill(guard, signal.SIGTERM)


def write_configuration(root: Path) -> None:
    """cmclconfig as cmapplyconf would have left it (generation 1), before cmcld starts."""
    result = check_config(Source("cluster.ascii", CLUSTER), [PackageSource("pkg1.conf", PACKAGE)])
    path = HostPaths(root).cmclconfig
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = make_blob(result.raise_if_errors(), generation=1, applied_by="test")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(blob_bytes(blob))


def tls_channel(address: str, bundle: Path) -> grpc.Channel:
    creds = load_credentials(bundle, None, None)
    return grpc.secure_channel(
        address,
        grpc.ssl_channel_credentials(creds.ca, creds.key, creds.certificate),
        options=[("grpc.ssl_target_name_override", "node1")],
    )


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    base = tmp_path_factory.mktemp("rpc-fuzz")
    authority = ClusterCA.create(base / "ca", "fuzz")
    root = base / "node1"
    authority.install_node(root, "node1")
    write_configuration(root)
    trace = base / "cmcld.strace" if strace_works() else None
    wrap = []
    if trace is not None:
        wrap = [*STRACE, "-e", f"trace={TRACED}", "-o", str(trace)]
    daemon = start_daemon(root, "node1", wrap=wrap, env_extra={"PYTHONDONTWRITEBYTECODE": "1"})
    bundles = {
        "member": authority.bundle(base / "node2.pem", node="node2"),
        "outsider": authority.bundle(base / "node3.pem", node="node3"),
        "monitor": authority.bundle(base / "mon.pem", user="mon", role=Role.MONITOR),
        "package_admin": authority.bundle(base / "pa.pem", user="pa", role=Role.PACKAGE_ADMIN),
        "full_admin": authority.bundle(base / "fa.pem", user="fa", role=Role.FULL_ADMIN),
    }
    qs = ca.issue(authority.authority, Identity(Kind.QUORUM_SERVER, "qs1"))
    ca.write_private(base / "qs1.pem", ca.bundle_bytes(qs, authority.authority), force=True)
    bundles["quorum_server"] = base / "qs1.pem"
    channels = {label: tls_channel(daemon.address, path) for label, path in bundles.items()}
    channels["root"] = grpc.secure_channel(
        f"unix:{daemon.paths.admin_socket}",
        grpc.local_channel_credentials(grpc.LocalConnectionType.UDS),
    )
    fuzz = Target(daemon, channels, trace)
    fuzz.new_log()  # the start-up is checked with the whole log, at the end
    try:
        yield fuzz
    finally:
        fuzz.stop()


@dataclass(frozen=True)
class Outcome:
    code: grpc.StatusCode | None  # None: we stopped reading a stream that went on
    details: str
    replies: tuple[bytes, ...]


def unary(channel: grpc.Channel, path: str) -> "grpc.UnaryUnaryMultiCallable[bytes, bytes]":
    """A call of `path` that sends and receives bytes as they are (no serializers)."""
    return channel.unary_unary(path)


def call(channel: grpc.Channel, rpc: Rpc, request: Request) -> Outcome:
    method = rpc.method
    if not method.client_streaming and not method.server_streaming:
        try:
            reply = unary(channel, rpc.path)(request.frames[0], timeout=CALL_TIMEOUT)
        except grpc.RpcError as err:
            return Outcome(err.code(), err.details() or "", ())
        return Outcome(grpc.StatusCode.OK, "", (reply,))
    assert method.server_streaming, f"{rpc.label}: a request stream with one reply"
    stream: Any
    if method.client_streaming:
        both: grpc.StreamStreamMultiCallable[bytes, bytes] = channel.stream_stream(rpc.path)
        stream = both(iter(request.frames), timeout=CALL_TIMEOUT)
    else:
        replies_only: grpc.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(rpc.path)
        stream = replies_only(request.frames[0], timeout=CALL_TIMEOUT)
    timer = threading.Timer(STREAM_WAIT, stream.cancel)
    timer.start()
    replies: list[bytes] = []
    try:
        for reply in stream:
            replies.append(reply)
            if len(replies) >= STREAM_ITEMS:
                return Outcome(None, "stopped reading", tuple(replies))
    except grpc.RpcError as err:
        return Outcome(err.code(), err.details() or "", tuple(replies))
    finally:
        timer.cancel()
        stream.cancel()
    return Outcome(grpc.StatusCode.OK, "", tuple(replies))


def refusals(caller: Caller, rpc: Rpc, request: Request) -> set[grpc.StatusCode]:
    """What a refused caller may hear: PERMISSION_DENIED, before its request is even
    parsed. Only a user calling an operator RPC may first hear about the request: its
    role can depend on the package the request names (per-package policies)."""
    if caller.kind == "root":  # the admin socket serves the Admin service only
        return {grpc.StatusCode.UNIMPLEMENTED}
    if caller.kind != "user" or rpc.caller != auth_pb2.CALLER_OPERATOR:
        return {grpc.StatusCode.PERMISSION_DENIED}
    if any(len(frame) > rpc.limit for frame in request.frames):
        return {grpc.StatusCode.RESOURCE_EXHAUSTED}
    if request.kind in ("mutated", "garbage"):
        return {grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.INVALID_ARGUMENT}
    return {grpc.StatusCode.PERMISSION_DENIED}


def oversize_codes(rpc: Rpc) -> set[grpc.StatusCode]:
    """A request over the limit is refused unparsed; a coordinator order from a member
    may be refused first for not coming from the coordinator (also unparsed)."""
    if rpc.caller == auth_pb2.CALLER_COORDINATOR:
        return {grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.FAILED_PRECONDITION}
    return {grpc.StatusCode.RESOURCE_EXHAUSTED}


RECORD = re.compile(
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} (?:DEBUG|INFO|WARNING|ERROR|CRITICAL) "
    r"node1 cmcld\[\d+\]: [^\x00-\x1f\x7f-\x9f]*"
)
CRASH = re.compile(r"Traceback|Exception| (?:ERROR|CRITICAL) node1 |failed \(\d+ since start\)")


def _shown(lines: list[str]) -> list[str]:
    return [repr(line) if len(line) < 300 else f"{line[:300]!r}... ({len(line)})" for line in lines]


def crashes(log: str) -> list[str]:
    """Lines of cmcld.log that show a crash: a traceback, an ERROR record."""
    return _shown([line for line in log.split("\n") if CRASH.search(line)])


def foreign_lines(log: str) -> list[str]:
    """Lines of cmcld.log that are not one record of cmcld's without control characters
    (NUL, a newline in a request's field making a forged record): what a caller wrote
    into the log."""
    return _shown([line for line in log.split("\n")[:-1] if not RECORD.fullmatch(line)])


def exercise(target: Target, caller: Caller, rpc: Rpc, request: Request) -> None:
    note(f"RPC_FUZZ_SEED={SEED}")
    assert not target.stopped, "cmcld was stopped by an earlier test"
    target.new_log()  # what a failed example left: reported with it, and at the end
    outcome = call(target.channels[caller.label], rpc, request)
    note(f"{caller.label} {rpc.label}: {outcome.code} {outcome.details!r}")
    code = outcome.code
    assert code is not grpc.StatusCode.UNKNOWN, outcome
    assert code is not grpc.StatusCode.INTERNAL, outcome
    oversized = any(len(frame) > rpc.limit for frame in request.frames)
    if not admitted(caller, rpc):
        assert code in refusals(caller, rpc, request), outcome
    elif oversized and not rpc.method.client_streaming:
        assert code in oversize_codes(rpc), outcome
    elif request.unknown_enum:
        assert code is not grpc.StatusCode.OK, f"undeclared enum in {request.unknown_enum}"
    reply_type = message_factory.GetMessageClass(rpc.method.output_type)
    for reply in outcome.replies:
        reply_type.FromString(reply)
    assert target.daemon.process.poll() is None, "cmcld exited"
    if target.log_level() != "info":  # also: cmcld still answers root at once
        target.log_level("info")
    log = target.new_log()
    assert not crashes(log), "cmcld.log:\n" + "\n".join(crashes(log))
    assert not foreign_lines(log), "cmcld.log:\n" + "\n".join(foreign_lines(log))


# -- the tests --------------------------------------------------------------------------


def test_every_rpc_declares_its_callers() -> None:
    """Each RPC is exercised under every caller; each declares who may call it."""
    services = services_pb2.DESCRIPTOR.services_by_name
    assert {r.label for r in RPCS} == {
        f"{name}/{m.name}" for name in ("Node", "Admin") for m in services[name].methods
    }
    assert all(r.caller != auth_pb2.CALLER_UNSPECIFIED for r in RPCS)
    assert {c.label for c, _ in ADMITTED} == {c.label for c in CALLERS} - {
        "outsider",
        "quorum_server",
    }


@pytest.mark.parametrize(("caller", "rpc"), REFUSED, ids=[pair_id(p) for p in REFUSED])
@seed(SEED)
@settings(FUZZ, max_examples=REFUSED_EXAMPLES)
@given(data=st.data())
def test_refused_callers_get_permission_denied(
    target: Target, caller: Caller, rpc: Rpc, data: st.DataObject
) -> None:
    exercise(target, caller, rpc, data.draw(requests(rpc), label="request"))


@pytest.mark.parametrize(("caller", "rpc"), ADMITTED, ids=[pair_id(p) for p in ADMITTED])
@seed(SEED)
@settings(FUZZ, max_examples=ADMITTED_EXAMPLES)
@given(data=st.data())
def test_admitted_callers_never_crash_cmcld(
    target: Target, caller: Caller, rpc: Rpc, data: st.DataObject
) -> None:
    exercise(target, caller, rpc, data.draw(requests(rpc), label="request"))


def test_cmcld_still_answers_cmviewcl_with_its_configuration(target: Target) -> None:
    result = run(["cmviewcl"], command_env(target.root, "node1"))
    assert result.status == 0, result
    assert "fuzz" in result.out
    reply = unary(target.channels["root"], "/cluster.pb.v1.Admin/GetConfig")(
        config_pb2.GetConfigRequest().SerializeToString(), timeout=CALL_TIMEOUT
    )
    assert config_pb2.GetConfigReply.FromString(reply).blob.generation == 1


def test_cmcld_log_shows_no_crash(target: Target) -> None:
    """The whole log, start-up included (a record written after its call was checked
    is caught here)."""
    log = target.daemon.log()
    assert "cmcld" in log
    assert not crashes(log), "\n".join(crashes(log)[:40])
    assert not foreign_lines(log), "\n".join(foreign_lines(log)[:40])


# -- writes, from the strace of cmcld and its children ----------------------------------

_LINE = re.compile(r"^(\d+)\s+(?:<\.\.\. (\w+) resumed>|(\w+)\()(.*)$")
_TOKEN = re.compile(r'(?:AT_FDCWD|\d+)<((?:[^>\\]|\\.)*)>|"((?:[^"\\]|\\.)*)"')
_RESULT = re.compile(r"\)\s+= (-?\d+)(?:<((?:[^>\\]|\\.)*)>)?")
_WRITE_FLAGS = re.compile(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND")
_SUN_PATH = re.compile(r'sun_path="((?:[^"\\]|\\.)*)"')
# Not files: the bit bucket, and a process's own kernel settings (oom_score_adj).
ALLOWED_OUTSIDE = re.compile(r"/dev/null|/proc/(self|\d+)/[a-z_]+")


def _unescape(text: str) -> str:
    return text.encode("latin-1", "backslashreplace").decode("unicode_escape", "replace")


def writes(trace: str, cwd: Path) -> list[str]:
    """Every path a traced process created, opened for writing, renamed, removed, bound
    or chmodded successfully, made absolute (cwd followed through chdir and forks)."""
    cwds: dict[str, str] = {}
    pending: dict[str, str] = {}
    found: list[str] = []
    for raw in trace.splitlines():
        match = _LINE.match(raw)
        if not match:
            continue
        tid, resumed, name, rest = match.groups()
        if resumed:
            name, rest = resumed, pending.pop(tid, "") + rest
        if rest.endswith("<unfinished ...>"):
            pending[tid] = rest.removesuffix("<unfinished ...>")
            continue
        result = _RESULT.search(rest)
        if result is None or result.group(1).startswith("-"):
            continue
        here = cwds.get(tid, str(cwd))
        args = rest[: result.start()]
        if name in ("clone", "clone3", "fork", "vfork"):
            cwds[result.group(1)] = here
            continue
        paths = _paths(name, args, here)
        if name in ("chdir", "fchdir"):
            if paths:
                cwds[tid] = paths[-1]
            continue
        if name.startswith("open") or name == "creat":
            if name != "creat" and not _WRITE_FLAGS.search(args):
                continue
            if result.group(2):
                paths = [_unescape(result.group(2))]
        found.extend(paths)
    return found


def _paths(name: str, args: str, cwd: str) -> list[str]:
    if name == "bind":
        sun = _SUN_PATH.search(args)
        return [os.path.normpath(os.path.join(cwd, _unescape(sun.group(1))))] if sun else []
    base, paths = cwd, []
    for fd_path, string in _TOKEN.findall(args):
        if fd_path:
            base = _unescape(fd_path)
        else:
            paths.append(os.path.normpath(os.path.join(base, _unescape(string))))
    if name in ("symlink", "symlinkat"):
        paths = paths[1:]  # the first is what the link points to, not a file written
    elif name == "fchdir":
        paths = [base]
    return paths


def test_nothing_was_written_outside_the_root(target: Target) -> None:
    if target.trace is None:
        pytest.skip("strace cannot run here: cmcld's writes cannot be told from others'")
    target.stop()
    written = writes(target.trace.read_text(errors="replace"), target.root.parent)
    root = os.path.normpath(target.root)
    inside = [p for p in written if p == root or p.startswith(root + os.sep)]
    outside = sorted({p for p in written if p not in inside and not ALLOWED_OUTSIDE.fullmatch(p)})
    assert str(target.daemon.paths.cmcld_log) in inside, "the trace saw none of cmcld's writes"
    assert not outside, "\n".join(outside)
