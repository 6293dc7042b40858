"""Settings from the environment: lists as commas or JSON, and errors that name the variable."""

from __future__ import annotations

import pytest

from qa.config import Settings, get_settings, threshold_warning
from qa.errors import QAError


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://a.example", ["https://a.example"]),
        ("https://a.example, https://b.example,", ["https://a.example", "https://b.example"]),
        ('["https://a.example", "https://b.example"]', ["https://a.example", "https://b.example"]),
        ("", []),
    ],
)
def test_cors_origins_read_as_commas_or_json(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: list[str]
) -> None:
    monkeypatch.setenv("QA_CORS_ORIGINS", value)
    assert get_settings().cors_origins == expected


def test_a_bad_list_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_CORS_ORIGINS", '["unclosed')
    with pytest.raises(QAError, match="QA_CORS_ORIGINS"):
        get_settings()


def test_the_api_key_is_a_secret_that_never_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_API_KEY", "s3cret-value")
    settings = get_settings()
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == "s3cret-value"
    assert "s3cret-value" not in repr(settings) and "s3cret-value" not in str(settings)


def test_another_model_with_the_default_threshold_is_warned_about(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert threshold_warning(Settings()) is None
    monkeypatch.setenv("QA_MODEL", "/models/e5-small")
    warning = threshold_warning(Settings())
    assert warning is not None
    assert "/models/e5-small" in warning and "qa eval" in warning
    monkeypatch.setenv("QA_MIN_SCORE", "0.8")  # chosen for that model: nothing to say
    assert threshold_warning(Settings()) is None
