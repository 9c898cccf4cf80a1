"""Position weight matrices: the MEME minimal motif format and JASPAR through pyjaspar.

Format read and written (MEME suite "minimal motif format", version 4 and later)::

    MEME version 4

    ALPHABET= ACGT

    strands: + -

    Background letter frequencies
    A 0.25 C 0.25 G 0.25 T 0.25

    MOTIF MA0139.2 CTCF
    letter-probability matrix: alength= 4 w= 15 nsites= 20 E= 0
     0.095 0.318 0.083 0.504
     ... (w rows of 4 probabilities, columns A C G T)
    URL http://jaspar.genereg.net/matrix/MA0139.2

Only the ``MEME version`` line and at least one ``MOTIF`` with its
``letter-probability matrix`` are required. ``ALPHABET= ACGT`` (or a v5 custom alphabet
block whose core letters are A, C, G, T) is the only alphabet accepted; a missing
alphabet line means DNA. Blank lines, ``URL`` lines, ``log-odds matrix`` sections,
missing ``nsites``/``E``/``w`` fields, gzip compression, a byte-order mark and Windows
line endings are tolerated. Each row must hold 4 non-negative numbers summing to 1 ± 0.01;
rows are renormalised to sum to exactly 1. Every error names the file, the line number
and the motif.

:func:`jaspar_pwms` reads matrices from the JASPAR database bundled with pyjaspar (no
download): counts plus a pseudocount, normalised per position, named as in the MEME
files JASPAR distributes (``MOTIF <matrix id> <TF name>``); it lives in
:mod:`exprflow.genome.jaspar` and is re-exported here with :class:`PWM`
(:mod:`exprflow.genome.pwm`).
"""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from exprflow.atomic import atomic_path
from exprflow.errors import InputError
from exprflow.genome.jaspar import JASPAR_PSEUDOCOUNT, jaspar_pwms
from exprflow.genome.pwm import ALPHABET, PWM, row_problem

__all__ = [
    "ALPHABET",
    "JASPAR_PSEUDOCOUNT",
    "PWM",
    "jaspar_pwms",
    "read_meme",
    "write_meme",
]

_FIELD = re.compile(r"([A-Za-z]+)\s*=\s*(\S+)")


# --------------------------------------------------------------------------- reading


def _lines(path: Path) -> list[str]:
    """The file's lines (gzip or plain text, BOM and CR/LF handled)."""
    if not path.is_file():
        raise InputError(path, "MEME motif file not found.", fix="check the path.")
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    with opener(path, "rt", encoding="utf-8-sig", newline=None) as handle:
        return [line.rstrip("\r\n") for line in handle]


@dataclass
class _Cursor:
    """Position in the file's lines (``index`` 0-based; errors show 1-based numbers)."""

    path: Path
    lines: list[str]
    index: int = 0

    def error(self, problem: str, motif: str | None = None, fix: str | None = None) -> InputError:
        """An InputError naming the current line (and motif)."""
        where = f"line {min(self.index, len(self.lines) - 1) + 1}"
        record = f"{where}, motif {motif}" if motif else where
        return InputError(self.path, problem, record=record, fix=fix)

    def peek(self) -> str | None:
        """The next non-blank line, stripped, without consuming it (None at the end)."""
        while self.index < len(self.lines) and not self.lines[self.index].strip():
            self.index += 1
        return self.lines[self.index].strip() if self.index < len(self.lines) else None


def _numbers(text: str) -> list[float] | None:
    """The line as floats, or None when any word is not a number."""
    try:
        return [float(word) for word in text.split()]
    except ValueError:
        return None


def _looks_numeric(line: str) -> bool:
    """Whether the line starts like a matrix row (a digit, a point or a sign)."""
    return line[:1].isdigit() or line[:1] in ".-+"


def _check_alphabet(cursor: _Cursor, line: str) -> None:
    """Accept ``ALPHABET= ACGT`` or a custom DNA alphabet block; else InputError."""
    if line.startswith("ALPHABET="):
        letters = line.split("=", 1)[1].strip()
        if letters.upper() != ALPHABET:
            raise cursor.error(f"alphabet {letters!r} is not supported, expected ACGT.")
        return
    core: set[str] = set()
    start = cursor.index
    while cursor.index + 1 < len(cursor.lines):
        cursor.index += 1
        text = cursor.lines[cursor.index].strip()
        if text.startswith("END ALPHABET"):
            break
        words = text.split()
        if words and "=" not in words and len(words[0]) == 1:
            core.add(words[0].upper())
            if "~" in words and words.index("~") + 1 < len(words):
                core.add(words[words.index("~") + 1].upper())
    else:
        cursor.index = start
        raise cursor.error("the ALPHABET block has no END ALPHABET line.")
    if core != set(ALPHABET):
        cursor.index = start
        raise cursor.error(f"alphabet {''.join(sorted(core))} is not supported, expected ACGT.")


def _read_header(cursor: _Cursor) -> None:
    """Read up to the first ``MOTIF`` line: version, alphabet, strands, background."""
    version = False
    while (line := cursor.peek()) is not None and not line.startswith("MOTIF"):
        if line.startswith("MEME version"):
            version = True
        elif line.startswith("ALPHABET"):
            _check_alphabet(cursor, line)
        elif line.startswith("strands:"):
            strands = line.split(":", 1)[1].split()
            if not strands or set(strands) - {"+", "-"}:
                raise cursor.error(f"bad strands line {line!r}, expected 'strands: + -'.")
        elif line.startswith("Background letter frequencies"):
            _skip_background(cursor)
            continue
        elif not version:
            raise cursor.error(
                f"bad header {line[:40]!r}: a MEME motif file starts with 'MEME version 4'.",
                fix="give a MEME minimal-format file (e.g. JASPAR's MEME download).",
            )
        cursor.index += 1
    if not version:
        raise cursor.error("no 'MEME version' line before the first motif; not a MEME file.")


def _skip_background(cursor: _Cursor) -> None:
    """Consume the background frequencies (letter/value pairs, one or more lines)."""
    cursor.index += 1
    pairs = 0
    while pairs < 4 and (line := cursor.peek()) is not None and not line.startswith("MOTIF"):
        words = line.split()
        if len(words) % 2 or _numbers(" ".join(words[1::2])) is None:
            raise cursor.error(f"bad background frequencies {line!r}, expected 'A 0.25 C 0.25 …'.")
        pairs += len(words) // 2
        cursor.index += 1


def _motif_names(cursor: _Cursor, line: str) -> tuple[str, str]:
    """Id and alternative name of a ``MOTIF`` line."""
    words = line.split()
    if len(words) < 2:
        raise cursor.error("MOTIF line without a motif id, expected 'MOTIF <id> [<alt name>]'.")
    return words[1], " ".join(words[2:])


def _matrix_fields(cursor: _Cursor, line: str, motif: str) -> dict[str, float]:
    """``alength``, ``w``, ``nsites``, ``E`` of a ``letter-probability matrix:`` line."""
    fields: dict[str, float] = {}
    for key, value in _FIELD.findall(line.split(":", 1)[1]):
        try:
            fields[key] = float(value)
        except ValueError:
            raise cursor.error(f"{key}= {value!r} is not a number.", motif) from None
    if fields.get("alength", 4) != 4:
        raise cursor.error(
            f"alength= {fields['alength']:g}, expected 4 (ACGT); not a DNA motif.", motif
        )
    width = fields.get("w")
    if width is not None and (width < 1 or not float(width).is_integer()):
        raise cursor.error(f"w= {width:g} is not a positive whole number.", motif)
    return fields


def _matrix_rows(cursor: _Cursor, width: float | None, motif: str) -> np.ndarray:
    """Read the matrix rows after the header line (``width`` rows, or until a non-row)."""
    header = cursor.index - 1
    rows: list[list[float]] = []
    expected = "" if width is None else f" (w= {int(width)})"
    while (line := cursor.peek()) is not None and (width is None or len(rows) < width):
        values = _numbers(line)
        if values is None:
            if not _looks_numeric(line):
                break
            raise cursor.error(f"row {line!r} holds a word that is not a number.", motif)
        if len(values) != 4:
            raise cursor.error(f"row has {len(values)} columns, expected 4 (A C G T).", motif)
        row = np.array(values)
        problem = row_problem(row[None, :])
        if problem:
            problem = problem.replace("row 1", f"row {len(rows) + 1}")
            raise cursor.error(problem, motif)
        rows.append(values)
        cursor.index += 1
    if (width is not None and len(rows) < width) or not rows:
        cursor.index = header
        raise cursor.error(f"matrix has {len(rows)} rows, expected {int(width or 1)}.", motif)
    following = cursor.peek()
    if following is not None and (after := _numbers(following)) is not None and len(after) == 4:
        raise cursor.error(f"matrix has more than {len(rows)} rows{expected}.", motif)
    return np.array(rows)


def _skip_numbers(cursor: _Cursor) -> None:
    """Consume a ``log-odds matrix`` section (numeric rows)."""
    cursor.index += 1
    while (line := cursor.peek()) is not None and _numbers(line) is not None:
        cursor.index += 1


def _read_motif(cursor: _Cursor) -> tuple[PWM, int]:
    """Read one motif starting at its ``MOTIF`` line; returns it and that line's index."""
    start = cursor.index
    name, alt_name = _motif_names(cursor, cursor.lines[start].strip())
    cursor.index += 1
    pwm: PWM | None = None
    while (line := cursor.peek()) is not None and not line.startswith("MOTIF"):
        if line.startswith("letter-probability matrix"):
            if pwm is not None:
                raise cursor.error("a second letter-probability matrix in one motif.", name)
            fields = _matrix_fields(cursor, line, name)
            cursor.index += 1
            probs = _matrix_rows(cursor, fields.get("w"), name)
            pwm = PWM(name, alt_name, probs, int(fields.get("nsites", 20)), fields.get("E", 0.0))
        elif line.startswith("log-odds matrix"):
            _skip_numbers(cursor)
        elif not _looks_numeric(line):
            cursor.index += 1
        else:
            raise cursor.error(f"numbers {line[:40]!r} outside a letter-probability matrix.", name)
    if pwm is None:
        cursor.index = start
        raise cursor.error("motif has no 'letter-probability matrix:' section.", name)
    return pwm, start


def _motifs(cursor: _Cursor) -> Iterator[PWM]:
    """Every motif of the file, duplicate ids refused."""
    seen: dict[str, int] = {}
    while cursor.peek() is not None:
        pwm, start = _read_motif(cursor)
        if pwm.name in seen:
            cursor.index = start
            raise cursor.error(
                f"motif id {pwm.name} repeats the motif of line {seen[pwm.name] + 1}.", pwm.name
            )
        seen[pwm.name] = start
        yield pwm


def read_meme(path: str | os.PathLike[str]) -> list[PWM]:
    """Read every motif of a MEME minimal-format file (plain or gzipped).

    Parameters
    ----------
    path : str or PathLike
        The MEME file (see the module docstring for the format).

    Returns
    -------
    list of PWM
        Motifs in file order; ``probs`` rows renormalised to sum to 1.

    Raises
    ------
    InputError
        Missing file, bad header (no ``MEME version`` line), an alphabet other than ACGT,
        a motif without a matrix, a matrix with the wrong number of rows for ``w=`` or of
        columns, a word that is not a number, a negative entry, a row not summing to
        1 ± 0.01, a repeated motif id, or no motif at all. The message names the file,
        the line number and the motif.
    """
    path = Path(path)
    cursor = _Cursor(path, _lines(path))
    _read_header(cursor)
    pwms = list(_motifs(cursor))
    if not pwms:
        raise InputError(
            path, "no MOTIF in the file.", fix="give a MEME file with at least one motif."
        )
    return pwms


# --------------------------------------------------------------------------- writing


def write_meme(
    pwms: Sequence[PWM],
    path: str | os.PathLike[str],
    background: Sequence[float] | None = None,
) -> Path:
    """Write motifs as a MEME minimal-format (version 4) file, atomically.

    Parameters
    ----------
    pwms : sequence of PWM
        Motifs to write (at least one), in order.
    path : str or PathLike
        Destination file.
    background : sequence of 4 floats, optional
        A, C, G, T background frequencies for the header. Default uniform (0.25 each).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        No motif, or a background that is not 4 non-negative numbers summing to 1.
    """
    if not pwms:
        raise ValueError("write_meme: no motif to write.")
    freqs = np.full(4, 0.25) if background is None else np.asarray(background, dtype=float)
    if freqs.shape != (4,) or row_problem(freqs[None, :]):
        raise ValueError(f"write_meme: background must be 4 frequencies summing to 1, got {freqs}.")
    text = ["MEME version 4", "", f"ALPHABET= {ALPHABET}", "", "strands: + -", ""]
    text += ["Background letter frequencies"]
    text += [" ".join(f"{b} {f:.6f}" for b, f in zip(ALPHABET, freqs, strict=True)), ""]
    for pwm in pwms:
        text.append(f"MOTIF {pwm.label}")
        text.append(
            f"letter-probability matrix: alength= 4 w= {pwm.length} "
            f"nsites= {pwm.nsites} E= {pwm.evalue:g}"
        )
        text += [" " + "  ".join(f"{p:.6f}" for p in row) for row in pwm.probs]
        text.append("")
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(text))
    return path
