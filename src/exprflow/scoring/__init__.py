"""Batched inference at scale: window de-duplication, sharding, resumable scoring, merging.

Modules (import them by full path; nothing is re-exported here):

* :mod:`~exprflow.scoring.windows` — ExPecto window geometry; a haplotype's 200 windows
  with the TSS anchored through indels;
* :mod:`~exprflow.scoring.dedup` — :class:`~exprflow.scoring.dedup.WindowBank`, one
  chromatin evaluation per distinct window;
* :mod:`~exprflow.scoring.engine` — :func:`~exprflow.scoring.engine.score_genes`,
  reference and per-haplotype predictions, resumable, per-gene outputs;
* :mod:`~exprflow.scoring.naive` — the published approach (no sharing, float64 chromatin
  files) for comparison;
* :mod:`~exprflow.scoring.shards` — gene chunks for array jobs;
* :mod:`~exprflow.scoring.store` — output layout: per-gene files and shard manifests;
* :mod:`~exprflow.scoring.merge` — output folders into one long table (TSV or Parquet).
"""
