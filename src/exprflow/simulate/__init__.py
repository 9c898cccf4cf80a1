"""The synthetic world: genome, population, expression and epigenome in real file formats.

Modules (import them by full path; nothing is re-exported here):

* :mod:`~exprflow.simulate.world` — :func:`~exprflow.simulate.world.simulate_world`, the
  resumable orchestrator, and ``world.json`` (:func:`~exprflow.simulate.world.load_manifest`);
* :mod:`~exprflow.simulate.config` — world sizes (``tiny``, ``demo``, ``bench``);
* :mod:`~exprflow.simulate.layout`, :mod:`~exprflow.simulate.genes` — genes, enhancers,
  motif sites, cell types and TF activity;
* :mod:`~exprflow.simulate.motifs` — real JASPAR motifs: site sampling and scanning;
* :mod:`~exprflow.simulate.sequence` — the genome FASTA;
* :mod:`~exprflow.simulate.population` — msprime Out-of-Africa population and its VCF;
* :mod:`~exprflow.simulate.causal` — planted causal eQTLs;
* :mod:`~exprflow.simulate.expression`, :mod:`~exprflow.simulate.eqtl` — GEUVADIS-style
  expression and cis-eQTL tables;
* :mod:`~exprflow.simulate.annotation_io` — GTF and benchmark gene list;
* :mod:`~exprflow.simulate.tracks`, :mod:`~exprflow.simulate.interactions`,
  :mod:`~exprflow.simulate.regions`, :mod:`~exprflow.simulate.mpra` — bigWig tracks, pcHi-C
  contacts, Basenji regions and the MPRA library; :mod:`~exprflow.simulate.marks` holds
  the track signal model and :mod:`~exprflow.simulate.bigwig_writer` the streaming
  bigWig writer;
* :mod:`~exprflow.simulate.chip`, :mod:`~exprflow.simulate.sharpr`,
  :mod:`~exprflow.simulate.sure` — the promoter study's pretraining assays: ENCODE-like TF
  ChIP-seq (metadata + IDR narrowPeaks), Sharpr-MPRA-like 145-bp tiles (HDF5
  train/valid/test) and SuRE-like fragment tables of four genomes, all driven by the
  planted sites (``_genomic_activity`` holds what they share);
* :mod:`~exprflow.simulate.truth` — ``truth.json``, for evaluation only.

Coordinates are 0-based half-open inside; writers convert at the file boundary.
"""
