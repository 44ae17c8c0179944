"""Index a function app with the Python worker's own code, as the Functions host has it done.

``python -m tests.worker_indexing <app dir>`` prints ``{function name: [raw binding, ...]}``
(the JSON strings the worker sends the host in ``RpcFunctionMetadata.raw_bindings``), or exits
1 with the worker's error. It uses ``azure_functions_runtime`` (PyPI ``azure-functions-runtime``,
the library worker of Python 3.13+, whose ``loader.index_function_app`` and
``process_indexed_function`` have the same names and logic as the 4.x worker's for 3.11:
https://github.com/Azure/azure-functions-python-worker), installed by ``make deps`` with
``--no-deps --ignore-requires-python`` into ``.tools/azure-functions-runtime``.

The worker's protobuf classes are not needed: ``process_indexed_function`` takes the module of
protos as an argument, and only constructs ``BindingInfo`` (direction values from
``FunctionRpc.proto``), ``RpcFunctionMetadata`` and ``RpcRetryOptions`` from keywords.
"""

from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = ROOT / ".tools" / "azure-functions-runtime"


class _Message:
    """Stands in for a protobuf message class: keeps the keywords it is built with."""

    in_ = 0  # BindingInfo.Direction (FunctionRpc.proto)
    out = 1
    inout = 2
    undefined = 0

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)


def index(app_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """The raw bindings of every function of ``app_dir/function_app.py``."""
    sys.path[:0] = [str(RUNTIME), str(app_dir)]
    os.chdir(app_dir)
    from azure_functions_runtime.bindings.meta import load_binding_registry

    load_binding_registry()
    from azure_functions_runtime.functions import Registry
    from azure_functions_runtime.loader import index_function_app, process_indexed_function

    protos = types.SimpleNamespace(
        BindingInfo=_Message, RpcFunctionMetadata=_Message, RpcRetryOptions=_Message
    )
    functions = index_function_app(str(app_dir / "function_app.py"))
    metadata, _ = process_indexed_function(protos, Registry(), functions, str(app_dir))
    return {m.name: [json.loads(b) for b in m.raw_bindings] for m in metadata}


if __name__ == "__main__":
    if not (RUNTIME / "azure_functions_runtime").is_dir():
        sys.exit(f"{RUNTIME} is missing: run `make deps`")
    try:
        result = index(Path(sys.argv[1]).resolve())
    except Exception as exc:
        sys.exit(f"{exc.__class__.__name__}: {exc}")
    print(json.dumps(result))
