"""Runtime findings and the documentation of the runtime-only codes (DC1xx). Never imports torch.

``dropcheck.runtime`` reports with the static codes where the meaning is the same (DC005: a
functional dropout left on in eval mode, DC003: element-wise dropout on a conv feature map, ...)
and with the codes below for problems only a live model shows. ``dropcheck rule DC103`` prints
their documentation like a static rule's.
"""

from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class RuntimeFinding:
    """One problem in a live model. ``path`` is the ``named_modules()`` path ("" is the root)."""

    code: str
    name: str
    path: str
    module_class: str
    message: str
    #: Runtime findings have no source position; kept so they read like static findings.
    line: int | None = None

    @property
    def where(self) -> str:
        return f"{self.path or '<root>'} ({self.module_class})"

    def __str__(self) -> str:
        return f"{self.where}: {self.message} [{self.code}]"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RuntimeCode:
    """A runtime-only code: the same fields and documentation shape as a static rule."""

    code: str
    name: str
    message: str
    doc: str
    preview: bool = False

    def documentation(self) -> str:
        return inspect.cleandoc(self.doc)


RANDOM_IN_EVAL = RuntimeCode(
    "DC101",
    "random-in-eval",
    "A module draws random numbers in eval mode, so inference is not reproducible",
    """
    ## What it does
    Reported by `dropcheck.runtime.assert_eval_deterministic` / `check_eval_determinism` (and
    `audit`) when the model in eval mode gives different outputs for different RNG seeds and a
    module draws random numbers during the eval forward: `torch.randn_like`, `torch.rand`,
    `Tensor.bernoulli_`, `torch.multinomial`, ... (a functional dropout left on is DC005
    instead). The module is named by its `named_modules()` path.

    ## Why is this bad?
    `model.eval()` switches off torch's own dropout, but not random ops written in a `forward`:
    noise injection, random masking, sampling. Predictions then change from run to run, metrics
    are noisy and results cannot be reproduced.

    ## Example
    ```python
    class Noise(nn.Module):
        def forward(self, x):
            return x + 0.1 * torch.randn_like(x)
    ```

    ## Use instead
    ```python
    class Noise(nn.Module):
        def forward(self, x):
            if self.training:
                x = x + 0.1 * torch.randn_like(x)
            return x
    ```
    If the randomness is intended at inference (a sampling layer, a VAE's reparameterization),
    pass the class or the path to `allow=`: its draws are then held fixed across the runs.

    ## References
    - [torch.nn.Module.eval](https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.eval)
    """,
)

NONDETERMINISTIC_OUTPUT = RuntimeCode(
    "DC102",
    "nondeterministic-eval-output",
    "Eval outputs differ between runs although no module drew random numbers",
    """
    ## What it does
    Reported by `assert_eval_deterministic` when the outputs of identical eval forwards differ
    but no module advanced a random number generator: the difference comes from a
    nondeterministic kernel (atomic adds in CUDA `index_add_`/`scatter_add_`, some cuDNN
    algorithms, multithreaded reductions) or from state the model changes on each call (a
    counter, a cache, a buffer updated in `forward`).

    ## Why is this bad?
    Outputs that change between identical calls make tests flaky and results irreproducible.
    Dropout is not the cause here, so the fix is elsewhere.

    ## Example
    ```python
    out = torch.zeros(n).index_add_(0, idx, src)  # on CUDA: order of atomic adds varies
    ```

    ## Use instead
    ```python
    torch.use_deterministic_algorithms(True)  # raises on kernels without a deterministic mode
    ```
    or compare with a tolerance: `assert_eval_deterministic(model, x, atol=1e-6)`.

    ## References
    - [Reproducibility](https://pytorch.org/docs/stable/notes/randomness.html)
    """,
)

DROPOUT_WRONG_SCALING = RuntimeCode(
    "DC103",
    "dropout-wrong-scaling",
    "A dropout module does not scale kept units by 1 / (1 - p)",
    """
    ## What it does
    Reported by `check_dropout_scaling` (and `audit`) when a dropout module in training mode
    (torch's `_DropoutNd` layers and custom classes whose name contains "Dropout") outputs kept
    units that are not `x / (1 - p)`: no rescaling at all (non-inverted dropout), scaling by
    `1 / p` (keep-probability confusion), or an output that is not a rescaled copy of the input.
    The comparison is exact up to floating-point rounding, so it has no false alarms.

    ## Why is this bad?
    torch's layers use *inverted* dropout: kept units are scaled up at training time so that the
    expected activation is the same in train and eval mode, and eval is the identity. A custom
    dropout that does not rescale makes every layer after it see activations `(1 - p)` times
    smaller in training than at inference: the model is evaluated on a distribution it never saw.

    ## Example
    ```python
    class MyDropout(nn.Module):
        def forward(self, x):
            if not self.training:
                return x
            return x * (torch.rand_like(x) > self.p)
    ```

    ## Use instead
    ```python
    class MyDropout(nn.Module):
        def forward(self, x):
            if not self.training:
                return x
            return x * (torch.rand_like(x) > self.p) / (1 - self.p)
    ```
    or simply `nn.Dropout(p)`.

    ## References
    - Srivastava et al., *Dropout*, JMLR 2014, section 10 (weight scaling at test time)
    - [torch.nn.Dropout](https://pytorch.org/docs/stable/generated/torch.nn.Dropout.html)
    """,
)

DROPOUT_WRONG_RATE = RuntimeCode(
    "DC104",
    "dropout-wrong-rate",
    "The fraction of units a dropout module drops does not match its p",
    """
    ## What it does
    Reported by `check_dropout_scaling` when the fraction of units (channels for
    `Dropout1d/2d/3d`) that a dropout module in training mode drops is statistically
    incompatible with its `p`: a two-sided Chernoff-Hoeffding test whose false-alarm probability
    is at most `alpha` per module (default 1e-9), whatever the input. The usual cause is a
    custom dropout that uses `p` as the *keep* probability (`mask = rand < p`), or one that never
    drops anything.

    ## Why is this bad?
    The model trains with a different regularization than configured: `p=0.1` that drops 90 % of
    the units makes the model underfit, silently.

    At `p = 0.5` keeping and dropping have the same probability, so a keep/drop confusion cannot
    be seen in the drop fraction: that is this check's blind spot.

    ## Example
    ```python
    mask = (torch.rand_like(x) < self.p).float()  # keeps with probability p
    return x * mask / self.p
    ```

    ## Use instead
    ```python
    mask = (torch.rand_like(x) >= self.p).float()  # drops with probability p
    return x * mask / (1 - self.p)
    ```

    ## References
    - Hoeffding, *Probability inequalities for sums of bounded random variables*, JASA 1963
    """,
)

DROPOUT_NOT_IDENTITY_IN_EVAL = RuntimeCode(
    "DC105",
    "dropout-not-identity-in-eval",
    "A dropout module changes its input in eval mode",
    """
    ## What it does
    Reported by `check_dropout_scaling` when a dropout module in eval mode returns anything but
    its input unchanged (for example non-inverted dropout that multiplies by `1 - p` at
    inference, or a custom dropout that ignores `self.training`).

    ## Why is this bad?
    With inverted dropout (torch's convention, which the rest of a torch model assumes) eval is
    the identity. A layer that rescales or masks at inference gives outputs that differ from
    every other implementation of the same model, and from its exported versions.

    ## Example
    ```python
    def forward(self, x):
        if not self.training:
            return x * (1 - self.p)
        return x * (torch.rand_like(x) > self.p)
    ```

    ## Use instead
    ```python
    def forward(self, x):
        if not self.training:
            return x
        return x * (torch.rand_like(x) > self.p) / (1 - self.p)
    ```

    ## References
    - [torch.nn.Dropout](https://pytorch.org/docs/stable/generated/torch.nn.Dropout.html)
    """,
)

NOT_ENOUGH_EVIDENCE = RuntimeCode(
    "DC106",
    "not-enough-evidence",
    "The input is too small to check a dropout module's drop rate",
    """
    ## What it does
    Reported by `check_dropout_scaling` when a dropout module saw too few informative units
    (channels for `Dropout1d/2d/3d`; zero inputs carry no information) for the drop-rate test to
    detect even gross errors (dropout that never drops, or keep/drop confusion) at the
    requested false-alarm probability `alpha`. The module is reported rather than passed, so a
    green test means the module was actually checked.

    ## Why is this bad?
    A check that passes because it saw nothing gives false confidence.

    ## Example
    ```python
    dropcheck.check_dropout_scaling(model, torch.randn(1, 4))  # 4 units, p=0.1
    ```

    ## Use instead
    ```python
    dropcheck.check_dropout_scaling(model, torch.randn(64, 128))  # a realistic batch
    ```
    Channel dropout needs many channels times batch elements: use a larger batch.

    ## References
    - Hoeffding, *Probability inequalities for sums of bounded random variables*, JASA 1963
    """,
)

RUNTIME_CODES: tuple[RuntimeCode, ...] = (
    RANDOM_IN_EVAL,
    NONDETERMINISTIC_OUTPUT,
    DROPOUT_WRONG_SCALING,
    DROPOUT_WRONG_RATE,
    DROPOUT_NOT_IDENTITY_IN_EVAL,
    NOT_ENOUGH_EVIDENCE,
)

#: The names of the static codes the runtime reuses (same meaning, found in a live model).
STATIC_NAMES: dict[str, str] = {
    "DC002": "high-dropout-rate",
    "DC003": "dropout-after-conv",
    "DC004": "dropout-with-batchnorm",
    "DC005": "functional-dropout-always-on",
    "DC006": "invalid-dropout-rate",
    "DC009": "dropout-dimension-mismatch",
    "DC010": "rnn-dropout-single-layer",
    "DC011": "sdpa-dropout-always-on",
}


def runtime_code(code_or_name: str) -> RuntimeCode | None:
    key = code_or_name.strip()
    for entry in RUNTIME_CODES:
        if entry.code == key.upper() or entry.name == key:
            return entry
    return None


def code_name(code: str) -> str:
    """The kebab-case name of a code the runtime reports (static or runtime-only)."""
    entry = runtime_code(code)
    return entry.name if entry is not None else STATIC_NAMES[code]
