from __future__ import annotations

import pytest

from bot.safe_text import safe_text


@pytest.mark.parametrize(("raw", "shown"), [
    ("plain text, “quotes” and émoji 😀", "plain text, “quotes” and émoji 😀"),
    ("\x1b[2J\x1b[Hcleared", "cleared"),  # clear the screen, cursor home
    ("\x1b[1;31mred\x1b[0m text", "red text"),
    ("\x1b]0;pwned title\x07after", "after"),  # set the window title (BEL)
    ("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link"),  # a hyperlink (ST)
    ("\x1b]0;no end", "0;no end"),  # an unterminated string loses only its escape
    ("\x9b2Jc1 csi", "c1 csi"),
    ("\x1bcreset", "reset"),
    ("bell\x07 back\x08space\r return\x00nul\x7fdel\x85nel", "bell backspace returnnuldelnel"),
    ("abc\u202edcba\u202c \u2066iso\u2069", "abcdcba iso"),
    ("keeps\ttabs\nand newlines", "keeps\ttabs\nand newlines"),
])
def test_safe_text_strips_control_sequences(raw: str, shown: str) -> None:
    assert safe_text(raw) == shown


def test_one_line_turns_layout_into_spaces() -> None:
    assert safe_text("name\nwith\tlayout\x1b[K", one_line=True) == "name with layout"
