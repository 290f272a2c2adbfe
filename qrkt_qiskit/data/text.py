"""Text datasets as padded token ids: IMDb, and the WordPiece tokenizer trained on its training split.

The tokenizer is a Hugging Face ``tokenizers`` WordPiece model whose normaliser strips the
``<br />`` tags of IMDb's reviews and lower-cases; it is trained on the training split only
(validation and test stay unseen) and saved as one JSON file, so a run directory that holds
it encodes text exactly as it did in training. Every review becomes ``[CLS] … [SEP]``,
truncated or right-padded with ``[PAD]`` (id 0) to ``max_length`` ids.
"""

from __future__ import annotations

import csv
import gzip
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from ..catalog import TEXT_DATASETS
from .vision import Splits

__all__ = ["SPECIAL_TOKENS", "TEXT_DATASETS", "TextSplits", "encode", "load_text", "load_tokenizer", "read_imdb",
           "train_tokenizer"]

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")  # ids 0-3, in this order
PAD_ID = 0
# A tenth of IMDb's 25k training reviews become validation: the thesis' 22.5k/2.5k/25k.
VALIDATION_FRACTION = 0.1
ENCODE_CHUNK = 2048


@dataclass(frozen=True)
class TextSplits(Splits):
    """Train, validation and test token ids ``(N, max_length)`` (int64, ``[PAD]`` = 0), labels ``(N,)``, the tokenizer."""

    tokenizer: Tokenizer


def train_tokenizer(texts: Sequence[str], *, vocab_size: int = 20_000) -> Tokenizer:
    """A WordPiece tokenizer trained on ``texts`` (lower-cased, ``<br />`` stripped).

    Args:
        texts: the training split's reviews; nothing else should be seen.
        vocab_size: the largest vocabulary, special tokens included (smaller when the texts
            hold fewer distinct pieces).

    Returns:
        The tokenizer; it adds ``[CLS]`` and ``[SEP]`` around each text and maps words it
        cannot piece together to ``[UNK]``. Its pieces are numbered in sorted order, after
        the special tokens. Retraining on the same texts may still choose a few different
        pieces where candidates tie at the vocabulary's limit, so save it
        (``Tokenizer.save``) beside the model it feeds.
    """
    if vocab_size <= len(SPECIAL_TOKENS):
        raise ValueError(f"vocab_size must exceed the {len(SPECIAL_TOKENS)} special tokens, got {vocab_size}")
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Sequence([
        normalizers.Replace(Regex(r"<br\s*/?>"), " "),
        normalizers.BertNormalizer(clean_text=True, lowercase=True),
    ])
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    # Its own progress bar (training on 22,500 reviews takes about a minute), on a terminal
    # only: elsewhere it writes blank lines to stdout.
    terminal = sys.stdout.isatty() and sys.stderr.isatty()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), show_progress=terminal)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    # The trainer numbers pieces in hash-map order, which differs from run to run; number them
    # in sorted order instead, so the same vocabulary always gets the same ids.
    pieces = sorted(set(tokenizer.get_vocab()) - set(SPECIAL_TOKENS))
    tokenizer.model = models.WordPiece({t: i for i, t in enumerate(SPECIAL_TOKENS + tuple(pieces))}, unk_token="[UNK]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[(t, tokenizer.token_to_id(t)) for t in ("[CLS]", "[SEP]")])
    return tokenizer


def load_tokenizer(path: str | Path) -> Tokenizer:
    """The tokenizer saved at ``path`` (``Tokenizer.save``), e.g. a run directory's ``tokenizer.json``."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no tokenizer at {path}")
    return Tokenizer.from_file(str(path))


def encode(tokenizer: Tokenizer, texts: Sequence[str], max_length: int = 512) -> torch.Tensor:
    """Token ids ``(len(texts), max_length)``: ``[CLS] … [SEP]``, truncated or right-padded with ``[PAD]`` (0)."""
    if max_length < 2:
        raise ValueError(f"max_length must leave room for [CLS] and [SEP], got {max_length}")
    tokenizer = Tokenizer.from_str(tokenizer.to_str())  # a copy: padding settings stay off the caller's tokenizer
    tokenizer.enable_truncation(max_length)
    tokenizer.enable_padding(pad_id=PAD_ID, pad_token="[PAD]", length=max_length)
    texts = list(texts)
    ids = torch.empty(len(texts), max_length, dtype=torch.int64)
    for start in range(0, len(texts), ENCODE_CHUNK):  # chunks bound the Python lists of ids in memory
        encodings = tokenizer.encode_batch(texts[start:start + ENCODE_CHUNK])
        ids[start:start + len(encodings)] = torch.from_numpy(np.array([e.ids for e in encodings], dtype=np.int64))
    return ids


def read_imdb(root: str | Path) -> tuple[tuple[list[str], torch.Tensor], tuple[list[str], torch.Tensor]]:
    """IMDb's labelled train and test reviews (label 1 = positive) from ``root``.

    ``root`` holds either the ``aclImdb`` folder (``{train,test}/{pos,neg}/*.txt``) or the CSV
    form (``imdb/imdb_{train,test}.csv.gz`` with columns text,label), or is one of those folders.

    Raises:
        FileNotFoundError: neither layout is there; the message names both.
    """
    root = Path(root)
    for folder in (root / "aclImdb", root):
        if all((folder / split / polarity).is_dir() for split in ("train", "test") for polarity in ("pos", "neg")):
            return _read_acl(folder, "train"), _read_acl(folder, "test")
    for folder in (root / "imdb", root):
        paths = [folder / f"imdb_{split}.csv.gz" for split in ("train", "test")]
        if all(p.is_file() for p in paths):
            return _read_csv(paths[0]), _read_csv(paths[1])
    raise FileNotFoundError(f"imdb not found under {root}: expected aclImdb/{{train,test}}/{{pos,neg}}/*.txt or "
                            "imdb/imdb_train.csv.gz and imdb/imdb_test.csv.gz")


def load_text(name: str, root: str | Path | None, *, tokenizer: Tokenizer | None = None, seed: int = 0,
              max_length: int = 512, vocab_size: int = 20_000) -> TextSplits:
    """Load dataset ``name`` with the thesis split drawn by ``seed``, as token ids.

    Args:
        name: ``"imdb"``.
        root: the folder `read_imdb` reads.
        tokenizer: encodes the reviews; ``None`` trains one on the training split (after the
            validation reviews are drawn out), returned as ``TextSplits.tokenizer``.
        seed: draws which training reviews become the validation split.
        max_length: ids per review, ``[CLS]`` and ``[SEP]`` included.
        vocab_size: the vocabulary of a newly trained tokenizer.

    Raises:
        ValueError: for an unknown dataset or a missing ``root``.
        FileNotFoundError: when the files are not under ``root``.
    """
    if name not in TEXT_DATASETS:
        raise ValueError(f"unknown text dataset {name!r}; choose one of: {', '.join(TEXT_DATASETS)}")
    if root is None:
        raise ValueError(f"dataset {name!r} needs a data root (--data-root) holding its files")
    (texts, labels), (test_texts, test_labels) = read_imdb(root)
    perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    n_val = round(VALIDATION_FRACTION * len(labels))
    val_idx, train_idx = perm[:n_val].tolist(), perm[n_val:].tolist()
    train_texts = [texts[i] for i in train_idx]
    if tokenizer is None:
        tokenizer = train_tokenizer(train_texts, vocab_size=vocab_size)
    ids = lambda part: encode(tokenizer, part, max_length)  # noqa: E731
    return TextSplits((ids(train_texts), labels[train_idx]), (ids([texts[i] for i in val_idx]), labels[val_idx]),
                      (ids(test_texts), test_labels), 2, tokenizer)


def _read_acl(folder: Path, split: str) -> tuple[list[str], torch.Tensor]:
    texts, labels = [], []
    for label, polarity in enumerate(("neg", "pos")):
        files = sorted((folder / split / polarity).glob("*.txt"))
        texts += [p.read_text(encoding="utf-8") for p in files]
        labels += [label] * len(files)
    return texts, torch.tensor(labels, dtype=torch.int64)


def _read_csv(path: Path) -> tuple[list[str], torch.Tensor]:
    csv.field_size_limit(10**8)  # some reviews exceed the default 128 kB field
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    if rows and not {"text", "label"} <= set(rows[0]):
        raise ValueError(f"{path} lacks the columns text and label")
    return [r["text"] for r in rows], torch.tensor([int(r["label"]) for r in rows], dtype=torch.int64)
