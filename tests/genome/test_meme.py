"""MEME minimal-format reading and writing, and JASPAR motifs through pyjaspar."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from exprflow.errors import InputError
from exprflow.genome.meme import PWM, jaspar_pwms, read_meme, write_meme

HEADER = """MEME version 4

ALPHABET= ACGT

strands: + -

Background letter frequencies
A 0.3 C 0.2 G 0.2 T 0.3

"""

#: A JASPAR-like download: blank lines, URL lines, a log-odds section, missing fields.
REAL = (
    HEADER
    + """MOTIF MA0139.2 CTCF
letter-probability matrix: alength= 4 w= 3 nsites= 200 E= 1.5e-10
 0.100000  0.200000  0.300000  0.400000
 0.250000  0.250000  0.250000  0.250000

 0.000000  1.000000  0.000000  0.000000
URL http://jaspar.genereg.net/matrix/MA0139.2

MOTIF plain
letter-probability matrix:
0.5 0.5 0 0
0 0 0.5 0.5
log-odds matrix: alength= 4 w= 2
 1.0 1.0 -3.0 -3.0
 -3.0 -3.0 1.0 1.0

URL http://example.org/plain
MOTIF MA0079.5 SP1 long name
letter-probability matrix: alength= 4 w= 1 nsites= 7
 0.2500001 0.25 0.25 0.25
"""
)


def _write(tmp_path: Path, text: str, name: str = "motifs.meme") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pwms = [
        PWM("MA0001.1", "AGL3", rng.dirichlet(np.ones(4), size=7), nsites=97, evalue=1.5e-3),
        PWM("solo", "", rng.dirichlet(np.ones(4), size=12)),
    ]
    path = write_meme(pwms, tmp_path / "out.meme", background=[0.3, 0.2, 0.2, 0.3])
    back = read_meme(path)
    assert [(p.name, p.alt_name, p.nsites, p.evalue) for p in back] == [
        ("MA0001.1", "AGL3", 97, 1.5e-3),
        ("solo", "", 20, 0.0),
    ]
    for original, read in zip(pwms, back, strict=True):
        np.testing.assert_allclose(read.probs, original.probs, atol=2e-6)
        np.testing.assert_allclose(read.probs.sum(axis=1), 1.0, atol=1e-12)
    assert "Background letter frequencies\nA 0.300000 C 0.200000" in path.read_text()


def test_real_looking_file(tmp_path: Path) -> None:
    pwms = read_meme(_write(tmp_path, REAL))
    assert [p.label for p in pwms] == ["MA0139.2 CTCF", "plain", "MA0079.5 SP1 long name"]
    ctcf, plain, sp1 = pwms
    np.testing.assert_allclose(ctcf.probs[0], [0.1, 0.2, 0.3, 0.4])
    assert (ctcf.nsites, ctcf.evalue, ctcf.length, ctcf.consensus) == (200, 1.5e-10, 3, "TAC")
    assert (plain.length, plain.nsites, plain.evalue) == (2, 20, 0.0)
    assert sp1.alt_name == "SP1 long name" and sp1.nsites == 7
    np.testing.assert_allclose(sp1.probs.sum(), 1.0)
    np.testing.assert_allclose(ctcf.reverse_complement().probs[0], [0.0, 0.0, 1.0, 0.0])


def test_windows_line_endings_bom_and_gzip(tmp_path: Path) -> None:
    crlf = tmp_path / "crlf.meme"
    crlf.write_bytes(b"\xef\xbb\xbf" + REAL.replace("\n", "\r\n").encode())
    packed = tmp_path / "motifs.meme.gz"
    packed.write_bytes(gzip.compress(REAL.encode()))
    for path in (crlf, packed):
        assert [p.name for p in read_meme(path)] == ["MA0139.2", "plain", "MA0079.5"]


def test_custom_dna_alphabet_block_and_missing_alphabet(tmp_path: Path) -> None:
    block = (
        'MEME version 5\n\nALPHABET "DNA" DNA-LIKE\nA "Adenine" CC0000 ~ T "Thymine" 008000\n'
        'C "Cytosine" 0000CC ~ G "Guanine" FFB300\nN "Any base" = ACGT\nEND ALPHABET\n\n'
        "MOTIF m\nletter-probability matrix: alength= 4 w= 1\n0.1 0.2 0.3 0.4\n"
    )
    assert read_meme(_write(tmp_path, block))[0].name == "m"
    bare = "MEME version 4\nMOTIF m\nletter-probability matrix: w= 1\n1 0 0 0\n"
    assert read_meme(_write(tmp_path, bare, "bare.meme"))[0].consensus == "A"


def _motif(rows: str, fields: str = "alength= 4 w= 2") -> str:
    return HEADER + f"MOTIF bad alt\nletter-probability matrix: {fields}\n{rows}\nURL x\n"


# Header is 9 lines, so the MOTIF is line 10, the matrix header 11, its rows 12, 13, ...
@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (_motif("0.25 0.25 0.25 0.25"), 11, "matrix has 1 rows, expected 2"),
        (_motif("1 0 0 0\n0 1 0 0\n0 0 1 0"), 14, "more than 2 rows"),
        (_motif("1 0 0 0\n0.5 0.5 0"), 13, "3 columns, expected 4"),
        (_motif("1 0 0 0\n0.5 0.5 x 0"), 13, "not a number"),
        (_motif("0.5 0.4 0 0\n1 0 0 0"), 12, "sums to 0.9"),
        (_motif("1 0 0 0\n1.5 -0.5 0 0"), 13, "negative"),
        (_motif("1 0 0 0\nnan 0 0 1"), 13, "not a finite number"),
        (_motif("1 0 0 0\n0 1 0 0", "alength= 20 w= 2"), 11, "alength= 20"),
        (_motif("1 0 0 0\n0 1 0 0", "alength= 4 w= 1.5"), 11, "w= 1.5"),
        (HEADER + "MOTIF bad\nURL x\n", 10, "no 'letter-probability matrix:'"),
    ],
)
def test_malformed_matrix_names_file_line_and_motif(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(InputError, match=message) as caught:
        read_meme(path)
    assert caught.value.path == str(path)
    assert caught.value.record == f"line {line}, motif bad"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("hello\nMEME version 4\n", 1, "bad header 'hello'"),
        ("MEME version 4\n\nALPHABET= ACGU\n", 3, "alphabet 'ACGU' is not supported"),
        ('MEME version 5\nALPHABET "RNA" RNA-LIKE\nA ~ U\nC ~ G\nEND ALPHABET\n', 2, "ACGU"),
        ('MEME version 4\nALPHABET "DNA"\nA ~ T\n', 2, "no END ALPHABET"),
        ("MEME version 4\nstrands: + x\n", 2, "bad strands"),
        ("MEME version 4\nBackground letter frequencies\nA x C\n", 3, "bad background"),
        ("MOTIF m\n", 1, "no 'MEME version' line"),
        ("MEME version 4\nMOTIF\n", 2, "MOTIF line without a motif id"),
    ],
)
def test_bad_header_and_alphabet(tmp_path: Path, text: str, line: int, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        read_meme(_write(tmp_path, text))
    assert caught.value.record == f"line {line}"


def test_no_motif_duplicate_motif_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no MOTIF in the file"):
        read_meme(_write(tmp_path, HEADER))
    twice = REAL + "MOTIF plain\nletter-probability matrix: w= 1\n1 0 0 0\n"
    with pytest.raises(InputError, match="repeats the motif of line 18") as caught:
        read_meme(_write(tmp_path, twice, "twice.meme"))
    assert caught.value.record == "line 30, motif plain"
    with pytest.raises(InputError, match="not found"):
        read_meme(tmp_path / "absent.meme")


def test_pwm_and_writer_reject_bad_values(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"must be \(length, 4\)"):
        PWM("m", "", np.ones((3, 5)) / 5)
    with pytest.raises(ValueError, match="row 2 sums to 2"):
        PWM("m", "", np.array([[1.0, 0, 0, 0], [1.0, 1, 0, 0]]))
    with pytest.raises(ValueError, match="no motif"):
        write_meme([], tmp_path / "x.meme")
    with pytest.raises(ValueError, match="background"):
        write_meme([PWM("m", "", np.eye(4))], tmp_path / "x.meme", background=[0.5, 0.5, 0, 1])


def test_jaspar_gives_the_world_motifs() -> None:
    from exprflow.simulate.motifs import DEFAULT_TFS, load_motifs

    ids = [matrix_id for matrix_id, _ in DEFAULT_TFS]
    pwms = {p.name: p for p in jaspar_pwms(matrix_ids=ids)}
    assert set(pwms) == set(ids)
    for motif in load_motifs():
        pwm = pwms[motif.matrix_id]
        assert pwm.alt_name.upper() == motif.name
        np.testing.assert_allclose(pwm.probs, motif.probs, atol=1e-12)
        assert pwm.nsites > 0


def test_jaspar_names_are_case_insensitive_and_errors_are_clear() -> None:
    found = jaspar_pwms(tf_names=["spi1", "YY1"], release="JASPAR2024")
    assert {p.alt_name.upper() for p in found} == {"SPI1", "YY1"}
    dimer = jaspar_pwms(collection="CORE", tax_group="vertebrates", tf_names=["AHR::ARNT"])
    assert [p.alt_name for p in dimer] == ["Ahr::Arnt"]
    with pytest.raises(InputError, match="TF names not found: nosuchtf"):
        jaspar_pwms(tf_names=["NoSuchTF"])
    with pytest.raises(InputError, match=r"matrix ids not found: MA9999\.9"):
        jaspar_pwms(matrix_ids=["MA9999.9"])
    with pytest.raises(InputError, match="unknown JASPAR release"):
        jaspar_pwms(release="JASPAR1999")
    with pytest.raises(InputError, match="characters"):
        jaspar_pwms(tf_names=["x'; DROP TABLE"])
