"""Data: the sample schema, video decoding, prompts, collate, DataModules, toy data."""
