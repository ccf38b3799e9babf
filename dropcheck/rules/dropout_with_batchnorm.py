from __future__ import annotations

from dropcheck.analysis import torch_api as api
from dropcheck.analysis.layers import through_text, walk_forward
from dropcheck.rules.base import Rule
from dropcheck.rules.prefilter import DROPOUT_ROLES as _DROPOUTS

#: Layers that pass dropout's variance on unchanged in kind: a BatchNorm after them still sees
#: it. Weight layers, per-sample norms and anything unknown end the walk.
_PASS_THROUGH = frozenset(
    {api.ROLE_ACTIVATION, api.ROLE_POOL, api.ROLE_GLOBAL_POOL, api.ROLE_IDENTITY,
     api.ROLE_RESHAPE}
)


class DropoutWithBatchnorm(Rule):
    """
    ## What it does
    Flags a dropout whose output reaches a normalizer with running statistics
    (`nn.BatchNorm1d/2d/3d`, `nn.SyncBatchNorm`, `nn.LazyBatchNorm*d`, `F.batch_norm`,
    `nn.InstanceNorm*d(..., track_running_stats=True)`) through layers that pass it on
    unchanged (activations, pooling, flatten/reshape, `nn.Identity`).

    The order comes from `nn.Sequential(...)` and from the data flow of `forward()`, as for
    DC003; the finding is reported at the dropout's place in that order.

    ## Why is this bad?
    In training, BatchNorm normalizes with the statistics of dropped-out (and rescaled)
    activations and accumulates them as its running variance; in eval, dropout is off and the
    activations have a different variance, but BatchNorm still uses the training estimate.
    This "variance shift" (Li et al., CVPR 2019) makes eval outputs inconsistent with training
    and typically costs accuracy.

    Not reported: the recommended order BatchNorm -> activation -> Dropout; dropout before
    LayerNorm, GroupNorm or RMSNorm (no running statistics); dropout followed by a weight layer
    (`Linear`, `Conv*`) before the BatchNorm; separate branches merged by addition.

    ## Example
    ```python
    self.mlp = nn.Sequential(
        nn.Linear(256, 128), nn.ReLU(), nn.Dropout(0.5),
        nn.BatchNorm1d(128),
    )
    ```

    ## Use instead
    ```python
    self.mlp = nn.Sequential(
        nn.Linear(256, 128), nn.BatchNorm1d(128), nn.ReLU(),
        nn.Dropout(0.5),  # after the last BatchNorm
    )
    ```

    ## References
    - Li et al., *Understanding the Disharmony between Dropout and Batch Normalization by
      Variance Shift*, CVPR 2019
    - [torch.nn.BatchNorm1d](https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm1d.html)
    """

    code = "DC004"
    name = "dropout-with-batchnorm"
    message = "Dropout feeds a BatchNorm: variance shift between training and eval"
    requires = ((b"ropout",), (b"atchNorm", b"batch_norm", b"nstanceNorm"))

    VALID = [
        # the recommended order
        "import torch.nn as nn\nm = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5))\n",
        # per-sample norms keep no running statistics
        "import torch.nn as nn\nm = nn.Sequential(nn.Dropout(0.1), nn.LayerNorm(8), nn.Dropout(0.1), nn.GroupNorm(2, 8))\n",
        # a weight layer in between
        "import torch.nn as nn\nm = nn.Sequential(nn.Dropout(0.5), nn.Linear(8, 8), nn.BatchNorm1d(8))\n",
        # InstanceNorm without running statistics (the default)
        "import torch.nn as nn\nm = nn.Sequential(nn.Dropout2d(0.1), nn.InstanceNorm2d(8))\n",
        # branches merged by addition
        (
            "import torch.nn as nn\n"
            "class Block(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.drop = nn.Dropout(0.1)\n"
            "        self.bn = nn.BatchNorm1d(8)\n"
            "        self.fc = nn.Linear(8, 8)\n"
            "    def forward(self, x):\n"
            "        y = self.drop(self.fc(x))\n"
            "        return self.bn(x + y)\n"
        ),
    ]
    INVALID = [
        "import torch.nn as nn\nm = nn.Sequential(\n    nn.Linear(8, 8),\n    nn.Dropout(0.5),  # expect: DC004\n    nn.BatchNorm1d(8),\n)\n",
        "import torch.nn as nn\nm = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Dropout2d(0.1), nn.InstanceNorm2d(8, track_running_stats=True))  # expect: DC004\n",
        (
            "import torch.nn as nn\n"
            "import torch.nn.functional as F\n"
            "class Net(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.bn2 = nn.BatchNorm1d(64)\n"
            "        self.drop = nn.Dropout(0.3)\n"
            "        self.fc1 = nn.Linear(128, 64)\n"
            "    def forward(self, x):\n"
            "        x = self.drop(F.relu(self.fc1(x)))  # expect: DC004\n"
            "        return self.bn2(x)\n"
        ),
    ]

    def finish(self) -> None:
        index = self.context.layers
        reported: set[int] = set()
        for _, step in index.steps():
            if step.role not in _DROPOUTS or step.rate == 0 or id(step.node) in reported:
                continue
            for target, passed in walk_forward(index, step, _PASS_THROUGH):
                if target.role != api.ROLE_RUNNING_NORM:
                    continue
                reported.add(id(step.node))
                self.report(
                    step.node,
                    f"{step.label} feeds {target.label}{through_text(passed)}: in training "
                    f"{target.label} normalizes dropped-out activations and keeps their "
                    f"variance as its running statistics, which no longer match in eval when "
                    f"dropout is off (variance shift, Li et al. CVPR 2019); put the dropout "
                    f"after the last {target.label} (norm -> activation -> Dropout), or drop it",
                )
                break
