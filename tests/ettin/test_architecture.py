from __future__ import annotations

import numpy as np
import torch

from ettin.architecture import build_reranker, count_parameters


def test_five_modules_and_roundtrip(replica_17m, tmp_path):
    from sentence_transformers import CrossEncoder

    original = CrossEncoder(str(replica_17m))
    encoder_dir = tmp_path / "encoder"
    original[0].save(str(encoder_dir))
    torch.manual_seed(1)
    model = build_reranker(str(encoder_dir), max_length=128)
    names = [type(m).__name__ for m in model]
    assert names == ["Transformer", "Pooling", "Dense", "LayerNorm", "Dense"]
    assert model[1].get_config_dict()["pooling_mode"] == "cls"
    assert model[2].linear.bias is None and isinstance(model[2].activation_function, torch.nn.GELU)
    assert model[4].linear.out_features == 1 and model[4].linear.bias is not None
    assert isinstance(model.activation_fn, torch.nn.Identity)
    h = 256
    assert count_parameters(model) - count_parameters(model[0]) == h * h + 3 * h + 1

    pairs = [("what causes scurvy", "Vitamin C deficiency causes scurvy."), ("q", "unrelated text")]
    before = model.predict(pairs)
    out = tmp_path / "saved"
    model.save_pretrained(str(out))
    reloaded = CrossEncoder(str(out))
    after = reloaded.predict(pairs)
    np.testing.assert_array_equal(before, after)
    assert isinstance(reloaded.activation_fn, torch.nn.Identity)
