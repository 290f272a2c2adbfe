"""IMDb and its WordPiece tokenizer, on synthetic reviews the tests write themselves."""

import gzip

import pytest
import torch

from qrkt_qiskit.data import encode, load_text, load_tokenizer, read_imdb, train_tokenizer

from ..text_data import reviews, write_acl, write_csv

PAD, UNK, CLS, SEP = 0, 1, 2, 3


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(reviews(200)[0], vocab_size=120)


def test_special_tokens_come_first_and_wrap_every_review(tokenizer):
    assert [tokenizer.token_to_id(t) for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]")] == [PAD, UNK, CLS, SEP]
    ids = encode(tokenizer, ["The movie was GREAT.<br /><br />Loved it"], max_length=16)
    assert ids.shape == (1, 16) and ids.dtype == torch.int64
    n = int((ids != PAD).sum())
    assert ids[0, 0] == CLS and ids[0, n - 1] == SEP and (ids[0, n:] == PAD).all()


def test_round_trip_is_lower_case_without_br_tags(tokenizer):
    ids = encode(tokenizer, ["The movie was GREAT.<br /><br />The plot"], max_length=32)[0]
    assert tokenizer.decode(ids.tolist()) == "the movie was great. the plot"
    assert not {"<", "br", ">", "/"} & set(tokenizer.encode("great<br />film").tokens)


def test_same_text_same_ids_after_save_and_load(tokenizer, tmp_path):
    texts = reviews(20, seed=5)[0] + ["a brilliant, dreadful film"]
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    loaded = load_tokenizer(tmp_path / "tokenizer.json")
    want = encode(tokenizer, texts, 24)
    assert torch.equal(encode(loaded, texts, 24), want)
    assert torch.equal(encode(load_tokenizer(tmp_path / "tokenizer.json"), texts, 24), want)


def test_unknown_words_map_to_unk(tokenizer):
    assert tokenizer.encode("qzj").tokens == ["[CLS]", "[UNK]", "[SEP]"]
    ids = encode(tokenizer, ["great qzj film"], 8)[0].tolist()
    assert ids.count(UNK) == 1 and tokenizer.decode(ids) == "great film"


def test_empty_and_overlong_reviews(tokenizer):
    ids = encode(tokenizer, ["", " great" * 1000], max_length=512)
    assert ids.shape == (2, 512)
    assert ids[0, :2].tolist() == [CLS, SEP] and (ids[0, 2:] == PAD).all()
    assert ids[1, 0] == CLS and ids[1, -1] == SEP and (ids[1] != PAD).all()  # truncated to 512, [SEP] kept


def test_both_layouts_read_the_same_reviews(tmp_path):
    (acl_texts, acl_labels), (_, test_labels) = read_imdb(write_acl(tmp_path / "acl", 20, 10))
    (csv_texts, csv_labels), _ = read_imdb(write_csv(tmp_path / "csv", 20, 10))
    assert sorted(zip(acl_texts, acl_labels.tolist())) == sorted(zip(csv_texts, csv_labels.tolist()))
    assert test_labels.tolist().count(1) == 5
    # The folders themselves may be passed as the root too.
    assert read_imdb(tmp_path / "csv" / "imdb")[0][0] == csv_texts
    assert read_imdb(tmp_path / "acl" / "aclImdb")[0][0] == acl_texts


def test_thesis_split_a_tenth_for_validation_seeded(tmp_path):
    root = write_csv(tmp_path, 200, 50)
    data = load_text("imdb", root, seed=3, max_length=24, vocab_size=100)
    assert [len(s[1]) for s in (data.train, data.val, data.test)] == [180, 20, 50]
    assert data.train[0].shape == (180, 24) and data.n_classes == 2
    again = load_text("imdb", root, seed=3, max_length=24, tokenizer=data.tokenizer)
    assert torch.equal(again.val[0], data.val[0]) and torch.equal(again.val[1], data.val[1])
    assert not torch.equal(load_text("imdb", root, seed=4, max_length=24, tokenizer=data.tokenizer).val[1], data.val[1])


def test_mistakes_are_one_sentence(tmp_path, tokenizer):
    with pytest.raises(FileNotFoundError, match=r"imdb not found under .*: expected aclImdb/\{train,test\}/\{pos,neg\}"
                                                r"/\*\.txt or imdb/imdb_train\.csv\.gz and imdb/imdb_test\.csv\.gz"):
        load_text("imdb", tmp_path)
    with pytest.raises(ValueError, match=r"dataset 'imdb' needs a data root \(--data-root\) holding its files"):
        load_text("imdb", None)
    with pytest.raises(ValueError, match=r"unknown text dataset 'sst2'; choose one of: imdb"):
        load_text("sst2", tmp_path)
    with pytest.raises(ValueError, match=r"vocab_size must exceed the 4 special tokens, got 4"):
        train_tokenizer(["a b"], vocab_size=4)
    with pytest.raises(ValueError, match=r"max_length must leave room for \[CLS\] and \[SEP\], got 1"):
        encode(tokenizer, ["a"], 1)
    with pytest.raises(FileNotFoundError, match=r"no tokenizer at .*missing.json"):
        load_tokenizer(tmp_path / "missing.json")
    (tmp_path / "imdb").mkdir()
    for split in ("train", "test"):
        with gzip.open(tmp_path / "imdb" / f"imdb_{split}.csv.gz", "wt") as f:
            f.write("review,sentiment\nfine,1\n")
    with pytest.raises(ValueError, match=r"imdb_train.csv.gz lacks the columns text and label"):
        read_imdb(tmp_path)
