"""Text from documents and users, made safe to show: no terminal control sequences.

A document can hold escape sequences that clear the screen, set the window title or hide
text, and bidi overrides that show text in another order than it is read; printed raw, they
act on the reader's terminal. Every human-facing surface (answers in the terminal and the
REPL, ``index info``, error lines, Discord replies) passes such text through
:func:`safe_text`. JSON output does not: it escapes control characters itself.

A name the reader must find again (a file skipped by a build, a path) is shown through
:func:`visible_controls` instead: its control characters are written out as escapes
(``\x1b``), harmless and still telling which file it is.
"""

from __future__ import annotations

import re

_SEQUENCES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, clearing the screen
    # OSC, DCS, SOS, PM and APC strings (a window title, a hyperlink), when terminated
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"
    r"|\x1b[ -/]*[0-~]"  # any other escape: character sets, resets, an unterminated string
)
# C0 controls but tab and newline, DEL, C1 controls, and the bidi embeddings, overrides and
# isolates ("Trojan Source").
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_LAYOUT = re.compile(r"[\t\n]")
# Every control character, and the lone surrogates a name that is not UTF-8 is read with
# ("idx\udcff"), which no UTF-8 output can hold.
_ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def safe_text(text: str, *, one_line: bool = False) -> str:
    """Strip control sequences and characters; keep tabs and newlines unless ``one_line``."""
    text = _CONTROLS.sub("", _SEQUENCES.sub("", text))
    return _LAYOUT.sub(" ", text) if one_line else text


def visible_controls(text: str) -> str:
    """Write every control character (tab and newline too) and lone surrogate as its
    escape: one safe line."""
    return _ANY_CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
