"""Fault injection, the bot as a service (issue 10, inputs and surfaces half): a bot told to
stop finishes what it answers and exits 0; its logs carry no token. Split from
test_faults_inputs.py."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bot.cli import cli

# --- 6. the bot as a service -------------------------------------------------------------
TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.Gabcde.not-a-real-token-but-secret"

# Runs `qabot discord` with a client that never reaches Discord: it sets up, says it is
# ready with one answer in flight (1.5 s long), and stays connected until closed.
STUB_BOT = """
import asyncio
import index.answering.configured
from tests.fakes import FakeEmbedder
index.answering.configured.default_embedder = lambda settings, *_: FakeEmbedder()
from bot.discord_bot import QABot

async def start(self, token, *, reconnect=True):
    await self.setup_hook()
    await self.on_ready()

    async def answer():
        async with self.serving():
            await asyncio.sleep(1.5)
            print("ANSWERED", flush=True)

    self.answer_task = asyncio.create_task(answer())
    await asyncio.sleep(0.1)
    print("READY", flush=True)
    while not self.is_closed():
        await asyncio.sleep(0.05)

QABot.start = start
from bot.cli import main
main()
"""


def test_sigterm_stops_the_bot_cleanly(tmp_path: Path) -> None:
    import queue
    import signal
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("QABOT_")}
    env.update(QABOT_DISCORD_TOKEN=TOKEN, XDG_DATA_HOME=str(tmp_path / "xdg"))
    proc = subprocess.Popen([sys.executable, "-c", STUB_BOT, "discord"], env=env,
                            cwd=Path(__file__).parents[2], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:  # read stdout aside, so that waiting for READY can time out
        for line in proc.stdout or ():
            lines.put(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        while lines.get(timeout=120) != "READY\n":  # setup lines, if any
            pass
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
        reader.join(5)
        err = proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
    out = []
    while not lines.empty():
        out.append(lines.get())
    assert code == 0, err
    assert out == ["ANSWERED\n"]  # the answer in flight was finished, after the signal
    assert "SIGTERM received" in err and "stopping: 1 answer(s)" in err
    assert "disconnected from Discord" in err and "connected as" in err
    assert "Traceback" not in err and TOKEN not in err


async def test_stop_finishes_answers_in_flight_and_refuses_new_ones(
        fake_engine: Any, settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio
    from unittest.mock import AsyncMock

    from bot.cogs.errors import ShuttingDown
    from bot.discord_bot import QABot
    from tests.bot.conftest import FAKE_QUESTION, FakeInteraction, FakeUser, description

    bot = QABot(fake_engine, settings)
    await bot.setup_hook()
    close = AsyncMock()
    monkeypatch.setattr(bot, "close", close)
    entered, release = threading.Event(), threading.Event()
    real_ask = fake_engine.ask

    def slow_ask(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        release.wait(10)
        return real_ask(*args, **kwargs)

    monkeypatch.setattr(fake_engine, "ask", slow_ask)
    asking: Any = bot.get_cog("Asking")
    first = FakeInteraction()
    answering = asyncio.create_task(asking.ask_slash.callback(asking, first, FAKE_QUESTION))
    assert await asyncio.to_thread(entered.wait, 10)
    stopping = asyncio.create_task(bot.stop())
    await asyncio.sleep(0.05)
    with pytest.raises(ShuttingDown):  # the error handler tells the asker in one line
        await asking.ask_slash.callback(asking, FakeInteraction(user=FakeUser(id=7)),
                                        FAKE_QUESTION)
    assert not stopping.done() and close.await_count == 0  # waiting for the answer
    release.set()
    await asyncio.wait_for(stopping, 10)
    await answering
    assert "two hours and 15 minutes" in description(first.followup.sent[0].embed)
    close.assert_awaited_once()


async def test_stop_closes_after_the_grace_period_whatever_is_in_flight(
        fake_engine: Any, settings: Any, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    import asyncio
    from unittest.mock import AsyncMock

    from bot.discord_bot import QABot

    bot = QABot(fake_engine, settings)
    close = AsyncMock()
    monkeypatch.setattr(bot, "close", close)

    async def stuck() -> None:
        async with bot.serving():
            await asyncio.sleep(60)

    task = asyncio.create_task(stuck())
    await asyncio.sleep(0)
    with caplog.at_level(logging.WARNING):
        await asyncio.wait_for(bot.stop(grace=0.2), 10)
    close.assert_awaited_once()
    assert "closing with 1 answer(s) or rebuild(s) unfinished" in caplog.text
    task.cancel()


@pytest.mark.parametrize(("env", "level"), [({}, logging.INFO),
                                            ({"QABOT_LOG_LEVEL": "error"}, logging.ERROR)])
def test_the_bot_logs_at_info_by_default_through_discord_setup(
        monkeypatch: pytest.MonkeyPatch, env: dict[str, str], level: int) -> None:
    import discord

    import bot.discord_bot

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(discord.utils, "setup_logging", lambda **kw: calls.append(kw))
    monkeypatch.setattr(bot.discord_bot, "run", lambda settings, sync=False: 0)
    monkeypatch.setattr(logging.root, "handlers", [])  # as in a fresh process
    for key, value in {"QABOT_DISCORD_TOKEN": TOKEN, **env}.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(cli, ["discord"])
    assert result.exit_code == 0, result.output
    assert [c.get("level") for c in calls] == [level]


def test_connected_and_reindex_lines_are_logged_without_the_token(
        fake_engine: Any, settings: Any, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    from pydantic import SecretStr

    from bot.discord_bot import QABot, run
    from index.errors import SourceError
    from tests.bot.conftest import FakeUser

    admin_user = FakeUser(id=42)

    async def start(self: QABot, token: str, *, reconnect: bool = True) -> None:
        await self.setup_hook()
        await self.on_ready()
        admin: Any = self.get_cog("Admin")
        await admin.rebuild(False, admin_user)
        monkeypatch.setattr(self.engine, "rebuild", fail)
        with pytest.raises(SourceError):
            await admin.rebuild(True, admin_user)

    def fail(**kwargs: Any) -> Any:
        raise SourceError("docs/x.txt: not UTF-8 text")

    monkeypatch.setattr(QABot, "start", start)
    configured = settings.model_copy(update={"discord_token": SecretStr(TOKEN)})
    with caplog.at_level(logging.DEBUG):
        assert run(configured, engine_factory=lambda s: fake_engine) == 0
    text = caplog.text
    for line in ("connected as", "slash commands not synced", "index rebuild started",
                 "index rebuild finished", "index rebuild failed: docs/x.txt: not UTF-8 text",
                 "disconnected from Discord"):
        assert line in text, line
    assert TOKEN not in text and TOKEN not in capsys.readouterr().err


async def test_reindex_is_hidden_from_members_without_manage_server(fake_engine: Any,
                                                                    settings: Any) -> None:
    import discord

    from bot.cogs.admin import NOT_ADMIN
    from bot.discord_bot import QABot
    from tests.bot.conftest import FakeInteraction

    bot = QABot(fake_engine, settings)
    await bot.setup_hook()
    reindex = bot.tree.get_command("reindex")
    assert reindex is not None and reindex.default_permissions is not None
    assert reindex.default_permissions == discord.Permissions(manage_guild=True)
    member = FakeInteraction()  # the runtime check stays, for servers that override it
    admin: Any = bot.get_cog("Admin")
    await admin.reindex_slash.callback(admin, member)
    assert [s.content for s in member.replies] == [NOT_ADMIN]
