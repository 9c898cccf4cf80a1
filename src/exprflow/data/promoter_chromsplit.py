"""The published chromosome split of the promoter study's genomic tasks (RNASeq, ChIP-seq).

``promoter_models`` puts chromosomes 4 and 17 in validation, 2, 9, 10, 13, 20 and 21 in
test, and trains on 1, 3, 5, 6, 7, 8, 11, 12, 14, 15, 16, 18, 19 and 22; records on any
other contig (X, Y, M, unplaced scaffolds) are dropped. Both spellings (``chr4`` and
``4``) are accepted. :func:`chromosome_split` turns contig names into the split codes of
:mod:`exprflow.data.promoter_tasks` (0 train, 1 val, 2 test) and -1 for dropped ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

__all__ = ["DROPPED", "PUBLISHED_SPLIT", "ChromosomeSplit", "chromosome_split"]

#: Split code of a record on a contig outside the train, val and test lists.
DROPPED = -1


@dataclass(frozen=True)
class ChromosomeSplit:
    """Chromosome lists of a train/val/test split (names without the ``chr`` prefix).

    Parameters
    ----------
    train : tuple of str
        Training chromosomes.
    val : tuple of str
        Validation chromosomes.
    test : tuple of str
        Test chromosomes.
    """

    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]

    def code(self, chrom: str) -> int:
        """Split code of one contig: 0 train, 1 val, 2 test, :data:`DROPPED` otherwise.

        Parameters
        ----------
        chrom : str
            Contig name, ``chrN`` or ``N``.

        Returns
        -------
        int
            The split code.
        """
        bare = chrom[3:] if chrom.startswith("chr") else chrom
        for code, names in enumerate((self.train, self.val, self.test)):
            if bare in names:
                return code
        return DROPPED


#: The split of ``promoter_models`` (RNASeq, ENCODETFChIPSeq).
PUBLISHED_SPLIT = ChromosomeSplit(
    train=("1", "3", "5", "6", "7", "8", "11", "12", "14", "15", "16", "18", "19", "22"),
    val=("4", "17"),
    test=("2", "9", "10", "13", "20", "21"),
)


def chromosome_split(chroms: Iterable[str], split: ChromosomeSplit = PUBLISHED_SPLIT) -> np.ndarray:
    """Split codes of many records from their contig names.

    Parameters
    ----------
    chroms : iterable of str
        Contig of each record (``chr4`` or ``4``).
    split : ChromosomeSplit, optional
        The chromosome lists. Default :data:`PUBLISHED_SPLIT`.

    Returns
    -------
    numpy.ndarray
        int8 ``(N,)``: 0 train, 1 val, 2 test, -1 (:data:`DROPPED`) for other contigs.
    """
    names = list(chroms)
    code_of = {name: split.code(name) for name in set(names)}
    return np.asarray([code_of[name] for name in names], dtype=np.int8).reshape(len(names))
