"""The classifier score: high on held-out real images, near zero on noise, cached once trained."""

import torch

from qrkt_qiskit.data.gan import load_gan_labelled
from qrkt_qiskit.evaluation.classifier_score import classifier_score, load_classifier, train_classifier


def test_real_held_out_digits_are_recognised_and_noise_is_not():
    train, test = load_gan_labelled("digits")
    classifier, accuracy = train_classifier(train, test, epochs=40)
    assert accuracy > 0.9
    real = classifier_score(classifier, test[0], classifier_accuracy=accuracy)
    assert real.confident >= 0.9 and real.samples == len(test[1]) and sum(real.histogram) == real.samples
    assert min(real.histogram) > 20  # every class of the held-out digits shows up
    noise = classifier_score(classifier, torch.rand(500, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1)
    # 64 pixels of uniform noise: a CNN is overconfident off its data on some (15 % here; on MNIST's
    # 32×32, 1.8 % of noise images against 96 % of real test images, docs/gan.md)
    assert noise.confident < 0.25 < 0.9 < real.confident
    one_class = classifier_score(classifier, test[0][test[1] == 3])
    assert one_class.histogram[3] > 0.9 * one_class.samples  # a collapsed generator shows in the histogram
    assert "of 359 samples classified with confidence ≥ 0.9" in str(real)


def test_a_trained_classifier_is_cached_and_read_back_with_the_same_weights(tmp_path):
    calls = []

    def data():
        calls.append(1)
        return load_gan_labelled("digits")

    first, accuracy = load_classifier("digits-8", data, epochs=1, cache_dir=tmp_path)
    again, cached_accuracy = load_classifier("digits-8", data, epochs=1, cache_dir=tmp_path)
    assert calls == [1] and cached_accuracy == accuracy
    x = load_gan_labelled("digits")[1][0][:5]
    torch.testing.assert_close(first.eval()(x), again(x))
    assert [p.name for p in tmp_path.iterdir()] == ["classifier-digits-8-e1.pt"]  # no temporary left behind
