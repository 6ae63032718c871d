"""JSON from files and people, parsed into a ``JSONDecodeError`` whatever it holds.

:func:`json.loads` raises ``RecursionError`` on nesting deeper than the interpreter's stack
(``[[[[…]]]]`` of a few thousand levels: a traceback, not a line), and takes ``"\\ud800"``, a
lone surrogate, as text that no UTF-8 file or terminal can hold (a ``UnicodeEncodeError``
later, far from the line that had it). Both are refused here as invalid JSON, so every
reader's existing ``except json.JSONDecodeError`` (a ``ValueError``) names the file and the
line.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["parse"]


def parse(text: str) -> Any:
    """Parse ``text`` as JSON; too deep a nesting or a lone surrogate is a JSONDecodeError."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", text, 0) from None
    if "\\u" in text:  # only an escape makes a lone surrogate (text read as UTF-8 has none)
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise json.JSONDecodeError(f"a lone surrogate ({exc.object[exc.start]!a}) is "
                                       f"not a character", text, 0) from None
        except RecursionError:
            raise json.JSONDecodeError("nested too deeply", text, 0) from None
    return value
