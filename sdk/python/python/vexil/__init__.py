"""Vexil feature flags for Python, evaluated locally.

The client streams every flag change from any node of a Vexil cluster,
keeps the last known good state in a cache file, fails over between nodes,
and answers ``bool_value`` and friends from memory: evaluation never waits
on the network and never raises. The protocol and the evaluator are the
Rust SDK's, running inside this package's native extension.

    import vexil

    with vexil.Client(["http://127.0.0.1:7070"], "vxl_sdk_...",
                      cache_file="/var/cache/myapp/vexil.json") as client:
        client.wait_until_ready(5)
        if client.bool_value("new-checkout", {"key": "user-42", "country": "NZ"}, False):
            ...

Layout: ``vexil._native`` (the extension: client, context conversion,
evaluation), ``vexil._client`` (``Client``: context manager, status, waits,
change listeners), ``vexil.openfeature`` (``VexilProvider`` for the
``openfeature-sdk`` package).
"""

import json as _json
import os as _os
from typing import Any, Dict, Union

from vexil._client import Client, FlagChange, Status
from vexil._native import (
    ConfigError,
    Context,
    EvaluationDetail,
    InvalidContextError,
)
from vexil._native import write_cache_file as _write_cache_file

__all__ = [
    "Client",
    "ConfigError",
    "Context",
    "EvaluationDetail",
    "FlagChange",
    "InvalidContextError",
    "Status",
    "write_cache_file",
]


def write_cache_file(
    path: Union[str, "_os.PathLike[str]"], state: Union[Dict[str, Any], str]
) -> None:
    """Writes ``state`` (a ``StateSnapshot``: a dict, or its JSON text) as a
    cache file a client can start from, in the SDK's checksummed format."""
    text = state if isinstance(state, str) else _json.dumps(state)
    _write_cache_file(_os.fspath(path), text)
