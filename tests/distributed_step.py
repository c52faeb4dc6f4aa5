"""Two GRPO or SFT training steps on CPU with N processes (gloo); saves what they did.

Run by tests/test_distributed.py as ``python tests/distributed_step.py --devices N ...``.
With ``--devices 2`` Lightning's DDP launcher starts the second process itself (the same
way ``vthinker fit --trainer.devices 2`` does). The global batch is the first 4 training
samples (the whole training set, so both steps see it all): 1 process × 4 or 2 processes × 2.
LoRA dropout is off: it is the one random part of the update.

Sampling is the only thing replaced: the policy's ``generate`` returns fixed completions
chosen from the prompt's token ids, so both runs score, normalise and train on the same
completions whatever the process layout. Everything after it (rewards, advantages,
reference log-probs, loss, gradient all-reduce, clipping, optimizer) is the real code.

Writes to ``--out``: ``params.pt`` (trainable parameters before and after the step, rank
0), ``rank<r>.json`` (per step and sample id, ``step0:toy_0000_q1``: rewards and advantages; the loss of each micro-batch)
and ``metrics.json`` (the logged, rank-reduced metrics, rank 0).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import lightning as L
import torch

import vthinker.training.grpo as grpo_mod
from vthinker.data.collate import FrameSampling
from vthinker.data.datamodule import VideoQADataModule
from vthinker.models.policy import LoraSettings, PolicyConfig
from vthinker.rewards import AccuracyReward, FormatReward
from vthinker.training.grpo import GRPOModule, GRPOSettings
from vthinker.training.rollout import RolloutSettings
from vthinker.training.sft import SFTModule

GLOBAL_BATCH = 4
G = 4
COMPLETIONS = [
    "<think>the red square leaves first</think><answer>A</answer>",
    "<answer>B</answer>",
    "<time>00:01-00:03</time><caption>a green circle</caption><think>so</think><answer>C</answer>",
    "no tags at all",
    "<think>blue</think><answer>D</answer>",
    "<think>two shapes</think><answer>2</answer>",
]


def scripted_generate(tokenizer):
    """A ``generate`` that returns fixed completions picked by a hash of each prompt."""
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    pad = tokenizer.pad_token_id

    def generate(input_ids, attention_mask=None, num_return_sequences=1, **kwargs):
        rows = []
        for ids, mask in zip(input_ids, attention_mask, strict=True):
            key = int(hashlib.sha256(str(ids[mask.bool()].tolist()).encode()).hexdigest(), 16)
            for j in range(num_return_sequences):
                text = COMPLETIONS[(key + 5 * j) % len(COMPLETIONS)]
                rows.append(tokenizer(text, add_special_tokens=False)["input_ids"] + [end])
        width = max(map(len, rows))
        completions = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
        prompts = input_ids.repeat_interleave(num_return_sequences, dim=0)
        return torch.cat([prompts, completions], dim=1)

    return generate


class Recorder(L.Callback):
    def __init__(self, out: Path, record: dict) -> None:
        self.out = out
        self.record = record
        self.before: dict[str, torch.Tensor] = {}

    def on_train_start(self, trainer, pl_module) -> None:
        self.before = {
            n: p.detach().clone() for n, p in pl_module.policy.named_parameters() if p.requires_grad
        }
        ddp = trainer.strategy.model
        if isinstance(ddp, torch.nn.parallel.DistributedDataParallel):
            from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook

            syncs = self.record.setdefault("syncs", [])

            def counting_hook(state, bucket):
                # Which micro-batch's backward all-reduces (1-based count of losses so far).
                syncs.append(len(self.record["losses"]))
                return allreduce_hook(state, bucket)

            ddp.register_comm_hook(None, counting_hook)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        grads = [p.grad.flatten() for p in pl_module.policy.parameters() if p.grad is not None]
        self.grad_norm = float(torch.cat(grads).norm())

    def on_train_end(self, trainer, pl_module) -> None:
        if trainer.global_rank == 0:
            after = {
                n: p.detach().clone()
                for n, p in pl_module.policy.named_parameters()
                if p.requires_grad
            }
            torch.save({"before": self.before, "after": after}, self.out / "params.pt")
            metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
            (self.out / "metrics.json").write_text(json.dumps(metrics, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, required=True)
    ap.add_argument("--mode", choices=["grpo", "sft"], required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--train-file", required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--loss-type", default="dapo")
    ap.add_argument("--scale-rewards", default="batch")
    ap.add_argument("--micro-batch-size", type=int, default=None)
    # Dynamic sampling: the listed samples' groups get equal rewards (uninformative).
    ap.add_argument("--dynamic-sampling", action="store_true")
    ap.add_argument("--uninformative", nargs="*", default=[])
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    L.seed_everything(0)
    record: dict = {"samples": {}, "losses": []}

    if args.mode == "grpo":
        module = GRPOModule(
            PolicyConfig(args.model, dtype="float32", lora=LoraSettings(r=4, alpha=8, dropout=0.0)),
            rewards=[AccuracyReward(), FormatReward()],
            grpo=GRPOSettings(
                group_size=G,
                beta=0.04,
                loss_type=args.loss_type,
                scale_rewards=args.scale_rewards,
                max_grad_norm=1.0,
                micro_batch_size=args.micro_batch_size,
                dynamic_sampling=args.dynamic_sampling,
                max_extra_rollouts=0,
            ),
            rollout=RolloutSettings(max_new_tokens=40),
            optimizer=lambda p: torch.optim.SGD(p, lr=1.0),
            log_completions_every=0,
            export_hf=False,
        )
        module.configure_model()
        module.policy.generate = scripted_generate(module.processor.tokenizer)

        real_adv, real_loss = grpo_mod.group_advantages, grpo_mod.grpo_loss
        real_combine = grpo_mod.combine

        def combine(rewards, texts, samples):
            out = real_combine(rewards, texts, samples)
            for i, s in enumerate(samples):
                if s.id in args.uninformative:
                    out.total[i] = 0.0
            record["step"] = record.get("step", -1) + 1
            record["ids"] = [f"step{record['step']}:{s.id}" for s in samples]
            record["rewards"] = out.total.tolist()
            return out

        def group_advantages(*a, **k):
            adv = real_adv(*a, **k)
            for i, sid in enumerate(record["ids"]):
                entry = record["samples"].setdefault(sid, {"rewards": [], "adv": []})
                entry["rewards"].append(record["rewards"][i])
                entry["adv"].append(float(adv[i]))
            return adv

        def grpo_loss(*a, **k):
            loss, stats = real_loss(*a, **k)
            record["losses"].append(float(loss))
            return loss, stats

        pool, real_add, real_take = module._pool, module._pool.add, module._pool.take

        def add(part, informative, batch_groups):
            record.setdefault("informative", []).append(int(informative.sum()))
            return real_add(part, informative, batch_groups)

        def take(pad_to):
            parts, stats = real_take(pad_to)
            record.setdefault("parts", []).append(len(parts))
            record.setdefault("trained_groups", []).append(int(stats["train/trained_groups"]))
            record.setdefault("trained_rows", []).append(
                sum(int(p.mask.any(1).sum()) for p in parts)
            )
            return parts, stats

        pool.add, pool.take = add, take
        grpo_mod.combine = combine
        grpo_mod.group_advantages = group_advantages
        grpo_mod.grpo_loss = grpo_loss
    else:
        module = SFTModule(
            PolicyConfig(args.model, dtype="float32"),
            optimizer=lambda p: torch.optim.SGD(p, lr=1.0),
            export_hf=False,
        )

    dm = VideoQADataModule(
        train_file=args.train_file,
        frames=FrameSampling(max_frames=4),
        max_pixels=112 * 112,
        min_pixels=3136,
        batch_size=GLOBAL_BATCH // args.devices,
        limit=GLOBAL_BATCH,
    )
    trainer = L.Trainer(
        accelerator="cpu",
        devices=args.devices,
        strategy="ddp" if args.devices > 1 else "auto",
        max_steps=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=str(args.out),
        callbacks=[Recorder(args.out, record)],
    )
    trainer.fit(module, datamodule=dm)
    record["grad_norm"] = trainer.callbacks[0].grad_norm
    (args.out / f"rank{trainer.global_rank}.json").write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
