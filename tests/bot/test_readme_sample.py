"""The README's sample output: made by scripts/readme_sample.py, shaped like the renderer's.

The unit tests check the script's rewriting with a stand-in runner and that every README
block has the structure ``render_answer`` produces; the integration test runs the script's
``--check`` with the real bundled models, which fails when the README is stale.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from bot.render import WIDTH, visible_width

ROOT = Path(__file__).parents[2]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("readme_sample",
                                                  ROOT / "scripts" / "readme_sample.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


readme_sample = _script()
README = (ROOT / "README.md").read_text(encoding="utf-8")
CITE = r"\[[^\]]+, sentence \d+\]"
HEAD = [re.compile(rf"^Answer {CITE}  confidence \d\.\d\d$"),
        re.compile(rf"^Likely answer {CITE} confidence \d\.\d\d \(not sure\)$"),
        re.compile(r"^I don't know: I found no answer in (the article|the documents|"
                   r"the document \S+) \(confidence \d\.\d\d, below "
                   r"\d\.\d\d\)\.$")]
HINT = re.compile(rf"^Closest passage \(a hint, not an answer\) {CITE}:$")
MORE = re.compile(rf"^  - {CITE} \((?:chance|score) \d\.\d\d\) \S")
PHRASE = re.compile(r"^\*\*\S(?:.*\S)?\*\*$")


def _blocks() -> list[tuple[str, list[str]]]:
    return [(m["command"], m["block"].splitlines()) for m in readme_sample.SAMPLE.finditer(README)]


def test_readme_has_samples_for_an_answer_and_a_decline() -> None:
    blocks = _blocks()
    assert len(blocks) >= 2
    firsts = [lines[1] for _, lines in blocks]
    assert any(line.startswith(("Answer [", "Likely answer [")) for line in firsts)
    assert any(line.startswith("I don't know") for line in firsts)


@pytest.mark.parametrize("n", range(2))
def test_sample_block_has_the_renderer_structure(n: int) -> None:
    command, lines = _blocks()[n]
    assert lines[0] == f"$ {command}"
    out = lines[1:]
    if PHRASE.match(out[0]):  # the phrase that answers leads, then the verdict's line
        assert out[1].startswith(("Answer ", "Likely answer ")), out[1]
        assert f"_{out[0][2:-2]}_" in " ".join(out[2:]), "the phrase is marked in its sentence"
        out = out[1:]
    assert any(p.match(out[0]) for p in HEAD), out[0]
    body = out[2:] if out[0].startswith("I don't know") else out[1:]
    if out[0].startswith("I don't know"):
        assert HINT.match(out[1]), out[1]
    context = []
    for line in body:
        if line in ("Also relevant:", "Other passages:"):
            break
        assert line.startswith("  ") and not line.startswith("   "), line
        context.append(line)
    joined = " ".join(context)
    assert joined.count("**") == 2 and re.search(r"\*\*\S.*\S\*\*", joined)
    rest = body[len(context):]
    if rest:
        assert rest[0] == ("Other passages:" if out[0].startswith("I don't know") else
                           "Also relevant:")
        assert MORE.match(rest[1]) and all(MORE.match(x) or x.startswith("    ")
                                            for x in rest[1:])
    assert all(visible_width(line) <= WIDTH for line in out)


def test_update_rewrites_stale_blocks_and_is_stable() -> None:
    text = ('intro\n<!-- sample: qabot ask "Hi there?" -->\n```\n$ qabot ask "Hi there?"\n'
            'old output\n```\nmiddle\n<!-- sample: qabot ask --doc d x -->\n```\n```\nend\n')
    calls: list[list[str]] = []

    def run(args: list[str]) -> str:
        calls.append(args)
        return f"output of {' '.join(args)}\n\n"

    new = readme_sample.update(text, run)
    assert calls == [["ask", "Hi there?"], ["ask", "--doc", "d", "x"]]
    assert new == ('intro\n<!-- sample: qabot ask "Hi there?" -->\n```\n$ qabot ask "Hi there?"\n'
                   'output of ask Hi there?\n```\nmiddle\n<!-- sample: qabot ask --doc d x -->\n'
                   '```\n$ qabot ask --doc d x\noutput of ask --doc d x\n```\nend\n')
    assert readme_sample.update(new, run) == new


def test_check_fails_on_a_stale_readme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "README.md"
    stale.write_text('<!-- sample: qabot ask "Q?" -->\n```\n$ qabot ask "Q?"\nold\n```\n')
    monkeypatch.setattr(readme_sample, "real_runner", lambda workdir: lambda args: "new\n")
    before = stale.read_text()
    assert readme_sample.main(["--check", "--readme", str(stale)]) == 1
    assert stale.read_text() == before, "--check writes nothing"
    assert readme_sample.main(["--readme", str(stale)]) == 0
    assert stale.read_text().endswith('$ qabot ask "Q?"\nnew\n```\n')
    assert readme_sample.main(["--check", "--readme", str(stale)]) == 0


@pytest.mark.integration
def test_readme_samples_match_a_real_run() -> None:
    """The README equals what the bundled models print now (scripts/readme_sample.py)."""
    done = subprocess.run([sys.executable, "scripts/readme_sample.py", "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr


def test_figures_are_made_from_the_results(tmp_path: Path) -> None:
    import json

    verdicts = {"all": {"questions": 3, "confidently_wrong": 0}}
    quality = {"date": "2026-12-03T10:00:00+00:00", "sets": [
        {"name": readme_sample.SEALED[0][0], "questions": 60, "answerable": 42, "right_first": 0.5,
         "helpful": 0.25, "confidently_wrong": 0.0125, "close_answer": 0.0,
         "verdicts": verdicts},
        {"name": "wikiqa", "questions": 317, "map": 0.7601, "f1_answer": 0.1,
         "f1_answer_or_likely": 0.4, "verdicts": verdicts},
        {"name": readme_sample.CONVERSATIONS, "questions": 12, "verdicts": verdicts,
         "turns": {
             "opening": {"questions": 3, "answerable": 3, "right_first": 2,
                         "right_first_alone": 2},
             "followup": {"questions": 8, "answerable": 6, "unanswerable": 2,
                          "right_first": 3, "right_first_alone": 2, "helpful": 3,
                          "helpful_alone": 1, "unanswerable_answer": 1},
             "switch": {"questions": 1, "answerable": 1, "right_first": 0,
                        "right_first_alone": 1}}}]}
    app = {"date": "2026-11-28T17:56:16+00:00", "figures": [
        {"name": "cold one-shot `qabot ask`, wall time", "value": 0.5245, "unit": "s",
         "ratio": 1.081, "floor": "python: the same work"},
        {"name": "something the README does not show", "value": 1.0, "unit": "s"}]}
    (tmp_path / "quality.json").write_text(json.dumps(quality), encoding="utf-8")
    (tmp_path / "app.json").write_text(json.dumps(app), encoding="utf-8")
    text = "a\n<!-- figures -->\nstale\n<!-- /figures -->\nb\n"
    new = readme_sample.update_figures(text, tmp_path)
    assert "stale" not in new and new.startswith("a\n<!-- figures -->\n| what |")
    assert "right first 50%, helpful (right first, `answer` or `likely`) 25%" in new
    assert "confidently wrong 1%" in new and "MAP 0.760" in new
    assert ("| follow-up questions, sealed (3 conversations: 6 answerable follow-ups, 2 "
            "unanswerable; nothing tuned on them) | follow-ups right first 50% (asked alone "
            "33%), helpful 50% (asked alone 17%); unanswerable follow-ups given `answer` 50%; "
            "openings right first 2 of 3 (alone 2), subject changes 0 of 1 (alone 1) |") in new
    assert "| one-shot `qabot ask`, start to exit | 0.52 s (1.08× a bare python" in new
    assert "does not show" not in new
    assert "(measured: quality.json 2026-12-03, app.json 2026-11-28)" in new
    assert readme_sample.update_figures(new, tmp_path) == new


def test_the_thresholds_the_docs_state_are_the_shipped_calibration() -> None:
    """README and docs/usage.md say the calibrated thresholds in words; a refitted
    calibration that leaves them behind fails here."""
    from index.modelling.reranker import bundled_calibration

    calibration = bundled_calibration()
    answer, likely = f"{calibration.threshold:.2f}", f"{calibration.likely_threshold:.2f}"
    assert f"calibrated ({answer} / {likely})" in README
    usage = (ROOT / "docs" / "usage.md").read_text(encoding="utf-8")
    assert f"`QABOT_ANSWER_THRESHOLD` | calibrated ({answer})" in usage
    assert f"`QABOT_LIKELY_THRESHOLD` | calibrated ({likely})" in usage
    assert f"calibrated {answer})" in usage and f"calibrated {likely})" in usage
