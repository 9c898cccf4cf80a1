"""Batched inference at scale: window de-duplication, sharding, resumable scoring, merging."""
