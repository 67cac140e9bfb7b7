"""How servicers answer: cluster.errors exceptions as gRPC status codes, and long
operations as progress lines ending in one result."""

from collections.abc import AsyncIterator
from typing import Any

import grpc
from grpc import aio

from cluster.config.problems import ConfigError
from cluster.errors import CmError, FieldError, NotAuthorized, Unreachable
from cluster.pb.v1 import admin_pb2

SHORT = 400  # characters of a status message: never echo a large input back


def short(text: str, limit: int = SHORT) -> str:
    """`text` cut to `limit` characters, saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


def status_for(error: CmError) -> grpc.StatusCode:
    if isinstance(error, FieldError):
        return grpc.StatusCode.INVALID_ARGUMENT
    if isinstance(error, NotAuthorized):
        return grpc.StatusCode.PERMISSION_DENIED
    if isinstance(error, Unreachable):
        return grpc.StatusCode.UNAVAILABLE
    return grpc.StatusCode.FAILED_PRECONDITION


async def abort_for(context: aio.ServicerContext[Any, Any], error: CmError) -> None:
    await context.abort(status_for(error), short(str(error)))


def _line(text: str) -> admin_pb2.CommandProgress:
    return admin_pb2.CommandProgress(line=text)


def _result(ok: bool, message: str) -> admin_pb2.CommandProgress:
    return admin_pb2.CommandProgress(result=admin_pb2.CommandResult(ok=ok, message=message))


async def progress(
    lines: AsyncIterator[str], done: str
) -> AsyncIterator[admin_pb2.CommandProgress]:
    """A long operation as progress lines and one final result, never a bare error:
    configuration problems come back one per line, as cmcheckconf prints them."""
    try:
        async for text in lines:
            yield _line(text)
    except ConfigError as exc:
        for problem in exc.problems:
            yield _line(str(problem))
        count = len(exc.errors)
        yield _result(False, f"{count} error{'s' if count != 1 else ''}: nothing was applied")
        return
    except CmError as exc:
        yield _result(False, str(exc))
        return
    yield _result(True, done)
