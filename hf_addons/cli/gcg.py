"""``hf-addons gcg run``: attack each behaviour of a CSV with GCG, one JSONL row per finished behaviour.

Rows are written and flushed as each behaviour finishes, and a rerun with the same ``--out`` skips the goals
already there, so an interrupted run keeps (and resumes after) its finished behaviours.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="gcg_command", metavar="ACTION")
    p = sub.add_parser("run", help="attack behaviours from a CSV (goal,target) and write a JSONL of results")
    p.add_argument("--model", default=None, help="Hub id or local path (default: the embedded SmolLM2-135M)")
    p.add_argument("--behaviors", required=True, help="CSV with goal,target columns (AdvBench format)")
    p.add_argument(
        "--out", required=True, help="JSONL output; existing rows are kept and their goals skipped"
    )
    p.add_argument("--limit", type=int, default=None, help="attack at most this many behaviours")
    p.add_argument("--offset", type=int, default=0, help="skip this many behaviours first")
    p.add_argument("--steps", type=int, default=250)
    p.add_argument("--search-width", type=int, default=512)
    p.add_argument("--topk", type=int, default=256)
    p.add_argument("--n-replace", type=int, default=1)
    p.add_argument(
        "--batch-size", type=int, default=None, help="candidates per forward (default: fit memory)"
    )
    p.add_argument("--buffer-size", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mellowmax", action="store_true", help="mellowmax loss instead of cross-entropy")
    p.add_argument("--no-early-stop", action="store_true", help="run all steps even after the target is hit")
    p.add_argument("--system", default=None, help="system prompt (default: the chat template's own)")
    p.add_argument("--judge", default="refusal", choices=["refusal", "target", "combined"])
    p.add_argument("--max-new-tokens", type=int, default=32, help="reply length judged for success")
    p.add_argument("--universal", action="store_true", help="one suffix for all behaviours (progressive)")
    p.add_argument("--device", default=None, help="cpu / cuda (default: cuda when available)")
    p.set_defaults(func=_run)


def _done_goals(out: Path) -> set[str]:
    if not out.exists():
        return set()
    done = set()
    for i, line in enumerate(out.read_text(encoding="utf-8").splitlines()):
        if line.strip():
            try:
                done.add(json.loads(line)["goal"])
            except (json.JSONDecodeError, KeyError):
                raise ValueError(f"{out}:{i + 1}: not a gcg result row; choose another --out") from None
    return done


def _run(args: argparse.Namespace) -> int:
    from hf_addons.models import load_model
    from hf_addons.redteam import GCG, GCGConfig, evaluate_suffix, load_behaviors, run_universal
    from hf_addons.redteam.judge import build_messages

    behaviors = load_behaviors(args.behaviors, args.limit, args.offset)
    out = Path(args.out)
    done = _done_goals(out)
    todo = [(g, t) for g, t in behaviors if g not in done]
    if done:
        print(
            f"gcg: {len(behaviors) - len(todo)} behaviours already in {out}, {len(todo)} to go",
            file=sys.stderr,
        )
    if not todo:
        return 0
    config = GCGConfig(
        num_steps=args.steps,
        search_width=args.search_width,
        topk=args.topk,
        n_replace=args.n_replace,
        batch_size=args.batch_size,
        buffer_size=args.buffer_size,
        use_mellowmax=args.mellowmax,
        early_stop=not args.no_early_stop,
        seed=args.seed,
    )
    model, tokenizer = load_model(args.model, device=args.device)
    gcg = GCG(model, tokenizer, config)
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = {k: v for k, v in config.to_dict().items() if k not in ("memory_budget",)}
    with out.open("a", encoding="utf-8") as f:

        def write(row: dict) -> None:
            f.write(json.dumps({**row, "model": args.model or "default", "config": settings}) + "\n")
            f.flush()

        try:
            if args.universal:
                res = run_universal(gcg, todo, system=args.system)
                ev = evaluate_suffix(
                    model, tokenizer, res.best_string, todo, args.judge, args.max_new_tokens, args.system
                )
                for (goal, target), ok, reply in zip(todo, ev["success"], ev["responses"]):
                    write(_row(goal, target, res, ok, reply, universal=True))
                print(f"gcg: universal suffix ASR {ev['asr']:.2f} on {len(todo)} behaviours", file=sys.stderr)
                return 0
            wins = 0
            for i, (goal, target) in enumerate(todo, 1):
                res = gcg.run(build_messages(goal, "{optim_str}", args.system), target)
                ev = evaluate_suffix(
                    model,
                    tokenizer,
                    res.best_string,
                    [(goal, target)],
                    args.judge,
                    args.max_new_tokens,
                    args.system,
                )
                wins += ev["success"][0]
                write(_row(goal, target, res, ev["success"][0], ev["responses"][0]))
                print(
                    f"gcg: [{i}/{len(todo)}] success={ev['success'][0]} loss={res.best_loss:.3f} "
                    f"steps={len(res.losses)} ({res.seconds:.1f}s)",
                    file=sys.stderr,
                )
            print(f"gcg: attack success {wins}/{len(todo)}; results in {out}", file=sys.stderr)
        except KeyboardInterrupt:
            print(f"gcg: interrupted; finished behaviours are in {out} (rerun to resume)", file=sys.stderr)
            return 130
    return 0


def _row(goal: str, target: str, res, success: bool, reply: str, universal: bool = False) -> dict:
    return {
        "goal": goal,
        "target": target,
        "suffix": res.best_string,
        "success": bool(success),
        "target_match": res.success,
        "steps_to_success": res.steps_to_success,
        "best_loss": res.best_loss,
        "losses": res.losses,
        "response": reply,
        "seconds": round(res.seconds, 3),
        "universal": universal,
    }
