"""Policy loading (HF Auto classes, LoRA/QLoRA) and the tiny test model."""
