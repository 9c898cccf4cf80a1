"""Metrics of the haplotype masked model: masked accuracy, IQS, genotype-level IQS.

Inputs are numpy arrays or torch tensors (converted with ``.numpy()``): logits
``(B, 3, L)`` (classes R, A, N on axis -2), labels ``(B, L)`` with ``-100`` off-target,
haplotype tokens in 0..2. Confusion matrices have the truth on rows, the prediction on
columns. Outputs are Python floats.

Masked accuracy
    Share of targets predicted right (N labels included). The published figure is the
    mean of per-batch accuracies; :class:`MaskedMetrics` reports both that and the
    accuracy pooled over all targets.
IQS
    As published: Cohen's kappa on the 2×2 R/A table of targets, N dropped from truth
    and prediction, ``P0 = trace/n``, ``Pc = Σ_k row_k·col_k / n²``,
    ``(P0 − Pc)/(1 − Pc)`` (:func:`iqs`, any k×k). NaN when ``Pc = 1`` (every call in
    one class on both sides: agreement beyond chance is undefined) or the table is empty.
Genotype mode
    Each individual's two haplotype predictions (rows ``2i``, ``2i + 1`` of a
    :func:`~exprflow.data.mlm_haplotypes.collate_genotypes` batch) are merged at every
    SNP that is a target in both: into the phased 4-class R/F/M/B genotype (the
    published students' version, :func:`phased_genotype_confusion`) and into the
    unphased ALT dosage 0/1/2. :func:`genotype_iqs` is Lin et al. (2010)'s IQS, the
    kappa of the 3×3 table of true vs imputed genotypes, with best-guess genotypes
    (argmax of each haplotype), pooled over all masked SNPs (Lin et al. compute it per
    SNP, summing genotype posteriors; pooling matches the published allele IQS).
    Genotypes with an N on either side are dropped.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "GenotypeMetrics",
    "MaskedMetrics",
    "allele_confusion",
    "dosage_confusion",
    "genotype_iqs",
    "iqs",
    "masked_accuracy",
    "phased_genotype_confusion",
]

_IGNORE = -100
_N = 2


def _numpy(values: Any) -> np.ndarray:
    """A numpy view of an array or a (detached, CPU) torch tensor."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def _predictions(logits: Any) -> np.ndarray:
    """Argmax over the class axis (-2) of ``(..., C, L)`` logits."""
    logits = _numpy(logits)
    if logits.ndim < 2:
        raise ValueError(f"logits must be (..., classes, L), got {logits.shape}")
    return logits.argmax(axis=-2)


def _confusion(true: np.ndarray, pred: np.ndarray, classes: int) -> np.ndarray:
    """``classes × classes`` counts of the pairs with both values in ``0..classes-1``."""
    true, pred = np.asarray(true).ravel(), np.asarray(pred).ravel()
    if true.shape != pred.shape:
        raise ValueError(f"truth ({true.size}) and prediction ({pred.size}) differ in size")
    keep = (true >= 0) & (true < classes) & (pred >= 0) & (pred < classes)
    index = true[keep].astype(np.int64) * classes + pred[keep].astype(np.int64)
    return np.bincount(index, minlength=classes * classes).reshape(classes, classes)


def masked_accuracy(logits: Any, labels: Any) -> float:
    """Share of targets (labels ≠ -100) whose argmax is the label.

    Parameters
    ----------
    logits : array or tensor
        ``(B, 3, L)`` scores.
    labels : array or tensor
        ``(B, L)`` true tokens at targets, -100 elsewhere.

    Returns
    -------
    float
        NaN when there is no target.
    """
    pred, labels = _predictions(logits), _numpy(labels)
    if pred.shape != labels.shape:
        raise ValueError(f"logits {pred.shape} (without classes) and labels {labels.shape} differ")
    targets = labels != _IGNORE
    return float((pred[targets] == labels[targets]).mean()) if targets.any() else float("nan")


def allele_confusion(pred: Any, true: Any) -> np.ndarray:
    """2×2 R/A table of true (rows) vs predicted (columns) alleles, N and -100 dropped.

    Parameters
    ----------
    pred : array or tensor
        Predicted tokens, any shape.
    true : array or tensor
        True tokens (or labels with -100 off-target), the same shape.

    Returns
    -------
    numpy.ndarray
        int64 ``(2, 2)``.
    """
    return _confusion(_numpy(true), _numpy(pred), 2)


def iqs(confusion: Any) -> float:
    """Cohen's kappa of a k×k agreement table (the published IQS on alleles).

    Parameters
    ----------
    confusion : array-like
        ``(k, k)`` non-negative counts (truth × prediction; kappa is symmetric).

    Returns
    -------
    float
        ``(P0 − Pc)/(1 − Pc)``; NaN when the table is empty or ``Pc = 1``.
    """
    table = np.asarray(confusion, dtype=float)
    if table.ndim != 2 or table.shape[0] != table.shape[1]:
        raise ValueError(f"confusion must be a square k×k table, got shape {table.shape}")
    if not np.all(np.isfinite(table)) or table.min(initial=0.0) < 0:
        raise ValueError("confusion must hold finite, non-negative counts")
    n = table.sum()
    if n == 0:
        return float("nan")
    p0 = np.trace(table) / n
    pc = float(table.sum(axis=1) @ table.sum(axis=0)) / n**2
    return float((p0 - pc) / (1.0 - pc)) if pc < 1.0 else float("nan")


def _pairs(tokens: np.ndarray) -> np.ndarray:
    """``(..., 2, L)`` pairs; N where a label is -100 (so the genotype is dropped)."""
    tokens = np.asarray(tokens).astype(np.int64)
    if tokens.ndim < 2 or tokens.shape[-2] != 2:
        raise ValueError(f"haplotype pairs must be (..., 2, L), got {tokens.shape}")
    return np.where(tokens == _IGNORE, _N, tokens)


def _phased_codes(pairs: np.ndarray) -> np.ndarray:
    """R 0, F 1, M 2, B 3 of ``(..., 2, L)`` pairs; 4 where either haplotype is N."""
    unknown = (pairs == _N).any(axis=-2)
    return np.where(unknown, 4, pairs[..., 0, :] + 2 * pairs[..., 1, :])


def _dosages(pairs: np.ndarray) -> np.ndarray:
    """ALT count 0..2 of ``(..., 2, L)`` pairs; 3 where either haplotype is N."""
    return np.where((pairs == _N).any(axis=-2), 3, pairs.sum(axis=-2))


def phased_genotype_confusion(pred: Any, true: Any) -> np.ndarray:
    """4×4 R/F/M/B table of true vs merged predicted phased genotypes.

    Parameters
    ----------
    pred : array or tensor
        ``(..., 2, L)`` predicted tokens, father then mother.
    true : array or tensor
        ``(..., 2, L)`` true tokens or labels (-100 off-target).

    Returns
    -------
    numpy.ndarray
        int64 ``(4, 4)`` over R (0|0), F (father A), M (mother A), B; SNPs with N or
        -100 on either haplotype of either side are dropped.
    """
    p, t = _pairs(_numpy(pred)), _pairs(_numpy(true))
    return _confusion(_phased_codes(t), _phased_codes(p), 4)


def dosage_confusion(pred: Any, true: Any) -> np.ndarray:
    """3×3 table of true vs predicted unphased genotypes (ALT dosage 0, 1, 2).

    Parameters
    ----------
    pred : array or tensor
        ``(..., 2, L)`` predicted tokens, father then mother.
    true : array or tensor
        ``(..., 2, L)`` true tokens or labels (-100 off-target).

    Returns
    -------
    numpy.ndarray
        int64 ``(3, 3)``; SNPs with N or -100 on either haplotype are dropped.
    """
    p, t = _pairs(_numpy(pred)), _pairs(_numpy(true))
    return _confusion(_dosages(t), _dosages(p), 3)


def genotype_iqs(pred: Any, true: Any) -> float:
    """Lin et al. (2010) IQS: kappa of true vs best-guess imputed dosage genotypes.

    Parameters
    ----------
    pred : array or tensor
        ``(..., 2, L)`` predicted tokens, father then mother.
    true : array or tensor
        ``(..., 2, L)`` true tokens or labels (-100 off-target).

    Returns
    -------
    float
        NaN when no genotype is left or all fall in one class.
    """
    return iqs(dosage_confusion(pred, true))


class MaskedMetrics:
    """Accumulate masked-prediction counts over batches (no loss).

    :meth:`update` with each batch, :meth:`summary` at the end.
    """

    def __init__(self) -> None:
        self.confusion = np.zeros((3, 3), dtype=np.int64)
        self._batch_accuracy: list[float] = []
        self._all = np.zeros(2, dtype=np.int64)  # correct, seen over all positions

    def update(self, logits: Any, labels: Any, tokens: Any = None) -> None:
        """Add one batch.

        Parameters
        ----------
        logits : array or tensor
            ``(B, 3, L)`` scores.
        labels : array or tensor
            ``(B, L)`` true tokens at targets, -100 elsewhere.
        tokens : array or tensor, optional
            ``(B, L)`` true tokens at every position, for the all-positions accuracy.
        """
        pred, labels = _predictions(logits), _numpy(labels)
        if pred.shape != labels.shape:
            raise ValueError(f"logits {pred.shape} (without classes) and labels {labels.shape}")
        self.confusion += _confusion(labels, pred, 3)
        accuracy = masked_accuracy(logits, labels)
        if np.isfinite(accuracy):
            self._batch_accuracy.append(accuracy)
        if tokens is not None:
            tokens = _numpy(tokens)
            self._all += [int((pred == tokens).sum()), tokens.size]

    def summary(self) -> dict[str, float]:
        """The figures so far (NaN where undefined).

        Returns
        -------
        dict of str to float
            ``masked_accuracy`` (pooled over targets), ``masked_accuracy_batch_mean``
            (published), ``iqs`` (R/A kappa), ``recall_R``, ``recall_A`` (N dropped),
            ``n_masked``, and ``accuracy_all`` when tokens were given.
        """
        table, allele = self.confusion, self.confusion[:2, :2]
        n = table.sum()
        rows = allele.sum(axis=1)
        result = {
            "masked_accuracy": float(np.trace(table) / n) if n else float("nan"),
            "masked_accuracy_batch_mean": (
                float(np.mean(self._batch_accuracy)) if self._batch_accuracy else float("nan")
            ),
            "iqs": iqs(allele),
            "recall_R": float(allele[0, 0] / rows[0]) if rows[0] else float("nan"),
            "recall_A": float(allele[1, 1] / rows[1]) if rows[1] else float("nan"),
            "n_masked": float(n),
        }
        if self._all[1]:
            result["accuracy_all"] = float(self._all[0] / self._all[1])
        return result


class GenotypeMetrics:
    """Accumulate genotype-mode counts over :func:`collate_genotypes` batches.

    :meth:`update` with each batch's logits ``(2B, 3, L)`` and labels ``(2B, L)`` (rows
    ``2i``, ``2i + 1`` one individual's father and mother), :meth:`summary` at the end.
    """

    def __init__(self) -> None:
        self.phased = np.zeros((4, 4), dtype=np.int64)
        self.dosage = np.zeros((3, 3), dtype=np.int64)

    def update(self, logits: Any, labels: Any) -> None:
        """Add one batch.

        Parameters
        ----------
        logits : array or tensor
            ``(2B, 3, L)`` scores, haplotype pairs adjacent.
        labels : array or tensor
            ``(2B, L)`` labels (-100 off-target), the same targets in both haplotypes.
        """
        pred, labels = _predictions(logits), _numpy(labels)
        if pred.shape != labels.shape or pred.ndim != 2 or pred.shape[0] % 2:
            raise ValueError(f"need (2B, 3, L) logits and (2B, L) labels, got {labels.shape}")
        pred = pred.reshape(-1, 2, pred.shape[-1])
        labels = labels.reshape(-1, 2, labels.shape[-1])
        self.phased += phased_genotype_confusion(pred, labels)
        self.dosage += dosage_confusion(pred, labels)

    def summary(self) -> dict[str, float]:
        """The figures so far (NaN where undefined).

        Returns
        -------
        dict of str to float
            ``genotype_accuracy`` and ``phased_iqs`` (4-class R/F/M/B),
            ``dosage_accuracy`` and ``genotype_iqs`` (0/1/2, Lin et al. 2010),
            ``n_genotypes``.
        """
        n = self.dosage.sum()
        nan = float("nan")
        return {
            "genotype_accuracy": float(np.trace(self.phased) / n) if n else nan,
            "phased_iqs": iqs(self.phased),
            "dosage_accuracy": float(np.trace(self.dosage) / n) if n else nan,
            "genotype_iqs": iqs(self.dosage),
            "n_genotypes": float(n),
        }
