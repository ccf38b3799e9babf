"""Check a live PyTorch model's dropout in your own tests (needs torch: ``dropcheck[runtime]``).

    from dropcheck.runtime import assert_eval_deterministic, assert_dropout_scaling, audit

    def test_model_dropout():
        model = build_model()
        x = torch.randn(8, 128)
        assert_eval_deterministic(model, x)   # eval output independent of the RNG seed
        assert_dropout_scaling(model, x)      # every dropout module is inverted dropout at p
        assert not audit(model, x)            # all checks, plus rates and layer order

Findings (:class:`RuntimeFinding`) use the static rules' codes where the meaning is the same
and DC1xx codes for problems only a live model shows (``dropcheck rule DC103``). Every function
restores each module's ``training`` flag and the caller's RNG state, and never calls
``model.train()`` on the whole model. ``import dropcheck`` never imports this package.
"""

from __future__ import annotations

from dropcheck.runtime._audit import audit
from dropcheck.runtime._common import DropcheckError
from dropcheck.runtime._determinism import assert_eval_deterministic, check_eval_determinism
from dropcheck.runtime._mc import mc_dropout, mc_predict
from dropcheck.runtime._order import check_layer_order
from dropcheck.runtime._scaling import assert_dropout_scaling, check_dropout_scaling
from dropcheck.runtime_codes import RuntimeFinding

#: Runtime findings are :class:`RuntimeFinding`s (module path instead of a line).
Finding = RuntimeFinding

__all__ = [
    "DropcheckError",
    "Finding",
    "RuntimeFinding",
    "assert_dropout_scaling",
    "assert_eval_deterministic",
    "audit",
    "check_dropout_scaling",
    "check_eval_determinism",
    "check_layer_order",
    "mc_dropout",
    "mc_predict",
]
