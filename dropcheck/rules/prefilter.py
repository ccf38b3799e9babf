"""Each rule's second pre-filter stage: whether it can report anything in a file, judged on
the sketch of the file's CPython tree (analysis/sketch.py), for a file whose bytes passed the
rule's tokens (``requires``).

Every function here is a necessary condition for its rule's findings, erring towards "maybe";
``tests/test_prefilter.py`` checks that findings are the same with and without them. They
live apart from the rule modules, which import LibCST and the analysis (~0.3 s): a file that
passes some rule's tokens but that no rule can match (most files a pre-commit run is given)
is then linted without importing either. A rule's ``could_match`` is its function here.
"""

from __future__ import annotations

from collections.abc import Callable

from dropcheck.analysis import torch_api as api
from dropcheck.analysis.layout import is_test_file
from dropcheck.analysis.mode_api import EXPORTS
from dropcheck.analysis.sketch import Sketch

#: Dropout layers (element-wise and channel-wise), by role.
DROPOUT_ROLES = frozenset({api.ROLE_DROPOUT, api.ROLE_CHANNEL_DROPOUT})
#: Layers whose output is a model's output (DC014).
OUTPUT_ROLES = frozenset({api.ROLE_LINEAR, api.ROLE_CONV})
#: Functional dropout whose ``training`` defaults to True (DC005), to False (DC012).
ALWAYS_ON = frozenset(
    name for name, default in api.FUNCTIONAL_DROPOUT_TRAINING_DEFAULT.items() if default)
NEVER_ON = frozenset(
    name for name, default in api.FUNCTIONAL_DROPOUT_TRAINING_DEFAULT.items() if not default)
RECURRENT = frozenset({api.NN + "RNN", api.NN + "LSTM", api.NN + "GRU"})
SDPA = api.F + "scaled_dot_product_attention"
#: What a helper file's bytes hold (a class there, or a name the sketch does not follow) when
#: the helper may set eval mode (``.eval()``, ``.train(False)``, ``from_pretrained``) or train
#: (``.step()``, ``.backward()``, a ``loss_scaler(loss, optimizer)``-style call,
#: ``trainer.fit()``/``trainer.train()``): DC008.
EVAL_TOKENS = (b"eval(", b"eval (", b"train(", b"train (", b"from_pretrained")
STEP_TOKENS = (b"step(", b"step (", b"backward(", b"backward (", b"opt", b"Opt", b"OPT",
               b"fit(", b"fit (", b"train(", b"train (")


def in_test_file(sketch: Sketch) -> bool:
    """Whether the file is a test file, where every flow unit is test code
    (analysis/test_code.py) and the mode rules, which report only on
    ``modes.results_outside_tests``, cannot report."""
    return sketch.path is not None and is_test_file(sketch.path)


def missing_eval(sketch: Sketch) -> bool:  # DC001
    # a model in training mode that may reach a forward under no_grad or after loading;
    # reports come from results_outside_tests only: none in a test file
    return not in_test_file(sketch) and sketch.reaches(sketch.inference_sites)


def dropout_with_batchnorm(sketch: Sketch) -> bool:  # DC004
    # layer roles come only from torch names the file refers to (an InstanceNorm with
    # track_running_stats counts as a running-stats norm)
    return sketch.flow_may_connect(
        api.names_with_role(*DROPOUT_ROLES),
        api.names_with_role(api.ROLE_RUNNING_NORM) | api.INSTANCE_NORMS,
        into_local_classes=False)


def dropout_after_conv(sketch: Sketch) -> bool:  # DC003
    # layer roles come only from torch names the file refers to
    return sketch.flow_may_connect(api.names_with_role(api.ROLE_DROPOUT),
                                   api.names_with_role(api.ROLE_CONV),
                                   into_local_classes=True)


def dropout_dimension_mismatch(sketch: Sketch) -> bool:  # DC009
    return sketch.flow_may_hold(api.names_with_role(api.ROLE_CHANNEL_DROPOUT))


def functional_dropout_always_on(sketch: Sketch) -> bool:  # DC005
    return sketch.omits(ALWAYS_ON, "training")


def dropout_on_output(sketch: Sketch) -> bool:  # DC014
    # a dropout and a Linear/conv in one layer flow (walk-back enters module classes)
    return sketch.flow_may_connect(api.names_with_role(*DROPOUT_ROLES),
                                   api.names_with_role(*OUTPUT_ROLES),
                                   into_local_classes=True)


def mc_dropout_via_train(sketch: Sketch) -> bool:  # DC007
    # every report is about an explicit `.train()` call, outside test files
    return not in_test_file(sketch) and sketch.calls_method("train")


def train_mode_not_restored(sketch: Sketch) -> bool:  # DC008
    # an eval-mode fact (`.eval()`, `.train(False)`, `from_pretrained`) and a training
    # step (`.backward()`, `.step()`) — either may be in a helper of another project
    # file whose bytes say so — outside test files
    return not in_test_file(sketch) and (
        (sketch.calls_method("eval", "train", "from_pretrained")
         or bool(sketch.project_helpers_doing(Sketch.unit_switches_mode, EVAL_TOKENS)))
        and (sketch.steps()
             or bool(sketch.project_helpers_doing(Sketch.unit_steps, STEP_TOKENS))))


def high_dropout_rate(sketch: Sketch) -> bool:  # DC002
    # a rate that may fold to a constant, or a name that says it is a keep probability
    return (sketch.constant_argument(api.RATE_PARAMETER, api.RATE_PARAMETER)
            or sketch.named_argument(api.RATE_PARAMETER, api.RATE_PARAMETER, "keep"))


def invalid_dropout_rate(sketch: Sketch) -> bool:  # DC006
    # a rate call whose rate may fold to a constant (unknown rates are never reported)
    return sketch.constant_argument(api.RATE_PARAMETER, api.RATE_PARAMETER)


def rnn_dropout_single_layer(sketch: Sketch) -> bool:  # DC010
    return sketch.constant_argument(RECURRENT, dict.fromkeys(RECURRENT, "dropout"))


def alpha_dropout_never_on(sketch: Sketch) -> bool:  # DC012
    return sketch.omits(NEVER_ON, "training")


def export_in_train_mode(sketch: Sketch) -> bool:  # DC013
    # an export that a training-mode model may reach, outside test files
    return not in_test_file(sketch) and sketch.reaches(sketch.units_calling(EXPORTS))


def inplace_dropout_after_saved_output(sketch: Sketch) -> bool:  # DC015
    # the producer may be a tensor method (`x.sigmoid()`): only the dropout is a name
    return sketch.flow_may_hold(api.names_with_role(*DROPOUT_ROLES))


def sdpa_dropout_always_on(sketch: Sketch) -> bool:  # DC011
    # an omitted dropout_p is 0.0, and one maybe passed through */** is never reported
    return any(sketch.argument(call, name, "dropout_p")
               for name, call in sketch.calls_to({SDPA}))


#: By the rule's module (each function is named after it); a rule without one may match any
#: file its tokens pass.
COULD_MATCH: dict[str, Callable[[Sketch], bool]] = {function.__name__: function for function in (
    missing_eval, high_dropout_rate, dropout_after_conv, dropout_with_batchnorm,
    functional_dropout_always_on, invalid_dropout_rate, mc_dropout_via_train,
    train_mode_not_restored, dropout_dimension_mismatch, rnn_dropout_single_layer,
    sdpa_dropout_always_on, alpha_dropout_never_on, export_in_train_mode, dropout_on_output,
    inplace_dropout_after_saved_output)}


def could_match(module: str, sketch: Sketch) -> bool:
    """The second stage of the rule defined in ``module`` (``dropcheck.rules.missing_eval``)."""
    found = COULD_MATCH.get(module.rpartition(".")[2])
    return found(sketch) if found is not None else True
