"""The one local-model loader (`vthinker.llm.local.load_local_model`), used by the curation
verifier (`LocalChatModel`) and the HF judge: its fallback order, processor and rope fix."""

import pytest

from vthinker.llm.local import load_local_model


@pytest.mark.slow
def test_auto_falls_back_to_image_text_to_text(tiny_model_dir):
    loaded = load_local_model(str(tiny_model_dir), dtype="float32", device="cpu", processor=True)
    # AutoModelForCausalLM does not know Qwen2.5-VL: the vision-language class loads it.
    assert loaded.model_class == "image_text_to_text"
    assert type(loaded.model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert loaded.processor is not None and loaded.tokenizer is loaded.processor.tokenizer
    assert not loaded.model.training and str(loaded.model.device) == "cpu"
    assert not any(p.requires_grad for p in loaded.model.parameters())
    core = loaded.model.model
    assert type(core.get_rope_index).__name__ == "_PublishedRopeIndex"  # the rope fix
    plain = load_local_model(str(tiny_model_dir), model_class="image_text_to_text")
    assert plain.processor is None and plain.model_class == "image_text_to_text"


def test_causal_lm_only_does_not_fall_back(tiny_model_dir):
    with pytest.raises(ValueError):
        load_local_model(str(tiny_model_dir), model_class="causal_lm")
    with pytest.raises(ValueError, match="model_class"):
        load_local_model(str(tiny_model_dir), model_class="seq2seq")
    with pytest.raises(ValueError, match="dtype"):
        load_local_model(str(tiny_model_dir), dtype="int8")
