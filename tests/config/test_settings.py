from __future__ import annotations

import re
from pathlib import Path

import pytest

from config import Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_defaults() -> None:
    s = load_settings(_env_file=None)
    assert s.model == "all-MiniLM-L6-v2" and s.top_k == 3 and s.sources == []
    assert s.discord_token is None and s.discord_message_content is False


def test_env_prefix_lists_and_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QABOT_TOP_K", "7")
    monkeypatch.setenv("QABOT_SOURCES", "a.txt, b/")
    monkeypatch.setenv("QABOT_DISCORD_ADMIN_IDS", "[1, 2]")
    monkeypatch.setenv("DISCORD_TOKEN", "sekrit-token")
    s = load_settings(_env_file=None)
    assert s.top_k == 7 and s.sources == [Path("a.txt"), Path("b/")]
    assert s.discord_admin_ids == [1, 2]
    assert s.discord_token is not None and s.discord_token.get_secret_value() == "sekrit-token"
    assert "sekrit-token" not in repr(s) and "sekrit-token" not in str(s.model_dump())


def test_dotenv_file(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("QABOT_CONTEXT_WINDOW=2\nQABOT_LOG_LEVEL=debug\n", encoding="utf-8")
    s = Settings(_env_file=env)
    assert s.context_window == 2 and s.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        ("QABOT_TOP_K", "0", "QABOT_TOP_K: Input should be greater than or equal to 1 "
                             "(allowed: 1 to 50)"),
        ("QABOT_ANSWER_THRESHOLD", "1.5", "QABOT_ANSWER_THRESHOLD: Input should be less than "
                                         "or equal to 1 (allowed: 0.0 to 1.0)"),
        ("QABOT_FAISS_INDEX", "annoy", "QABOT_FAISS_INDEX: Input should be 'auto', 'flat', "
                                       "'hnsw' or 'ivf' (allowed: auto, flat, hnsw, ivf)"),
        ("QABOT_DISCORD_ADMIN_IDS", "[1,", "QABOT_DISCORD_ADMIN_IDS: Value error, not a valid "
                                           "JSON list"),
        ("QABOT_MMAP", "perhaps", "QABOT_MMAP: Input should be a valid boolean"),
        ("QABOT_STORE", "qdrant", "QABOT_STORE: Input should be 'faiss' or 'milvus'"),
        ("QABOT_MILVUS_COLLECTION", "my-index", "QABOT_MILVUS_COLLECTION: String should match"),
        ("QABOT_DISCORD_SHARDS", "0,1", "QABOT_DISCORD_SHARDS: String should match"),
        ("QABOT_DISCORD_SHARDS", "4/4", "QABOT_DISCORD_SHARDS: Value error, a shard id must "
                                        "be below the shard count 4"),
        ("QABOT_DISCORD_SHARDS", "0", "QABOT_DISCORD_SHARDS: Value error, the shard count "
                                      "must be 1 to 10000"),
    ],
)
def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch, var: str, value: str,
                                      expected: str) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError) as err:
        load_settings(_env_file=None)
    assert str(err.value).startswith(f"invalid setting {expected}")
    assert "\n" not in str(err.value) and err.value.exit_code == 2


def test_env_example_documents_every_field() -> None:
    text = (ROOT / "index" / "data" / "env.example").read_text(encoding="utf-8")
    documented = set(re.findall(r"^#?\s*(QABOT_[A-Z_]+)=", text, flags=re.M))
    expected = {f"QABOT_{name.upper()}" for name in Settings.model_fields}
    assert documented == expected


def test_the_milvus_store_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    s = load_settings(_env_file=None, index_dir=tmp_path / "idx")
    assert s.store == "faiss" and s.milvus_target == str(tmp_path / "idx-milvus.db")
    monkeypatch.setenv("QABOT_STORE", "milvus")
    monkeypatch.setenv("QABOT_MILVUS_URI", " https://milvus.internal:19530 ")
    monkeypatch.setenv("QABOT_MILVUS_TOKEN", "root:hunter2-secret")
    monkeypatch.setenv("QABOT_MILVUS_COLLECTION", "")
    s = load_settings(_env_file=None)
    assert s.store == "milvus" and s.milvus_target == "https://milvus.internal:19530"
    assert s.milvus_collection is None
    assert s.milvus_token is not None and "hunter2" not in repr(s)
    assert "hunter2" not in str(s.model_dump())


@pytest.mark.parametrize(("value", "expected"), [
    ("", None), ("auto", (None, None)), ("4", (4, None)), (" 3, 1 / 4", (4, [1, 3])),
    ("0,0/1", (1, [0])),
])
def test_discord_shards(monkeypatch: pytest.MonkeyPatch, value: str, expected: object) -> None:
    monkeypatch.setenv("QABOT_DISCORD_SHARDS", value)
    assert load_settings(_env_file=None).shards == expected
