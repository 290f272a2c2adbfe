"""The classifier score with its reject class: real digits pass, synthetic non-digits do not, and it is cached."""

import pytest
import torch

from qrkt_qiskit.data.gan import load_gan_labelled
from qrkt_qiskit.evaluation.classifier_score import classifier_score, load_classifier, train_classifier
from qrkt_qiskit.evaluation.non_digits import KINDS, non_digits


@pytest.fixture(scope="module")
def digits_classifier():
    """scikit-learn's 8×8 digits, 80 % to train on with a quarter as many non-digits (~12 CPU-s on one core): the
    test's own images, no data files."""
    train, test = load_gan_labelled("digits")
    classifier, accuracy = train_classifier(train, test, epochs=30, batch_size=64, width=16)
    return classifier, accuracy, test


def test_real_digits_pass_and_synthetic_non_digits_do_not(digits_classifier):
    classifier, accuracy, (x_test, y_test) = digits_classifier
    assert accuracy > 0.97
    real = classifier_score(classifier, x_test, classifier_accuracy=accuracy)
    assert real.confident >= 0.95 and real.samples == len(y_test) and sum(real.histogram) <= real.samples
    assert min(real.histogram) > 20  # every class of the held-out digits shows up
    fakes = non_digits(800, size=8, seed=12345)  # fresh draws, not the ones it was trained on
    assert classifier_score(classifier, fakes).confident <= 0.02
    for k, kind in enumerate(KINDS):  # each kind on its own
        assert classifier_score(classifier, fakes[k::len(KINDS)]).confident <= 0.02, kind
    noise = classifier_score(classifier, torch.rand(500, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1)
    assert noise.confident <= 0.02 and noise.rejected > 0.9
    one_class = classifier_score(classifier, x_test[y_test == 3])
    assert one_class.histogram[3] > 0.9 * one_class.samples  # a collapsed generator shows in the histogram
    assert "of 359 samples accepted (a digit class with probability ≥ 0.9)" in str(real)


def test_non_digits_are_images_in_range_of_every_kind():
    x = non_digits(8, size=16, channels=3, seed=1)
    assert x.shape == (8, 3, 16, 16) and x.min() >= -1 and x.max() <= 1
    assert torch.equal(x, non_digits(8, size=16, channels=3, seed=1)) and not torch.equal(x, non_digits(8, size=16,
                                                                                                        channels=3))


def test_a_trained_classifier_is_cached_and_read_back_with_the_same_weights(tmp_path):
    calls = []

    def data():
        calls.append(1)
        return load_gan_labelled("digits")

    first, accuracy = load_classifier("digits-8", data, epochs=1, cache_dir=tmp_path)
    again, cached_accuracy = load_classifier("digits-8", data, epochs=1, cache_dir=tmp_path)
    assert calls == [1] and cached_accuracy == accuracy and first.classes == 11  # ten digits and the reject class
    x = load_gan_labelled("digits")[1][0][:5]
    torch.testing.assert_close(first.eval()(x), again(x))
    assert [p.name for p in tmp_path.iterdir()] == ["classifier-digits-8-e1-reject.pt"]  # no temporary left behind
