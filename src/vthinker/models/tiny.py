"""A tiny random Qwen2.5-VL saved as a normal Hugging Face folder.

Tests and the demo cannot download Qwen2.5-VL-7B-Instruct, so they use a model with
the same architecture and the same I/O contract, only small: a 2-layer text decoder,
a 2-block vision tower, and a byte-level BPE tokenizer trained here on a small corpus
with Qwen's special tokens (``<|im_start|>``, ``<|vision_start|>``, ``<|video_pad|>``, …),
the thinking-format tags as added tokens, and a Qwen-style chat template. The folder
loads through exactly the `from_pretrained` path used for the 7B model
(`vthinker.models.policy.load_policy`).

Usage::

    vthinker make-tiny outputs/tiny-qwen2.5-vl [--hidden-size 128 --vision-depth 1]
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import torch

from vthinker.data.collate import MAX_PIXELS, MIN_PIXELS
from vthinker.models.qwen2_5_vl import qwen2_5_vl_config, tiny_arch

__all__ = ["CHAT_TEMPLATE", "FORMAT_TAGS", "SPECIAL_TOKENS", "build_tiny_qwen2_5_vl"]

# Qwen2.5's special tokens, in Qwen's order (ids follow the BPE vocabulary here).
SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
FORMAT_TAGS = [
    f"<{t}>" if i == 0 else f"</{t}>"
    for t in ("time", "caption", "think", "answer")
    for i in (0, 1)
]

# A Qwen-style chat template: string or list-of-parts content, images/videos as
# <|vision_start|><|image_pad|/|video_pad|><|vision_end|>, default system prompt.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}"
    "{{ message['content'] }}"
    "{% else %}"
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'video' or 'video' in part %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif part['type'] == 'image' or 'image' in part %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif 'text' in part %}"
    "{{ part['text'] }}"
    "{% endif %}"
    "{% endfor %}"
    "{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_WORDS = (
    "the a an of in on at to from after before while during first last then next and or "
    "what which who when where how many is are was were does did do appear appears appeared "
    "leave leaves left enter enters entered move moves moving right up down across stays "
    "shape shapes square circle triangle red green blue yellow white black orange purple "
    "colour color video frame frames segment second seconds time screen same together "
    "answer question option options choose letter correct reasoning think caption "
    "describe describing describes event events happens happen visible shown shows show "
    "person man woman hand cooking cut pour mix add water bowl pan table room outdoor "
    "because so therefore thus since this that these those it its there here only also "
    "you helpful assistant system user please output format final tags inside between"
).split()


def _corpus(seed: int) -> list[str]:
    rng = random.Random(seed)
    lines = []
    for _ in range(3000):
        n = rng.randint(3, 16)
        words = [rng.choice(_WORDS) for _ in range(n)]
        mm, ss = rng.randint(0, 59), rng.randint(0, 59)
        lines.append(
            f"<time>{mm:02d}:{ss:02d}-{mm:02d}:{min(59, ss + rng.randint(1, 9)):02d}</time> "
            f"{' '.join(words).capitalize()}. Option {rng.choice('ABCDEF')}: {rng.random():.2f}"
        )
    lines += [" ".join(_WORDS), "0123456789 ,.;:!?()[]{}'\"-+*/=<>_\n\t"]
    # The toy task's own phrasing, so toy traces take few tokens (fast CPU demos).
    from vthinker.data.toy import toy_texts

    return lines + toy_texts(seed=1000 + seed)


def _train_tokenizer(seed: int, vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(seed), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS,
        model_max_length=32768,
        clean_up_tokenization_spaces=False,
    )
    # The thinking-format tags are ordinary (non-special) added tokens: decoding keeps them.
    fast.add_tokens(FORMAT_TAGS)
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_qwen2_5_vl(
    out_dir: str | Path,
    seed: int = 0,
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    vision_depth: int = 2,
    vision_hidden_size: int = 32,
    tokenizer_vocab_size: int = 2048,
) -> Path:
    """Write a tiny random Qwen2.5-VL (config, weights, tokenizer, processor) to ``out_dir``.

    Deterministic for a seed: the same seed gives the same tokenizer and weights.

    Args:
        out_dir: Destination folder (created).
        seed: Seed for the tokenizer corpus and the weight initialisation.
        hidden_size: Text model width (head dim is ``hidden_size // 4``).
        num_layers: Text decoder layers.
        vision_depth: Vision transformer blocks.
        vision_hidden_size: Vision transformer width.
        tokenizer_vocab_size: BPE vocabulary size before special and added tokens.

    Returns:
        The folder, ready for ``AutoModelForImageTextToText.from_pretrained``.
    """
    from transformers import (
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = _train_tokenizer(seed, tokenizer_vocab_size)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}

    arch = tiny_arch(hidden_size, num_layers, vision_depth, vision_hidden_size)
    arch["text"]["vocab_size"] = len(tokenizer)
    config = qwen2_5_vl_config(arch, ids, len(tokenizer))
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config)
    # As in Qwen2.5-VL's generation config, both end tokens stop generation.
    model.generation_config.eos_token_id = [ids["<|im_end|>"], ids["<|endoftext|>"]]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.save_pretrained(out)

    pixels = {"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS}
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(size=dict(pixels)),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(size=dict(pixels), cap_pixels_per_frame=False),
        chat_template=CHAT_TEMPLATE,
    )
    processor.save_pretrained(out)
    (out / "vthinker_tiny.json").write_text(json.dumps({"seed": seed, "builder": __name__}))
    return out


def main(argv: list[str] | None = None) -> None:
    """``vthinker make-tiny [OUT]``: the options are `build_tiny_qwen2_5_vl`'s, and
    ``--overwrite`` rebuilds a folder that already holds a model."""
    from jsonargparse import ActionYesNo

    from vthinker.command_args import add_function_flags, command_parser

    parser = command_parser("vthinker make-tiny", __doc__.split("\n")[0])
    names = add_function_flags(
        parser,
        build_tiny_qwen2_5_vl,
        positional={"out_dir"},
        defaults={"out_dir": "outputs/tiny-qwen2.5-vl"},
    )
    parser.add_argument(
        "--overwrite",
        action=ActionYesNo(no_prefix="no-"),
        default=False,
        help="rebuild even if it exists",
    )
    args = parser.parse_args(argv)
    out = Path(args.out_dir)
    if (out / "config.json").is_file() and not args.overwrite:
        print(f"tiny model already at {out} (use --overwrite to rebuild)")
        return
    build_tiny_qwen2_5_vl(**{name: args[name] for name in names})
    print(f"wrote tiny Qwen2.5-VL to {out}")


if __name__ == "__main__":
    main()
