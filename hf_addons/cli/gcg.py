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
    p.add_argument(
        "--warm-start",
        type=int,
        default=0,
        metavar="K",
        help="also offer the best suffixes of the last K behaviours as starting points (0: always the init)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mellowmax", action="store_true", help="mellowmax loss instead of cross-entropy")
    p.add_argument("--no-early-stop", action="store_true", help="run all steps even after the target is hit")
    p.add_argument("--system", default=None, help="system prompt (default: the chat template's own)")
    p.add_argument(
        "--judge",
        default="strict",
        choices=["strict", "target", "refusal", "combined", "llm"],
        help="the judge behind 'success' (all of strict/target/refusal are reported anyway)",
    )
    p.add_argument(
        "--llm-judge",
        nargs="?",
        const="default",
        default=None,
        metavar="MODEL",
        help="also report a rubric-prompted LLM judge (default: the embedded model)",
    )
    p.add_argument("--max-new-tokens", type=int, default=64, help="reply length judged for success")
    p.add_argument("--universal", action="store_true", help="one suffix for all behaviours (progressive)")
    p.add_argument("--device", default=None, help="cpu / cuda (default: cuda when available)")
    p.set_defaults(func=_run)

    t = sub.add_parser(
        "safety-tune",
        help="LoRA-tune the default model to refuse harmful requests (a GCG testbed); saves it with a card",
    )
    t.add_argument("--out", required=True, help="folder for the merged model, its card and safety_tune.json")
    t.add_argument("--behaviors", default="../shared/data/advbench/harmful_behaviors_dev.csv")
    t.add_argument("--holdout", type=float, default=0.25, help="fraction of behaviours never trained on")
    t.add_argument("--dev", type=float, default=0.2, help="fraction of training behaviours kept as dev split")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--n-benign", type=int, default=400, help="benign training instructions")
    t.add_argument(
        "--n-benign-eval", type=int, default=100, help="benign instructions in held-out and in dev"
    )
    t.add_argument(
        "--n-contrast", type=int, default=150, help="benign instructions in the harmful goals' frames"
    )
    t.add_argument(
        "--refusal-repeats", type=int, default=2, help="refusal examples per harmful goal (a loss weight)"
    )
    t.add_argument(
        "--answer-repetition-penalty",
        type=float,
        default=1.3,
        help="repetition penalty for the base model's answers (0: plain greedy)",
    )
    t.add_argument(
        "--keep-bad-answers", action="store_true", help="train on degenerate/refusing base answers too"
    )
    t.add_argument(
        "--dev-only",
        action="store_true",
        help="evaluate on the dev split only (choosing a recipe: the held-out split stays unseen)",
    )
    t.add_argument("--epochs", type=float, default=2.0)
    t.add_argument("--learning-rate", type=float, default=1e-3)
    t.add_argument("--lora-r", type=int, default=16)
    t.add_argument("--lora-layers", type=int, default=10, help="adapt only the top N layers (0: all)")
    prec = t.add_mutually_exclusive_group()
    prec.add_argument(
        "--bf16",
        dest="bf16",
        action="store_const",
        const=True,
        help="train under bf16 autocast and generate in bf16 (default: only where the CPU has native bf16)",
    )
    prec.add_argument("--no-bf16", dest="bf16", action="store_const", const=False, help="float32 throughout")
    t.add_argument("--threads", type=int, default=None)
    t.add_argument(
        "--n-benign-answer-tokens", type=int, default=32, help="length of the base model's answers"
    )
    t.add_argument("--eval-tokens", type=int, default=32, help="reply length judged in the evaluation")
    t.add_argument("--skip-base-eval", action="store_true", help="do not evaluate the untuned model too")
    t.add_argument("--repo-id", default="hf-addons/smollm2-135m-safety-tuned", help="for the push plan")
    t.set_defaults(func=_safety_tune)

    e = sub.add_parser(
        "safety-eval",
        help="evaluate a --dev-only safety-tuned model on its held-out split (once, after choosing on dev)",
    )
    e.add_argument("--model-dir", required=True, help="the folder safety-tune --dev-only wrote")
    e.set_defaults(func=_safety_eval)


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


def _judges(args: argparse.Namespace) -> dict:
    from hf_addons.redteam.judge import REPORTED_JUDGES, LLMJudge

    judges: dict = {name: name for name in REPORTED_JUDGES}
    if args.judge not in judges and args.judge != "llm":
        judges[args.judge] = args.judge
    if args.llm_judge or args.judge == "llm":
        if args.llm_judge in (None, "default"):
            judges["llm"] = LLMJudge()
        else:
            from hf_addons.models import load_model

            judges["llm"] = LLMJudge(*load_model(args.llm_judge, device=args.device))
    return judges


def _run(args: argparse.Namespace) -> int:
    from hf_addons.models import load_model
    from hf_addons.redteam import GCG, GCGConfig, load_behaviors, run_universal
    from hf_addons.redteam.judge import build_messages, generate_responses, judge_all

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
        warm_start=args.warm_start,
        use_mellowmax=args.mellowmax,
        early_stop=not args.no_early_stop,
        seed=args.seed,
    )
    model, tokenizer = load_model(args.model, device=args.device)
    judges = _judges(args)
    gcg = GCG(model, tokenizer, config)
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = {k: v for k, v in config.to_dict().items() if k not in ("memory_budget",)}
    wins: dict[str, int] = dict.fromkeys(judges, 0)
    base_wins: dict[str, int] = dict.fromkeys(judges, 0)

    def judged(goal_targets: list[tuple[str, str]], suffix: str) -> tuple[list[dict], list[dict]]:
        """Replies with the suffix and without any, each with every judge's verdict."""
        goals = [g for g, _ in goal_targets]
        targets = [t for _, t in goal_targets]
        convs = [build_messages(g, suffix, args.system) for g in goals]
        convs += [build_messages(g, "", args.system) for g in goals]
        replies = generate_responses(model, tokenizer, convs, args.max_new_tokens)
        att, base = replies[: len(goals)], replies[len(goals) :]
        va, vb = judge_all(goals, att, targets, judges), judge_all(goals, base, targets, judges)
        return (
            [{"response": r, "judges": {k: v[i] for k, v in va.items()}} for i, r in enumerate(att)],
            [{"response": r, "judges": {k: v[i] for k, v in vb.items()}} for i, r in enumerate(base)],
        )

    with out.open("a", encoding="utf-8") as f:

        def write(row: dict) -> None:
            f.write(json.dumps({**row, "model": args.model or "default", "config": settings}) + "\n")
            f.flush()
            for k in judges:
                wins[k] += row["judges"][k]
                base_wins[k] += row["baseline"]["judges"][k]

        try:
            if args.universal:
                res = run_universal(gcg, todo, system=args.system)
                attacked, baseline = judged(todo, res.best_string)
                for (goal, target), a, b in zip(todo, attacked, baseline):
                    write(_row(goal, target, res, a, b, args.judge, universal=True))
            else:
                for i, (goal, target) in enumerate(todo, 1):
                    res = gcg.run(build_messages(goal, "{optim_str}", args.system), target)
                    (a,), (b,) = judged([(goal, target)], res.best_string)
                    write(_row(goal, target, res, a, b, args.judge))
                    verdicts = " ".join(f"{k}={int(v)}" for k, v in a["judges"].items())
                    print(
                        f"gcg: [{i}/{len(todo)}] {verdicts} (no suffix: "
                        + " ".join(f"{k}={int(v)}" for k, v in b["judges"].items())
                        + f") loss={res.best_loss:.3f} steps={len(res.losses)} ({res.seconds:.1f}s)",
                        file=sys.stderr,
                    )
        except KeyboardInterrupt:
            print(f"gcg: interrupted; finished behaviours are in {out} (rerun to resume)", file=sys.stderr)
            return 130
    n = len(todo)
    for k in judges:
        mark = " (success)" if k == args.judge else ""
        print(
            f"gcg: {k:8s} attack success {wins[k]}/{n}, baseline (no suffix) {base_wins[k]}/{n}{mark}",
            file=sys.stderr,
        )
    print(f"gcg: results in {out}", file=sys.stderr)
    return 0


# the rates of a safety-tune evaluation that both commands print
_RATE_KEYS = ("harmful_refusal_rate", "benign_answer_rate", "no_suffix_attack_success")


def _safety_tune(args: argparse.Namespace) -> int:
    from hf_addons.hub import push_to_hub
    from hf_addons.redteam.safety_tune import SafetyTuneConfig, safety_tune

    cfg = SafetyTuneConfig(
        behaviors=args.behaviors,
        holdout=args.holdout,
        dev=args.dev,
        seed=args.seed,
        n_benign=args.n_benign,
        n_benign_eval=args.n_benign_eval,
        n_contrast=args.n_contrast,
        refusal_repeats=args.refusal_repeats,
        answer_repetition_penalty=args.answer_repetition_penalty or None,
        drop_bad_answers=not args.keep_bad_answers,
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        lora_r=args.lora_r,
        bf16=args.bf16,
        generate_dtype="auto" if args.bf16 is None else ("bfloat16" if args.bf16 else None),
        threads=args.threads,
        answer_tokens=args.n_benign_answer_tokens,
        lora_layers=args.lora_layers or None,
        answers_cache=str(Path(args.out) / "benign_answers.json"),
        eval_tokens=args.eval_tokens,
    )
    tuned = safety_tune(
        cfg,
        evaluate_base=not args.skip_base_eval,
        evaluate_held_out=not args.dev_only,
        log=lambda m: print(f"safety-tune: {m}", file=sys.stderr, flush=True),
    )
    tuned.save_pretrained(args.out)
    plan = push_to_hub(tuned, args.repo_id, dry_run=True)
    sizes = {k: len(v) for k, v in sorted(plan.items())}
    (Path(args.out) / "push_plan.json").write_text(
        json.dumps({"repo_id": args.repo_id, "files": sizes}, indent=1)
    )
    rates = {
        split: {k: ev[k] for k in _RATE_KEYS}
        for split, ev in (("dev", tuned.record["dev_eval"]), ("held_out", tuned.record.get("eval")))
        if ev is not None
    }
    print(
        json.dumps(
            {
                "out": args.out,
                **rates,
                "train_seconds": tuned.record["train_seconds"],
                "train_cpu_seconds": tuned.record["train_cpu_seconds"],
                "load_average": tuned.record["load_average"],
                "push_plan": sizes,
            },
            indent=1,
        )
    )
    return 0


def _safety_eval(args: argparse.Namespace) -> int:
    from hf_addons.redteam.safety_tune import evaluate_held_out

    tuned = evaluate_held_out(args.model_dir, log=lambda m: print(f"safety-eval: {m}", file=sys.stderr))
    ev = tuned.record["eval"]
    print(json.dumps({"model_dir": args.model_dir, "held_out": {k: ev[k] for k in _RATE_KEYS}}, indent=1))
    return 0


def _row(goal: str, target: str, res, attacked: dict, baseline: dict, judge: str, universal: bool = False):
    return {
        "goal": goal,
        "target": target,
        "suffix": res.best_string,
        "success": bool(attacked["judges"].get(judge, False)),
        "judge": judge,
        "judges": attacked["judges"],
        "response": attacked["response"],
        "baseline": baseline,
        "target_match": res.success,
        "steps_to_success": res.steps_to_success,
        "best_loss": res.best_loss,
        "losses": res.losses,
        "seconds": round(res.seconds, 3),
        "universal": universal,
    }
