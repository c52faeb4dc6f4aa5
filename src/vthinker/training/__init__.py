"""Training: SFT and GRPO LightningModules, rollout, losses."""
