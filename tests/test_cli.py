"""The `crm` command's arguments reach the functions they configure."""

from __future__ import annotations

from crm import cli


def test_identity_evaluate_forwards_its_options(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setattr("crm.identity.evaluate.main", lambda argv: seen.setdefault("argv", argv))
    monkeypatch.setenv("CRM_HOME", str(tmp_path))
    cli.main(
        [
            "identity",
            "evaluate",
            "--warehouse",
            "w.duckdb",
            "--truth",
            "t.parquet",
            "--threshold",
            "0.9",
            "--threshold",
            "0.99",
        ]
    )
    assert seen["argv"] == [
        "--warehouse",
        "w.duckdb",
        "--truth",
        "t.parquet",
        "--threshold",
        "0.9",
        "--threshold",
        "0.99",
    ]


def test_identity_train_defaults_to_the_restricted_output(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setattr("crm.identity.train.main", lambda argv: seen.setdefault("argv", argv) and 0)
    monkeypatch.setenv("CRM_HOME", str(tmp_path))
    monkeypatch.delenv("CRM_WAREHOUSE", raising=False)
    monkeypatch.delenv("CRM_RESTRICTED", raising=False)
    # without a built warehouse there is nothing to learn from: a clear refusal
    assert cli.main(["identity", "train", "--seed", "7"]) == 2
    assert "argv" not in seen
    # it trains on normalised contacts: personal data, only in the restricted output;
    # the model goes to the warehouse's own folder, not into the installed package
    restricted = tmp_path / "restricted" / "crm_restricted.duckdb"
    restricted.parent.mkdir()
    restricted.touch()
    cli.main(["identity", "train", "--seed", "7"])
    model_dir = tmp_path / "identity" / "model"
    assert seen["argv"] == [
        "--warehouse",
        str(restricted),
        "--seed",
        "7",
        "--out",
        str(model_dir),
    ]
