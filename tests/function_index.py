"""The functions of ``function_app.py`` as the ``azure.functions`` library indexes them.

``FunctionApp.get_functions()`` may run once per app object (a second call re-indexes and
fails on duplicate names), so every test takes the list from here.
"""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def app_functions() -> tuple[Any, ...]:
    """``function_app.app.get_functions()``, computed once per test session."""
    import function_app

    return tuple(function_app.app.get_functions())
