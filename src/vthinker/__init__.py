"""vthinker: train video multimodal LLMs to think with videos.

Layers, lowest first; a module imports only from its own layer or lower ones:

1. `trace` (the thinking format), `extract` (answers and spans out of model outputs),
   `jsonl_log` (the crash-safe append-only JSONL log of curation and evaluation runs) and
   `command_args` (the tool commands' options, from function signatures);
2. `metrics`, `data` (samples, videos, collate, DataModules);
3. `models` (loading the policy, rotary positions, where a completion ends, export);
4. `llm` (chat clients: endpoints, a local model, a mock server);
5. `rewards`;
6. `training` (the Lightning modules, rollout, losses);
7. `evaluation` (benchmark runs and reports);
8. `curation` (building training data with LLMs), then `cli`.
"""

__version__ = "0.1.0"
