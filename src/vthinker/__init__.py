"""vthinker: train video multimodal LLMs to think with videos."""

__version__ = "0.1.0"
