"""Embedding extraction: Basenji2 trunk outputs for fixed-length regions, in chunked HDF5.

:mod:`~exprflow.embedding.layout` is the file layout and chunk codec,
:mod:`~exprflow.embedding.blocks` the resumable work folder shards write into,
:mod:`~exprflow.embedding.extract` the batched model pass, :mod:`~exprflow.embedding.merge`
the merge into one file (local or S3) and :mod:`~exprflow.embedding.reader` the reader
that range-reads single regions.
"""
