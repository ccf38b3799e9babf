"""Models that ship with torch, and a Hugging Face BERT built offline from a small config:
no false alarm from any check across many seeds, and bugs planted inside them are found."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dropcheck.runtime import (
    audit,
    check_dropout_scaling,
    check_eval_determinism,
    check_layer_order,
)
from dropcheck.runtime._audit import attribute_findings
from tests.runtime import models

SEEDS = range(5)


def _bert() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    os.environ["HF_HUB_OFFLINE"] = "1"  # built from a config: nothing is downloaded
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=32, hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1)
    torch.manual_seed(0)
    model = transformers.BertModel(config)
    ids = torch.randint(0, 100, (8, 16), generator=torch.Generator().manual_seed(0))
    return model, (ids, torch.ones_like(ids))


def _gpt2() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    os.environ["HF_HUB_OFFLINE"] = "1"
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(vocab_size=100, n_positions=32, n_embd=32, n_layer=2,
                                     n_head=4, bos_token_id=0, eos_token_id=0)
    torch.manual_seed(0)
    ids = torch.randint(0, 100, (8, 16), generator=torch.Generator().manual_seed(1))
    return _WithCache(transformers.GPT2Model(config)), (ids,)


class _WithCache(nn.Module):
    """GPT-2 returning its KV cache object: compared by its tensors, not by identity."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor) -> object:
        return self.model(ids, use_cache=True)


def _vit() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    os.environ["HF_HUB_OFFLINE"] = "1"
    transformers = pytest.importorskip("transformers")
    config = transformers.ViTConfig(image_size=32, patch_size=8, hidden_size=32,
                                    num_hidden_layers=2, num_attention_heads=4,
                                    intermediate_size=64, hidden_dropout_prob=0.1)
    torch.manual_seed(0)
    return transformers.ViTModel(config), (torch.randn(4, 3, 32, 32),)


def _wav2vec2() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    # Conv feature extractor, then projection dropout: a conv model that must not be DC003.
    os.environ["HF_HUB_OFFLINE"] = "1"
    transformers = pytest.importorskip("transformers")
    config = transformers.Wav2Vec2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        conv_dim=(16, 16), conv_stride=(5, 2), conv_kernel=(10, 3), num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4, vocab_size=32, feat_proj_dropout=0.1,
        hidden_dropout=0.1)
    torch.manual_seed(0)
    return transformers.Wav2Vec2Model(config), (torch.randn(4, 4000),)


def _encoder() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.1, batch_first=True)
    return nn.TransformerEncoder(layer, 2, enable_nested_tensor=False), (torch.randn(8, 16, 32),)


def _transformer() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    model = nn.Transformer(32, 4, 2, 2, 64, dropout=0.1, batch_first=True)
    return model, (torch.randn(8, 16, 32), torch.randn(8, 12, 32))


def _mha() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    x = torch.randn(4, 10, 32)
    return nn.MultiheadAttention(32, 4, dropout=0.2, batch_first=True), (x, x, x)


def _lstm() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    return nn.LSTM(16, 32, num_layers=3, dropout=0.2, batch_first=True), (torch.randn(4, 10, 16),)


def _gru() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    return nn.GRU(16, 32, num_layers=2, dropout=0.3), (torch.randn(10, 4, 16),)


REAL: dict[str, Callable[[], tuple[nn.Module, tuple[torch.Tensor, ...]]]] = {
    "TransformerEncoder": _encoder, "Transformer": _transformer, "MultiheadAttention": _mha,
    "LSTM": _lstm, "GRU": _gru, "BertModel": _bert, "GPT2Model": _gpt2,
    "ViTModel": _vit, "Wav2Vec2Model": _wav2vec2,
}


@pytest.mark.parametrize("name", list(REAL))
def test_real_models_pass_every_check_for_many_seeds(name: str) -> None:
    model, args = REAL[name]()
    model.train()  # the checks must not depend on the mode the model arrives in
    for seed in SEEDS:
        assert check_eval_determinism(model, *args, seed=seed, n_runs=3) == []
        assert check_dropout_scaling(model, *args, seed=seed) == []
    assert check_layer_order(model, *args) == []
    assert audit(model, *args) == []
    assert all(m.training for m in model.modules())


def test_real_models_dropout_modules_are_actually_checked() -> None:
    # A planted non-rescaling dropout deep in each transformer is found: the scaling check
    # reaches those modules (torch's fast paths do not hide them).
    bert, bert_args = _bert()
    bert.encoder.layer[1].output.dropout = models.NoRescaleDropout(0.1)  # type: ignore[index]
    encoder, encoder_args = _encoder()
    encoder.layers[0].dropout1 = models.KeepProbDropout(0.1)  # type: ignore[index]
    bert_findings = check_dropout_scaling(bert, *bert_args)
    assert [(f.code, f.path) for f in bert_findings] == [
        ("DC103", "encoder.layer.1.output.dropout")]
    encoder_findings = check_dropout_scaling(encoder, *encoder_args)
    assert sorted((f.code, f.path) for f in encoder_findings) == [
        ("DC103", "layers.0.dropout1"), ("DC104", "layers.0.dropout1")]


class AlwaysOnActivation(nn.Module):
    """GELU followed by F.dropout without `training`: the DC005 bug, planted inside BERT."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(F.gelu(x), p=0.1)


def test_functional_dropout_planted_in_bert_is_localized() -> None:
    bert, args = _bert()
    bert.encoder.layer[0].intermediate.intermediate_act_fn = AlwaysOnActivation()  # type: ignore[index]
    [finding] = check_eval_determinism(bert, *args)
    assert (finding.code, finding.path, finding.module_class) == (
        "DC005", "encoder.layer.0.intermediate.intermediate_act_fn", "AlwaysOnActivation")
    assert "F.dropout(p=0.1, training=True)" in finding.message


def test_audit_reads_module_attributes() -> None:
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        rnn = nn.LSTM(4, 4, dropout=0.3)  # torch only warns; the audit reports it
    model = nn.ModuleDict({
        "keep": nn.Dropout(0.8),
        "rnn": rnn,
        "attn": nn.MultiheadAttention(8, 2, dropout=1.0),
    })
    found = {(f.code, f.path): f.message for f in attribute_findings(model)}
    assert set(found) == {("DC002", "keep"), ("DC010", "rnn"), ("DC006", "attn")}
    assert "use p=0.2" in found[("DC002", "keep")]
    assert "num_layers=1 does nothing" in found[("DC010", "rnn")]
