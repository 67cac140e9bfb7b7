"""cluster.errors exceptions -> gRPC status codes, for the servicers."""

from typing import Any

import grpc
from grpc import aio

from cluster.errors import CmError, FieldError, NotAuthorized, Unreachable


def status_for(error: CmError) -> grpc.StatusCode:
    if isinstance(error, FieldError):
        return grpc.StatusCode.INVALID_ARGUMENT
    if isinstance(error, NotAuthorized):
        return grpc.StatusCode.PERMISSION_DENIED
    if isinstance(error, Unreachable):
        return grpc.StatusCode.UNAVAILABLE
    return grpc.StatusCode.FAILED_PRECONDITION


async def abort_for(context: aio.ServicerContext[Any, Any], error: CmError) -> None:
    await context.abort(status_for(error), str(error))
