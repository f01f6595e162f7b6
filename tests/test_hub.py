"""Push/load round-trips for every artifact, offline: the exact files and card text a push would upload."""

from __future__ import annotations

import json

import pytest

from hf_addons import hub


# --- generic -------------------------------------------------------------------------------------------------
def test_upload_files_applies_upload_folder_ignore_rules(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref")
    (tmp_path / ".cache" / "huggingface").mkdir(parents=True)
    (tmp_path / ".cache" / "huggingface" / "x.lock").write_text("")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.json").write_text("{}")
    (tmp_path / "README.md").write_text("hi")
    assert hub.upload_files(tmp_path) == ["README.md", "sub/a.json"]


def test_push_rejects_unknown_objects_and_bad_repo_ids():
    with pytest.raises(TypeError, match="don't know how to push a int"):
        hub.push_plan(3)
    with pytest.raises(ValueError, match="repo_id must look like"):
        hub.push_to_hub(object(), "a/b/c", dry_run=True)


def test_render_card_names_available_templates():
    with pytest.raises(FileNotFoundError, match="available: .*dataset"):
        hub.render_card("no-such-card")


# --- WatermarkConfig -----------------------------------------------------------------------------------------
@pytest.fixture
def wm_config():
    watermark = pytest.importorskip("hf_addons.watermark")
    return watermark.WatermarkConfig(
        gamma=0.3, delta=2.5, seeding_scheme="selfhash", context_width=4, hashing_key=987654321987
    )


def test_watermark_config_push_withholds_key(wm_config, tmp_path):
    from hf_addons.watermark import WatermarkConfig
    from hf_addons.watermark.config import MissingKeyError

    plan = hub.push_to_hub(wm_config, "me/wm-config", dry_run=True)
    assert sorted(plan) == ["README.md", "watermark_config.json"]
    for content in plan.values():
        assert b"987654321987" not in content
    saved = json.loads(plan["watermark_config.json"])
    assert saved["hashing_key"] is None and saved["gamma"] == 0.3 and saved["seeding_scheme"] == "selfhash"
    card = plan["README.md"].decode()
    assert card.startswith("---\n") and "selfhash" in card

    loaded = WatermarkConfig.from_pretrained(hub.write_plan(plan, tmp_path))
    with pytest.raises(MissingKeyError):
        loaded.key  # noqa: B018
    with_key = WatermarkConfig.from_pretrained(tmp_path, hashing_key=987654321987)
    assert with_key == wm_config


def test_watermark_config_push_with_key_round_trips(wm_config, tmp_path):
    from hf_addons.watermark import WatermarkConfig

    plan = hub.push_plan(wm_config, include_key=True)
    assert json.loads(plan["watermark_config.json"])["hashing_key"] == 987654321987
    assert b"987654321987" not in plan["README.md"]  # the card never shows it
    assert WatermarkConfig.from_pretrained(hub.write_plan(plan, tmp_path)) == wm_config


def _capture_uploads(monkeypatch):
    """Intercept the two network calls of a push; record the folder content ``upload_folder`` was given."""
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import RepoUrl

    captured: dict = {}

    def create_repo(self, repo_id, **kwargs):
        captured["create_repo"] = {"repo_id": repo_id, **kwargs}
        return RepoUrl(f"https://huggingface.co/{repo_id}")

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        captured["upload_folder"] = {"repo_id": repo_id, **kwargs}
        captured["files"] = {
            rel: (folder_path and open(f"{folder_path}/{rel}", "rb").read())
            for rel in hub.upload_files(folder_path)
        }
        return "uploaded"

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    return captured


def test_watermark_config_own_push_uploads_the_plan(wm_config, monkeypatch):
    captured = _capture_uploads(monkeypatch)
    assert wm_config.push_to_hub("me/wm-config") == "uploaded"
    assert captured["files"] == hub.push_plan(wm_config, repo_id="me/wm-config")


# --- SparseAutoencoder ---------------------------------------------------------------------------------------
@pytest.fixture
def tiny_sae():
    interp = pytest.importorskip("hf_addons.interp")
    import torch

    cfg = interp.SAEConfig(
        d_in=16,
        d_sae=64,
        architecture="topk",
        k=4,
        model_name="SmolLM2-135M-Instruct",
        layer=3,
        hook_point="resid_post",
        hook_name="model.layers.3",
        tokens_trained=12345,
        metrics={"l0": 4.0, "fvu": 0.125, "dead_fraction": 0.25},
    )
    torch.manual_seed(0)
    return interp.SparseAutoencoder(cfg).eval()


def test_sae_push_plan_and_round_trip(tiny_sae, tmp_path):
    import torch
    from transformers import AutoModel

    from hf_addons.interp import SparseAutoencoder

    plan = hub.push_to_hub(tiny_sae, "me/sae", dry_run=True)
    assert {"README.md", "config.json", "model.safetensors"} <= set(plan)
    card = plan["README.md"].decode()
    for expected in ("SmolLM2-135M-Instruct", "layer 3", "resid_post", "12345", "0.125", "25"):
        assert expected in card, expected
    assert json.loads(plan["config.json"])["model_type"] == "hf_addons_sae"

    folder = hub.write_plan(plan, tmp_path)
    x = torch.randn(5, 16)
    for loaded in (SparseAutoencoder.from_pretrained(folder), AutoModel.from_pretrained(folder)):
        assert isinstance(loaded, SparseAutoencoder)
        assert loaded.config.layer == 3 and loaded.config.metrics["fvu"] == 0.125
        for (name, a), (_, b) in zip(tiny_sae.state_dict().items(), loaded.state_dict().items()):
            assert torch.equal(a, b), name
        torch.testing.assert_close(loaded.encode(x), tiny_sae.encode(x))


def test_sae_own_push_uploads_the_plan(tiny_sae, monkeypatch):
    captured = _capture_uploads(monkeypatch)
    tiny_sae.push_to_hub("me/sae")
    assert sorted(captured["files"]) == sorted(hub.push_plan(tiny_sae))
    assert captured["files"]["README.md"] == hub.push_plan(tiny_sae)["README.md"]


# --- processed datasets --------------------------------------------------------------------------------------
REPORT = {
    "rows_in": 4,
    "rows_out": 3,
    "steps": [
        {"name": "html_to_markdown", "rows": 4, "errors": 0},
        {"name": "gopher_quality", "removed": 1, "reasons": {"gopher:mean_word_length": 1}},
        {"name": "pii", "redacted": {"EMAIL_ADDRESS": 2}},
    ],
}


@pytest.fixture
def processed():
    from datasets import Dataset

    return Dataset.from_dict(
        {"text": ["# One\nbody", "two [EMAIL]", "three"], "url": ["u1", "u2", "u3"], "pii_count": [0, 1, 0]}
    )


def test_dataset_push_plan_records_pipeline_report(processed, tmp_path):
    from huggingface_hub import DatasetCard

    plan = hub.push_to_hub(
        processed, "me/clean-web", dry_run=True, report=REPORT, source="CC-MAIN-2024-10", license="odc-by"
    )
    assert sorted(plan) == ["README.md", "data/train-00000-of-00001.parquet", "pipeline_report.json"]
    assert json.loads(plan["pipeline_report.json"]) == REPORT
    card = DatasetCard(plan["README.md"].decode())
    assert card.data.license == "odc-by" and card.data.size_categories == ["n<1K"]
    assert card.data.configs[0]["data_files"][0]["path"] == "data/train-00000-of-00001.parquet"
    text = card.text
    assert '| gopher_quality | removed: 1, reasons: {"gopher:mean_word_length": 1} |' in text
    assert '| pii | redacted: {"EMAIL_ADDRESS": 2} |' in text
    assert "CC-MAIN-2024-10" in text and "3 rows in total" in text and "`pii_count`" in text

    loaded, report = hub.load_processed_dataset(hub.write_plan(plan, tmp_path))
    assert report == REPORT
    assert loaded.to_dict() == processed.to_dict()


def test_dataset_dict_push_round_trips_every_split(processed, tmp_path):
    from datasets import DatasetDict, load_dataset

    dd = DatasetDict(train=processed, validation=processed.select([0]))
    plan = hub.push_plan(dd)
    assert sorted(plan) == [
        "README.md",
        "data/train-00000-of-00001.parquet",
        "data/validation-00000-of-00001.parquet",
    ]
    assert "No pipeline report was recorded" in plan["README.md"].decode()
    loaded = load_dataset(str(hub.write_plan(plan, tmp_path)))
    assert {k: len(v) for k, v in loaded.items()} == {"train": 3, "validation": 1}
    assert loaded["validation"]["text"] == ["# One\nbody"]


def test_dataset_report_object_with_to_dict(processed):
    class Report:
        def to_dict(self):
            return {"steps": {"dedup": {"removed": 2}}}

    plan = hub.push_plan(processed, report=Report())
    assert "| dedup | removed: 2 |" in plan["README.md"].decode()
    with pytest.raises(TypeError, match="report must be a dict"):
        hub.push_plan(processed, report=[1, 2])


# --- educational-quality classifier --------------------------------------------------------------------------
def test_edu_classifier_push_plan_and_round_trip(tmp_path):
    edu = pytest.importorskip("hf_addons.data.scoring.edu")
    import numpy as np
    import torch
    from transformers import AutoModel

    torch.manual_seed(0)
    agreement = {"n": 40, "exact": 0.55, "within_1": 0.95, "mae": 0.61, "spearman": 0.72, "binary_f1": 0.68}
    cfg = edu.EduClassifierConfig(
        embedding_dim=8, hidden_dim=4, embedder="minilm", threshold=2.5, agreement=agreement
    )
    clf = edu.EduClassifier(cfg).eval()
    plan = hub.push_to_hub(clf, "me/edu", dry_run=True)
    assert {"README.md", "config.json", "model.safetensors"} <= set(plan)
    card = plan["README.md"].decode()
    assert card.startswith("---\n") and "minilm" in card and "2.5" in card
    saved = json.loads(plan["config.json"])
    assert saved["model_type"] == "hf_addons_edu_classifier" and saved["agreement"]["spearman"] == 0.72

    folder = hub.write_plan(plan, tmp_path)
    x = np.random.default_rng(0).normal(size=(6, 8)).astype(np.float32)
    for loaded in (edu.EduClassifier.from_pretrained(folder), AutoModel.from_pretrained(folder)):
        assert isinstance(loaded, edu.EduClassifier) and loaded.config.threshold == 2.5
        np.testing.assert_allclose(loaded.predict(x), clf.predict(x), rtol=0, atol=0)


def test_pipeline_run_output_pushes_with_its_report(tmp_path):
    pytest.importorskip("hf_addons.data.executors.pipeline")
    from datasets import Dataset

    from hf_addons.data.executors.pipeline import Pipeline
    from hf_addons.data.filters.quality import GopherQualityFilter

    good = "The pools are home to anemones, barnacles, crabs and small fish that live there. " * 8
    ds = Dataset.from_dict({"text": [good, "too short", good + " More text."]})
    Pipeline([GopherQualityFilter()]).run(ds, tmp_path / "out")
    kept, report = hub.load_pipeline_output(tmp_path / "out")
    assert len(kept) == 2 and report["input_rows"] == 3 and report["output_rows"] == 2
    plan = hub.push_plan(kept, report=report, license="cc-by-4.0")
    card = plan["README.md"].decode()
    assert "| gopher_quality | " in card and "removed: 1" in card and "gopher_short_doc" in card
    assert json.loads(plan["pipeline_report.json"]) == report and "output" not in report
    with pytest.raises(FileNotFoundError, match="no report.json"):
        hub.load_pipeline_output(tmp_path)
    with pytest.raises(TypeError, match="card fields apply to datasets only"):
        hub.push_plan(hub.space_folder("watermark"), license="mit")


# --- dry runs with the network blocked -----------------------------------------------------------------------
@pytest.fixture
def no_network(monkeypatch):
    """Any connection attempt or repo creation fails the test: a dry run must touch neither.

    Threads that were already running when the test began (Ray Data's metrics poller, started by an
    earlier test, polls Prometheus every 10 s for the life of the process) are not the dry run's doing,
    so their calls pass through to the real functions; the test's thread and any thread it starts are
    refused.
    """
    import socket
    import threading

    from huggingface_hub import HfApi

    calls: list[str] = []
    bystanders = set(threading.enumerate()) - {threading.current_thread()}  # objects: idents get reused

    def refuse(name, real):
        def fn(*args, **kwargs):
            if threading.current_thread() in bystanders:
                return real(*args, **kwargs)
            calls.append(name)
            raise AssertionError(f"dry run called {name}")

        return fn

    monkeypatch.setattr(socket.socket, "connect", refuse("socket.connect", socket.socket.connect))
    monkeypatch.setattr(
        socket, "create_connection", refuse("socket.create_connection", socket.create_connection)
    )
    monkeypatch.setattr(socket, "getaddrinfo", refuse("socket.getaddrinfo", socket.getaddrinfo))
    for name in ("create_repo", "upload_folder", "upload_file", "create_commit", "whoami"):
        monkeypatch.setattr(HfApi, name, refuse(f"HfApi.{name}", getattr(HfApi, name)))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return calls


def test_every_pushable_object_dry_runs_offline(no_network, tiny_sae, wm_config, processed):
    interp = pytest.importorskip("hf_addons.interp")
    space = hub.space_folder("watermark")
    own = {
        "SparseAutoencoder": tiny_sae,
        "SAEConfig": tiny_sae.config,
        "WatermarkConfig": wm_config,
        "SpaceFolder": space,
    }
    for name, obj in own.items():
        plan = obj.push_to_hub("me/thing", dry_run=True)
        assert plan == hub.push_plan(obj, repo_id="me/thing"), name
        assert plan and all(isinstance(v, bytes) for v in plan.values()), name
    assert {"README.md", "config.json", "model.safetensors"} <= set(
        own["SparseAutoencoder"].push_to_hub("a/b", dry_run=True)
    )
    cfg_plan = tiny_sae.config.push_to_hub("me/cfg", dry_run=True)
    assert set(cfg_plan) == {"config.json"}
    assert interp.SAEConfig.from_dict(json.loads(cfg_plan["config.json"])).layer == 3
    # objects without their own push_to_hub go through hub.push_to_hub
    assert "README.md" in hub.push_to_hub(processed, "me/data", dry_run=True)
    assert no_network == []


def test_blocked_network_really_blocks(no_network, tiny_sae):
    """The guard is live: a real push (no dry run) reaches create_repo and is stopped there."""
    with pytest.raises(AssertionError, match="HfApi.create_repo"):
        tiny_sae.push_to_hub("me/sae")
    assert no_network == ["HfApi.create_repo"]


@pytest.fixture
def bystander_thread():
    """A thread already running before the guard goes up, like Ray Data's metrics poller."""
    import socket
    import threading

    go, done, seen = threading.Event(), threading.Event(), []

    def run():
        go.wait(10)
        try:
            seen.append(socket.getaddrinfo("127.0.0.1", 80)[0][4][0])
        except Exception as e:  # noqa: BLE001 - recorded for the assertion
            seen.append(repr(e))
        done.set()

    threading.Thread(target=run, daemon=True).start()
    yield go, done, seen


def test_guard_blames_the_test_not_bystander_threads(bystander_thread, no_network):
    """A thread that predates the test passes through; a thread the test starts is refused."""
    import socket
    import threading

    go, done, seen = bystander_thread
    go.set()
    assert done.wait(10) and seen == ["127.0.0.1"]
    spawned: list[str] = []

    def call():
        try:
            socket.getaddrinfo("example.org", 443)
        except AssertionError as e:
            spawned.append(str(e))

    t = threading.Thread(target=call)
    t.start()
    t.join(10)
    assert spawned == ["dry run called socket.getaddrinfo"] and no_network == ["socket.getaddrinfo"]
