"""The HMM with branches on the hidden state: plait.exact against the forward algorithm."""

import plait
import pytest
from hmm import forward_log_evidence, hmm, hmm_data, hmm_fold


@pytest.mark.parametrize("steps", [1, 2, 4])
def test_exact_on_the_plain_loop_is_the_forward_algorithm(steps):
    ys = hmm_data(steps)
    assert float(plait.exact(hmm, ys).log_evidence) == pytest.approx(
        forward_log_evidence(ys), rel=1e-12)


def test_exact_on_the_fold_is_the_forward_algorithm():
    # fold merges equal states after every step: a long series stays cheap.
    ys = hmm_data(50)
    assert float(plait.exact(hmm_fold, ys).log_evidence) == pytest.approx(
        forward_log_evidence(ys), rel=1e-12)
