"""``hf-addons spaces build NAME --out DIR``: a self-contained Space folder, ready to push or run."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="spaces_command", metavar="ACTION")
    b = sub.add_parser(
        "build",
        help="write a deployable Space folder: app, README header, requirements.txt and the hf-addons wheel",
    )
    b.add_argument("name", help="Space under spaces/ (e.g. watermark, watermark-metric, combined)")
    b.add_argument("--out", required=True, help="folder to write (created; existing files are overwritten)")
    b.add_argument("--wheel", help="an hf-addons wheel to ship (default: built from this checkout)")
    b.add_argument(
        "--torch-index",
        default=None,
        help="index for CPU torch in requirements.txt (default: PyTorch's CPU index; 'none': PyPI's torch)",
    )
    b.add_argument("--spaces-dir", help="folder holding the Spaces (default: the checkout's spaces/)")
    b.set_defaults(func=_build)
    ls = sub.add_parser("list", help="the Spaces that can be built")
    ls.add_argument("--spaces-dir", help="folder holding the Spaces (default: the checkout's spaces/)")
    ls.set_defaults(func=_list)


def _root(args: argparse.Namespace):
    from pathlib import Path

    from hf_addons.hub import REPO_ROOT

    return Path(args.spaces_dir) if args.spaces_dir else REPO_ROOT / "spaces"


def _list(args: argparse.Namespace) -> int:
    for app in sorted(_root(args).glob("*/app.py")):
        print(app.parent.name)
    return 0


def _build(args: argparse.Namespace) -> int:
    from hf_addons.hub import SPACE_TORCH_INDEX, SpaceFolder, upload_files

    space = SpaceFolder(args.name, _root(args))
    index = SPACE_TORCH_INDEX if args.torch_index is None else args.torch_index
    folder = space.stage(args.out, wheel=args.wheel, torch_index=None if index.lower() == "none" else index)
    files = upload_files(folder)
    print(f"Space {args.name!r} written to {folder} ({len(files)} files):")
    for rel in files:
        print(f"  {rel}")
    print(f"run it: cd {folder} && pip install -r requirements.txt && python app.py")
    return 0
