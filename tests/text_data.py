"""Synthetic movie reviews whose sentiment words decide the label, in IMDb's two layouts."""

import csv
import gzip
import random
from pathlib import Path

NEUTRAL = ("the movie film plot actor scene story director music camera time people character ending script "
           "cast year night house city").split()
POSITIVE = ("great", "excellent", "wonderful", "loved", "brilliant")
NEGATIVE = ("awful", "terrible", "boring", "hated", "dreadful")


def reviews(n: int, seed: int = 0) -> tuple[list[str], list[int]]:
    """``n`` reviews, half positive: neutral filler, two or three words of their sentiment, a ``<br />``."""
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        label = i % 2
        words = rng.choices(NEUTRAL, k=rng.randint(4, 12)) + rng.choices(POSITIVE if label else NEGATIVE, k=rng.randint(2, 3))
        rng.shuffle(words)
        words.insert(rng.randint(0, len(words)), "<br /><br />")
        texts.append(" ".join(words).capitalize() + ".")
        labels.append(label)
    return texts, labels


def write_csv(root: Path, n_train: int = 200, n_test: int = 100) -> Path:
    """``root/imdb/imdb_{train,test}.csv.gz`` as the shared copy has them; returns ``root``."""
    (root / "imdb").mkdir(parents=True, exist_ok=True)
    for split, n, seed in (("train", n_train, 0), ("test", n_test, 1)):
        texts, labels = reviews(n, seed)
        with gzip.open(root / "imdb" / f"imdb_{split}.csv.gz", "wt", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label", "rating", "id"])
            writer.writerows([t, y, 9 if y else 2, i] for i, (t, y) in enumerate(zip(texts, labels)))
    return root


def write_acl(root: Path, n_train: int = 20, n_test: int = 10) -> Path:
    """``root/aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt``; returns ``root``."""
    for split, n, seed in (("train", n_train, 0), ("test", n_test, 1)):
        for i, (text, label) in enumerate(zip(*reviews(n, seed))):
            folder = root / "aclImdb" / split / ("pos" if label else "neg")
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{i}_{9 if label else 2}.txt").write_text(text, encoding="utf-8")
    return root
