"""SmolLM2-135M-Instruct as a base model: load time, sampling speed, LoRA step time, and what
generation 0 solves on small Blocksworld tasks with a few-shot PDDL prompt.

Run (about 13 minutes on the 2-core development machine, one thread):

    OMP_NUM_THREADS=1 python benchmarks/smollm2_gen0.py --markdown

Every number comes from this script; docs/models.md quotes its output. Tasks are drawn with
``generate_tasks("blocksworld", {"n_blocks": k}, seed=SEED, n=...)``; the few-shot examples are
the format's own (3-block tasks with optimal plans, their own seed), never one of the tasks.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import torch

from iterdeploy.simulator.models.hf_planner import TrainConfig
from iterdeploy.simulator.models.llm_planner import LlmPlanner
from iterdeploy.simulator.models.pddl_format import PddlPromptFormat, render_pddl_completion
from iterdeploy.simulator.models.registry import load_planner
from iterdeploy.simulator.models.training import Example
from iterdeploy.simulator.planning import generate_tasks, validate_plan


def progress(message: str) -> None:
    """A progress line on stderr (the report goes to stdout)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument("--tasks-per-size", type=int, default=20)
    parser.add_argument("--samples", type=int, default=2, help="samples per task at temperature 1.0")
    parser.add_argument("--shots", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    report: dict[str, object] = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                   f"torch threads {torch.get_num_threads()}",
        "args": vars(args),
    }

    # -- load ----------------------------------------------------------------------------------
    t0 = time.perf_counter()
    planner = load_planner("smollm2-135m")
    assert isinstance(planner, LlmPlanner)
    planner.batch_size = args.batch_size
    tok = planner.tokenizer
    t_tok = time.perf_counter() - t0
    model = planner.model
    report["load_s"] = round(time.perf_counter() - t0, 1)
    report["tokenizer_load_s"] = round(t_tok, 1)
    progress(f"loaded in {report['load_s']} s")
    report["n_params_m"] = round(sum(p.numel() for p in model.parameters()) / 1e6, 1)
    fmt = PddlPromptFormat(tok, n_shots=args.shots)

    tasks = {k: list(generate_tasks("blocksworld", {"n_blocks": k}, seed=args.seed, n=args.tasks_per_size))
             for k in args.sizes}
    prompts = {k: [fmt.prompt("blocksworld", g.problem_pddl, task=g.task) for g in ts]
               for k, ts in tasks.items()}
    lengths = [len(planner._encode_prompt(p)) for ps in prompts.values() for p in ps]
    report["prompt_tokens"] = {"min": min(lengths), "max": max(lengths)}

    # -- sampling speed: one batch of 3-block prompts, greedy and at temperature 1.0 ------------
    speed_size = 3 if 3 in prompts else args.sizes[0]
    batch = prompts[speed_size][: args.batch_size]
    for label, temp in (("greedy", 0.0), ("t1", 1.0)):
        t0 = time.perf_counter()
        out = planner.sample(batch, n=1, temperature=temp, max_new_tokens=args.max_new_tokens,
                             seed=args.seed)
        dt = time.perf_counter() - t0
        n_new = sum(c.n_tokens for cs in out for c in cs)
        report[f"sampling_{label}"] = {
            "batch": len(batch), "new_tokens": n_new, "wall_s": round(dt, 1),
            "tokens_per_s": round(n_new / dt, 1),
            "hit_limit": sum(c.hit_token_limit for cs in out for c in cs),
        }
    planner.disable_prefix_cache = True
    t0 = time.perf_counter()
    out = planner.sample(batch, n=1, temperature=0.0, max_new_tokens=args.max_new_tokens,
                         seed=args.seed)
    dt = time.perf_counter() - t0
    n_new = sum(c.n_tokens for cs in out for c in cs)
    report["sampling_greedy_no_prefix_cache"] = {"wall_s": round(dt, 1), "tokens_per_s": round(n_new / dt, 1)}
    planner.disable_prefix_cache = False

    # -- pure decoding speed: a short prompt, exactly 64 new tokens per row ---------------------
    for rows in (1, args.batch_size):
        ids = torch.tensor([tok("(define (problem p)", add_special_tokens=False)["input_ids"]] * rows)
        t0 = time.perf_counter()
        with torch.no_grad():
            model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=64,
                           min_new_tokens=64, do_sample=False, pad_token_id=tok.pad_token_id)
        dt = time.perf_counter() - t0
        report[f"decode_only_batch{rows}"] = {"new_tokens": 64 * rows, "wall_s": round(dt, 1),
                                              "tokens_per_s": round(64 * rows / dt, 1)}
    progress("speed measured")

    # -- generation 0: greedy plus samples at temperature 1.0 -----------------------------------
    gen0: dict[str, object] = {}
    statuses: dict[str, int] = {}
    t0 = time.perf_counter()
    for k in args.sizes:
        greedy = planner.sample(prompts[k], n=1, temperature=0.0, max_new_tokens=args.max_new_tokens,
                                seed=args.seed)
        hot = planner.sample(prompts[k], n=args.samples, temperature=1.0,
                             max_new_tokens=args.max_new_tokens, seed=args.seed + 1)
        g_valid = t_valid = solved = 0
        for g, gc, hc in zip(tasks[k], greedy, hot, strict=True):
            ok_g = validate_plan(g.task, fmt.extract(gc[0].text, "blocksworld").plan_text).is_valid
            ok_t = []
            for c in hc:
                v = validate_plan(g.task, fmt.extract(c.text, "blocksworld").plan_text)
                statuses[v.status] = statuses.get(v.status, 0) + 1
                ok_t.append(v.is_valid)
            g_valid += ok_g
            t_valid += sum(ok_t)
            solved += ok_g or any(ok_t)
        n = len(tasks[k])
        progress(f"generation 0, {k} blocks: {solved}/{n} solved")
        gen0[str(k)] = {
            "tasks": n,
            "greedy_valid": f"{g_valid}/{n}",
            "t1_valid_samples": f"{t_valid}/{n * args.samples}",
            "solved_any": f"{solved}/{n}",
        }
    report["gen0"] = gen0
    report["gen0_t1_statuses"] = statuses
    report["gen0_wall_s"] = round(time.perf_counter() - t0, 1)
    example_out = planner.sample(prompts[args.sizes[-1]][:1], n=1, temperature=0.0,
                                 max_new_tokens=args.max_new_tokens, seed=args.seed)
    report["example_greedy_completion"] = example_out[0][0].text

    # -- one LoRA step at 1 x 512 tokens --------------------------------------------------------
    big = tasks[args.sizes[-1]][0]
    example = Example(prompts[args.sizes[-1]][0], render_pddl_completion(big.witness_plan))
    ids, _ = planner.encode_example(tok, example, 512)
    stats = planner.train([example], TrainConfig(n_epochs=4, batch_size=1, max_len=512, lora_r=16), seed=0)
    report["lora_step"] = {"tokens": len(ids), "steps": stats.n_steps,
                           "s_per_step": round(stats.train_time_s / stats.n_steps, 2),
                           "final_loss": round(stats.final_loss or float("nan"), 3)}
    t0 = time.perf_counter()
    planner.save("/tmp/smollm2-bench-adapter")
    report["adapter_save_s"] = round(time.perf_counter() - t0, 2)
    planner.close()

    print(json.dumps(report, indent=2))
    if args.markdown:
        print("\n| blocks | tasks | greedy valid | valid samples at T=1.0 | solved (any) |")
        print("|---|---|---|---|---|")
        for k, row in gen0.items():
            assert isinstance(row, dict)
            print(f"| {k} | {row['tasks']} | {row['greedy_valid']} | {row['t1_valid_samples']} | "
                  f"{row['solved_any']} |")


if __name__ == "__main__":
    main()
