"""The tiny model is a real Qwen2.5-VL folder that loads like the 7B one."""

from __future__ import annotations

import json

import torch
from safetensors.torch import load_file

from vthinker.models.policy import PolicyConfig, load_policy, load_processor
from vthinker.models.tiny import FORMAT_TAGS, SPECIAL_TOKENS, build_tiny_qwen2_5_vl


def test_same_seed_same_folder(tmp_path, tiny_model_dir):
    again = build_tiny_qwen2_5_vl(tmp_path / "again", seed=0)
    for name in ("config.json", "tokenizer.json", "chat_template.jinja"):
        assert (again / name).read_text() == (tiny_model_dir / name).read_text(), name
    a, b = load_file(again / "model.safetensors"), load_file(tiny_model_dir / "model.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    other = load_file(build_tiny_qwen2_5_vl(tmp_path / "other", seed=1) / "model.safetensors")
    assert not all(torch.equal(a[k], other[k]) for k in a)


def test_tokenizer_has_qwen_special_tokens_and_format_tags(processor, tiny_model_dir):
    tok = processor.tokenizer
    for t in [*SPECIAL_TOKENS, *FORMAT_TAGS]:
        ids = tok(t, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1, t  # each is one token
        assert tok.decode(ids) == t
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert config["video_token_id"] == tok.convert_tokens_to_ids("<|video_pad|>")
    assert config["vision_start_token_id"] == tok.convert_tokens_to_ids("<|vision_start|>")
    assert config["model_type"] == "qwen2_5_vl"
    # Format tags survive decoding (they are not "special").
    text = "<time>00:01-00:02</time> <caption>red</caption> <answer>B</answer>"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids, skip_special_tokens=True) == text


def test_chat_template_is_qwen_style(processor):
    msgs = [
        {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "Q?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "A"}]},
    ]
    assert processor.apply_chat_template(msgs, tokenize=False) == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>Q?<|im_end|>\n"
        "<|im_start|>assistant\nA<|im_end|>\n"
    )
    assert (
        processor.apply_chat_template(msgs[:1], tokenize=False, add_generation_prompt=True)[
            -len("<|im_start|>assistant\n") :
        ]
        == "<|im_start|>assistant\n"
    )


def test_loads_through_auto_classes_and_runs_a_video(tiny_model_dir):
    import numpy as np

    processor = load_processor(str(tiny_model_dir))
    model = load_policy(PolicyConfig(str(tiny_model_dir), dtype="float32"))
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    msgs = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "hi"}]}]
    text = processor.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    frames = np.zeros((4, 112, 112, 3), dtype=np.uint8)
    batch = processor(text=[text], videos=[frames], do_sample_frames=False, return_tensors="pt")
    # 4 frames / temporal patch 2 = 2; 112 px / patch 14 = 8 → 2*8*8 patches, /4 merged = 32 tokens.
    assert batch["video_grid_thw"].tolist() == [[2, 8, 8]]
    assert int((batch["input_ids"] == processor.video_token_id).sum()) == 32
    with torch.no_grad():
        logits = model(**batch).logits
    assert logits.shape == (1, batch["input_ids"].shape[1], len(processor.tokenizer))


def test_command_line_sizes(tmp_path, capsys):
    """`vthinker make-tiny --hidden-size 128 --vision-depth 1` (the miniature's model:
    text head_dim 32, as vLLM's CPU attention needs) writes those sizes."""
    from vthinker.models.tiny import main

    out = tmp_path / "tiny"
    main([str(out), "--hidden-size", "128", "--num-layers", "3", "--vision-depth", "1"])
    config = json.loads((out / "config.json").read_text())
    text = config.get("text_config", config)
    assert text["hidden_size"] == 128 and text["num_hidden_layers"] == 3
    assert text["hidden_size"] // text["num_attention_heads"] == 32
    assert config["vision_config"]["depth"] == 1
    assert config["vision_config"]["fullatt_block_indexes"] == [0]
    main([str(out), "--hidden-size", "64"])  # an existing folder is kept
    assert "already at" in capsys.readouterr().out
    assert json.loads((out / "config.json").read_text()) == config
