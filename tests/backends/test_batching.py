"""`BatchingEstimator`: EstimatorQNN's PUBs merged into few PUBs and calls, each caller still given its own result.

Checked against a real `StatevectorEstimator`, with no mocks.
"""

import numpy as np
from qiskit.primitives import StatevectorEstimator

from qrkt_qiskit.backends import BatchingEstimator
from qrkt_qiskit.circuits import make_ansatz


class _Counted:
    """A real StatevectorEstimator that records what each primitive call received."""

    def __init__(self):
        self.calls, self.estimator = [], StatevectorEstimator()

    def __call__(self, pubs):
        self.calls.append([np.broadcast_shapes(p[1].shape, p[2].shape[:-1]) for p in pubs])
        return self.estimator.run(pubs, precision=0.0).result()


def test_forward_pubs_are_merged_into_one_pub_and_split_by_batch_size(capsys):
    ansatz = make_ansatz("qrkt", 3, 1)
    values = np.random.default_rng(0).random((10, ansatz.n_inputs + ansatz.n_weights))
    circuit = ansatz.circuit
    pubs = [(circuit, obs, values) for obs in ansatz.observables]  # EstimatorQNN's forward layout
    expected = [r.data.evs for r in StatevectorEstimator().run(pubs).result()]
    for batch_size, shapes in [(None, [[(3, 10)]]), (4, [[(3, 4)], [(3, 4)], [(3, 2)]])]:
        counted = _Counted()
        result = BatchingEstimator(counted, batch_size, "test").run(pubs).result()
        assert counted.calls == shapes
        for got, want in zip(result, expected):
            np.testing.assert_allclose(got.data.evs, want, atol=1e-12)
    assert "test" in capsys.readouterr().err  # several calls show a progress bar


def test_single_value_pubs_of_a_gradient_are_stacked_with_their_observables_broadcast():
    ansatz = make_ansatz("basic", 2, 1)
    rows = np.random.default_rng(1).random((6, 4))
    pubs = [(ansatz.circuit, obs, row) for obs in ansatz.observables for row in rows]  # EstimatorQNN's gradient layout
    counted = _Counted()
    result = BatchingEstimator(counted).run(pubs).result()
    assert counted.calls == [[(2, 6)]]  # one PUB: 6 parameter sets, both observables from the same shots
    expected = StatevectorEstimator().run(pubs).result()
    np.testing.assert_allclose([float(r.data.evs) for r in result], [float(r.data.evs) for r in expected],
                               atol=1e-12)


def test_pubs_of_one_circuit_and_observables_concatenate_their_rows():
    ansatz = make_ansatz("qrkt", 3, 1)
    rng = np.random.default_rng(2)
    obs = [[o] for o in ansatz.observables]  # (3, 1): broadcast against the rows
    batches = [rng.random((n, ansatz.n_inputs + ansatz.n_weights)) for n in (2, 5, 3)]  # three layers' calls
    pubs = [(ansatz.circuit, obs, b) for b in batches] + [(ansatz.circuit, ansatz.observables[0], batches[0][0])]
    counted = _Counted()
    result = BatchingEstimator(counted).run(pubs).result()
    assert counted.calls == [[(3, 10), ()]]
    expected = StatevectorEstimator().run(pubs, precision=0.0).result()
    for got, want in zip(result, expected):
        assert got.data.evs.shape == want.data.evs.shape
        np.testing.assert_allclose(got.data.evs, want.data.evs, atol=1e-12)
