from __future__ import annotations

import libcst as cst

from dropcheck.analysis import torch_api as api
from dropcheck.analysis.layers import LayerIndex, LayerStep, through_text, walk_back, walk_forward
from dropcheck.analysis.walk import visit_readonly
from dropcheck.fix.builders import channel_dropout
from dropcheck.rules.base import Rule

#: Layers that keep a convolution's feature map a feature map.
_KEEPS_FEATURE_MAP = frozenset(
    {api.ROLE_ACTIVATION, api.ROLE_POOL, api.ROLE_NORM, api.ROLE_RUNNING_NORM, api.ROLE_IDENTITY}
)


#: What a chain of convolutions and feature-map layers may pass through, walking back to where
#: its input came from.
_CONV_STACK = _KEEPS_FEATURE_MAP | {api.ROLE_CONV}


def _on_token_sequence(conv: LayerStep) -> bool:
    """Whether a Conv1d runs on a token sequence transposed to (N, C, T), as in Conformer and
    FastSpeech feed-forward blocks: a sequence layer, where element-wise dropout is standard."""
    origin, _ = walk_back(conv, _CONV_STACK)
    return origin is not None and origin.role == api.ROLE_TRANSPOSE


#: What lies between the two pointwise convolutions of a transformer MLP (fc1 -> act -> fc2).
_MLP_GAP = frozenset({api.ROLE_ACTIVATION, api.ROLE_DROPOUT, api.ROLE_IDENTITY})


def _pointwise(step: LayerStep | None) -> bool:
    return step is not None and step.role == api.ROLE_CONV and step.kernel == 1


def _per_token(index: LayerIndex, dropout: LayerStep, conv: LayerStep,
               passed: list[LayerStep], attention: bool) -> bool:
    """Whether the pointwise (1x1) convolution before ``dropout`` is a per-token linear layer.

    The MLPs and attention projections of hierarchical vision transformers (CvT, PVT,
    SwiftFormer, LeViT) run per token on (N, C, H, W): their dropout is ordinary transformer
    dropout. Evidence: the block computes attention; or no BatchNorm lies between conv and
    dropout and the conv is one of an MLP's two pointwise layers (fc1 -> act -> [dropout] ->
    fc2) or no BatchNorm feeds it. Otherwise it is a CNN block on a spatial feature map
    (EfficientNet's ``project_conv`` -> ``project_bn``, a DenseNet transition, a segmentation
    head's fuse layer)."""
    if conv.kernel != 1:
        return False
    if attention:
        return True
    if any(step.role == api.ROLE_RUNNING_NORM for step in passed):
        return False  # conv -> BatchNorm -> dropout: a CNN's conv-BN block
    before, _ = walk_back(conv, _MLP_GAP)
    if _pointwise(before) or any(
            _pointwise(after) for after, _ in walk_forward(index, dropout, _MLP_GAP)):
        return True
    norm_before, _ = walk_back(conv, frozenset({api.ROLE_ACTIVATION, api.ROLE_IDENTITY}))
    return norm_before is None or norm_before.role != api.ROLE_RUNNING_NORM


class _AttentionFinder(cst.CSTVisitor):
    """Whether a class computes attention: softmax, ``@``/matmul/einsum, or SDPA."""

    NAMES = frozenset({"softmax", "Softmax", "matmul", "einsum", "bmm", "baddbmm",
                       "scaled_dot_product_attention", "MultiheadAttention"})

    def __init__(self) -> None:
        self.found = False

    def visit_Name(self, node: cst.Name) -> None:
        self.found = self.found or node.value in self.NAMES

    def visit_MatrixMultiply(self, node: cst.MatrixMultiply) -> None:
        self.found = True


def channel_dropout_for(dropout: LayerStep, dims: int) -> str:
    """The channel-wise counterpart of an element-wise dropout, as the user would write it."""
    name = dropout.name or ""
    module = name in api.DROPOUT_MODULES
    if name == api.NN + "AlphaDropout" or name.endswith("alpha_dropout"):
        return "nn.FeatureAlphaDropout" if module else "F.feature_alpha_dropout"
    return f"nn.Dropout{dims}d" if module else f"F.dropout{dims}d"


class DropoutAfterConv(Rule):
    """
    ## What it does
    Flags element-wise dropout (`nn.Dropout`, `nn.AlphaDropout`, `F.dropout`,
    `torch.dropout`) applied to the output of a convolution (`nn.Conv1d/2d/3d`,
    `nn.ConvTranspose*d`, `nn.LazyConv*d`, `F.conv*d`), directly or through layers that keep the
    feature map (activations, pooling, normalization, `nn.Identity`).

    The order comes from `nn.Sequential(...)` (positional layers, `OrderedDict`, `*layers` built
    with `append`/`extend`) and from the data flow of `forward()`, with each `self.attr`
    resolved to what `__init__` assigned. The finding is reported at the dropout's place in that
    order: the element of `nn.Sequential(...)`, or the call in `forward()`.

    ## Why is this bad?
    Neighbouring activations of a convolutional feature map are strongly correlated, so zeroing
    single activations hardly removes information: the next layer recovers it from the
    neighbours. Element-wise dropout after a convolution therefore regularizes very little while
    still adding noise (Tompson et al., 2015; Ghiasi et al., 2018). Dropping whole channels
    (`nn.Dropout2d` for `Conv2d`) or contiguous blocks (DropBlock) is what works on feature maps.

    A `Conv1d` that is a per-position linear layer (`kernel_size=1`) or that runs on a token
    sequence transposed to `(N, C, T)` (Conformer, FastSpeech feed-forward blocks) is a sequence
    layer, where element-wise dropout is the standard choice: not reported. Likewise a pointwise
    (`kernel_size=1`) `Conv2d`/`Conv3d` used as a per-token linear layer: the MLPs and attention
    projections of hierarchical vision transformers (CvT, PVT, SwiftFormer, LeViT) run per token
    on `(N, C, H, W)`, and their dropout is ordinary transformer dropout. Such a conv is one
    in a module that computes attention (softmax, `@`, einsum), or one with no BatchNorm between
    it and the dropout that is one of an MLP's two pointwise layers (`fc1 -> act -> dropout ->
    fc2`) or is not fed by BatchNorm. The others (EfficientNet's `project_conv -> project_bn ->
    dropout`, a DenseNet transition `BN -> ReLU -> 1x1 conv -> dropout`, a segmentation head's
    `1x1 fuse -> BN -> ReLU -> dropout`) are CNN blocks on a spatial feature map: reported.

    Not reported: channel dropout (`nn.Dropout1d/2d/3d`), and dropout after the feature map has
    become a vector or a token sequence: `nn.Flatten`, `torch.flatten`, `.view`/`.reshape`/
    `.flatten`, global pooling to 1x1 (`nn.AdaptiveAvgPool2d(1)`, `.mean((2, 3))`), `nn.Linear`,
    or a patch embedding's `.flatten(2).transpose(1, 2)`. Anything the analysis cannot follow
    (residual additions, unknown calls) ends the chain.

    ## Example
    ```python
    self.features = nn.Sequential(
        nn.Conv2d(3, 64, 3), nn.BatchNorm2d(64), nn.ReLU(),
        nn.Dropout(0.2),
    )
    ```

    ## Use instead
    ```python
    self.features = nn.Sequential(
        nn.Conv2d(3, 64, 3), nn.BatchNorm2d(64), nn.ReLU(),
        nn.Dropout2d(0.2),  # drops whole channels
    )
    ```

    ## Fix safety
    The fix renames the dropout to its channel-wise counterpart matching the convolution
    (`nn.Dropout` -> `nn.Dropout2d` after `Conv2d`, `F.dropout` -> `F.dropout1d` after `Conv1d`,
    `nn.AlphaDropout` -> `nn.FeatureAlphaDropout`), keeping the arguments. It is unsafe:
    dropping whole channels regularizes far more strongly at the same `p`, so the rate usually
    needs re-tuning. It is offered only where that dropout runs in this one place (an
    `nn.Sequential` element, a functional call, or an `__init__` attribute used once).

    ## References
    - Tompson et al., *Efficient Object Localization Using Convolutional Networks*, CVPR 2015
      (spatial dropout)
    - Ghiasi et al., *DropBlock: A regularization method for convolutional networks*,
      NeurIPS 2018
    - [torch.nn.Dropout2d](https://pytorch.org/docs/stable/generated/torch.nn.Dropout2d.html)
    """

    code = "DC003"
    name = "dropout-after-conv"
    message = "Element-wise dropout on a convolution's feature map; use channel dropout"
    requires = ((b"ropout",), (b"onv",))

    VALID = [
        # channel dropout is the right tool
        "import torch.nn as nn\nm = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Dropout2d(0.1))\n",
        # a zero rate does nothing
        "import torch.nn as nn\nm = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Dropout(0.0))\n",
        # the feature map became a vector first
        "import torch.nn as nn\nm = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Dropout(0.5), nn.Linear(8, 2))\n",
        "import torch.nn as nn\nm = nn.Sequential(nn.Conv2d(3, 8, 3), nn.AdaptiveAvgPool2d(1), nn.Dropout(0.5))\n",
        "import torch.nn as nn\nm = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Linear(8, 8), nn.Dropout(0.5))\n",
        # ViT patch embedding: token dropout
        (
            "import torch.nn as nn\n"
            "class PatchEmbed(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.proj = nn.Conv2d(3, 768, 16, 16)\n"
            "        self.drop = nn.Dropout(0.1)\n"
            "    def forward(self, x):\n"
            "        x = self.proj(x).flatten(2).transpose(1, 2)\n"
            "        return self.drop(x)\n"
        ),
        # attribute order is not run order
        (
            "import torch.nn as nn\n"
            "class Head(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.conv = nn.Conv2d(8, 8, 3)\n"
            "        self.drop = nn.Dropout(0.5)\n"
            "        self.fc = nn.Linear(8, 2)\n"
            "    def forward(self, x):\n"
            "        x = self.conv(x).mean((2, 3))\n"
            "        return self.fc(self.drop(x))\n"
        ),
        # a Keras lookalike is not torch
        "from keras.layers import Conv2D, Dropout\nfrom keras.models import Sequential\nm = Sequential([Conv2D(8, 3), Dropout(0.5)])\n",
    ]
    INVALID = [
        "import torch.nn as nn\nm = nn.Sequential(\n    nn.Conv2d(3, 8, 3),\n    nn.ReLU(),\n    nn.Dropout(0.2),  # expect: DC003\n)\n",
        (
            "import torch.nn as nn\n"
            "import torch.nn.functional as F\n"
            "class Net(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.drop = nn.Dropout(0.25)\n"
            "        self.conv = nn.Conv1d(40, 64, 5)\n"
            "    def forward(self, x):\n"
            "        return self.drop(F.relu(self.conv(x)))  # expect: DC003\n"
        ),
        (
            "import torch.nn as nn\n"
            "import torch.nn.functional as F\n"
            "class Net(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.conv = nn.Conv2d(3, 8, 3)\n"
            "        self.bn = nn.BatchNorm2d(8)\n"
            "    def forward(self, x):\n"
            "        x = self.conv(x)\n"
            "        x = F.relu(self.bn(x))\n"
            "        x = F.dropout(x, 0.1, self.training)  # expect: DC003\n"
            "        return x\n"
        ),
        (
            "import torch.nn as nn\n"
            "def block(c):\n"
            "    layers = [nn.Conv3d(c, c, 3)]\n"
            "    layers.append(nn.ReLU())\n"
            "    layers.append(nn.Dropout(0.3))  # expect: DC003\n"
            "    return nn.Sequential(*layers)\n"
        ),
    ]

    def _computes_attention(self, owner: cst.ClassDef | None) -> bool:
        if owner is None:
            return False
        found = self._attention.get(id(owner))
        if found is None:
            finder = _AttentionFinder()
            visit_readonly(owner, finder)
            found = self._attention[id(owner)] = finder.found
        return found

    def finish(self) -> None:
        self._attention: dict[int, bool] = {}
        reported: set[int] = set()
        for flow, step in self.context.layers.steps():
            if step.role != api.ROLE_DROPOUT or id(step.node) in reported:
                continue
            source, passed = walk_back(step, _KEEPS_FEATURE_MAP)
            if source is None or source.role != api.ROLE_CONV or source.dims is None:
                continue
            if _per_token(self.context.layers, step, source, passed,
                          self._computes_attention(flow.owner)) or (
                    source.dims == 1 and _on_token_sequence(source)):
                continue
            if step.rate == 0:  # nn.Dropout(0.0) does nothing
                continue
            reported.add(id(step.node))
            dims = source.dims
            suggestion = channel_dropout_for(step, dims)
            self.report(
                step.node,
                f"{step.label} after {source.label}{through_text(passed[::-1])} zeroes single "
                f"activations of a {dims}-D feature map whose neighbours are strongly "
                f"correlated, so it barely regularizes; use {suggestion} to drop whole channels "
                f"of the {source.label} feature map, or DropBlock",
                fix=channel_dropout(self.context, step, dims),
            )
