#!/usr/bin/env python3
"""Seeded tiny checkpoints + float64 reference logits for the Qwen variants ../shared has no
reference for: Qwen2-MoE (shared expert with a sigmoid gate) and Qwen2 / Qwen3 with sliding-window
layers. Run by tests/golden/qwen_variants_golden_test.cc at test time; nothing is committed.

  /usr/bin/python3 tests/reference/qwen_variants_ref.py --shared ../shared --out DIR [--only NAME ...]

Writes DIR/<name>/{config.json, model.safetensors, reference/cases.json, reference/<case>.logits.f32}
in the layout of ../shared/models/random (see ../shared/reference/README.md): three prompts of
length 1, 7 and 33 drawn in [3, vocab), 16 greedy tokens (each step recomputes the whole sequence),
logits of one forward pass over prompt + greedy ids as little-endian float32 [T, vocab]. Weights are
redrawn (seed + 1000) until every greedy step has a top1 - top2 margin >= 0.01.

qwen2_swa / qwen3_swa are computed by ../shared/reference/kite_ref.py itself (its
_layer_is_sliding decides which layers slide). qwen2_moe has its own forward pass below, written from
transformers' modeling_qwen2_moe.py (Qwen2MoeSparseMoeBlock / Qwen2MoeTopKRouter / Qwen2MoeDecoderLayer):
    h = RMSNorm(x) * post_attention_layernorm.w
    sparse layer i  (i not in mlp_only_layers, num_experts > 0, (i + 1) % decoder_sparse_step == 0):
      p = softmax(h Wrouter^T) over all num_experts             Wrouter = mlp.gate.weight [E, D]
      top-k of p (k = num_experts_per_tok); w = p_top, / sum(p_top) only if norm_topk_prob (default False)
      routed = sum_k w_k * SwiGLU_{e_k}(h)                      experts: moe_intermediate_size wide
      shared = sigmoid(h . Wsg) * SwiGLU_shared(h)              Wsg = mlp.shared_expert_gate.weight [1, D]
                                                                 shared: shared_expert_intermediate_size wide
      x = x + routed + shared
    dense layer: x = x + SwiGLU(h) of intermediate_size
Attention is Qwen2's (q/k/v biases when qkv_bias, default true; no o_proj bias), through kite_ref's
attention / rope_half / rms_norm helpers.
"""
import argparse
import json
import os
import sys

import numpy as np

N_GEN = 16
MIN_MARGIN = 1e-2
PROMPT_LENS = {"len1": 1, "len7": 7, "len33": 33}


def cfg_qwen2_moe():
    return {
        "architectures": ["Qwen2MoeForCausalLM"], "model_type": "qwen2_moe",
        "vocab_size": 400, "hidden_size": 64, "intermediate_size": 112, "num_hidden_layers": 4,
        "num_attention_heads": 4, "num_key_value_heads": 2, "hidden_act": "silu",
        "max_position_embeddings": 256, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "rope_scaling": None,
        "use_sliding_window": False, "sliding_window": None, "max_window_layers": 4,
        "decoder_sparse_step": 1, "mlp_only_layers": [2], "moe_intermediate_size": 40,
        "shared_expert_intermediate_size": 96, "num_experts": 8, "num_experts_per_tok": 2,
        "norm_topk_prob": False, "qkv_bias": True, "output_router_logits": False, "router_aux_loss_coef": 0.001,
        "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32",
    }


def cfg_qwen2_swa():
    # Layers >= max_window_layers slide (window 5): two full and two sliding layers.
    return {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
        "vocab_size": 352, "hidden_size": 64, "intermediate_size": 176, "num_hidden_layers": 4,
        "num_attention_heads": 4, "num_key_value_heads": 2, "hidden_act": "silu",
        "max_position_embeddings": 256, "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "rope_scaling": None,
        "use_sliding_window": True, "sliding_window": 5, "max_window_layers": 2,
        "tie_word_embeddings": True, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32",
    }


def cfg_qwen3_swa():
    # layer_types (as newer transformers write it) decides: sliding, full, sliding, sliding; window 6.
    return {
        "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3",
        "vocab_size": 416, "hidden_size": 96, "intermediate_size": 192, "num_hidden_layers": 4,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32, "hidden_act": "silu",
        "max_position_embeddings": 256, "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "rope_scaling": None,
        "attention_bias": False, "use_sliding_window": True, "sliding_window": 6, "max_window_layers": 28,
        "layer_types": ["sliding_attention", "full_attention", "sliding_attention", "sliding_attention"],
        "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32",
    }


def qwen2_moe_is_sparse(c, i):
    return i not in (c.get("mlp_only_layers") or []) and c["num_experts"] > 0 \
        and (i + 1) % c.get("decoder_sparse_step", 1) == 0


def recipe_qwen2_moe(c, swiglu_tensors):
    # (name, shape, kind, arg) entries for make_random_models.draw; names as the Hub checkpoints have them.
    D, H, KV = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
    hd = D // H
    out = [("model.embed_tokens.weight", (c["vocab_size"], D), "emb", 1.0)]
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        out += [(p + "input_layernorm.weight", (D,), "norm", None),
                (p + "self_attn.q_proj.weight", (H * hd, D), "lin", 1.5),
                (p + "self_attn.q_proj.bias", (H * hd,), "bias", 0.3),
                (p + "self_attn.k_proj.weight", (KV * hd, D), "lin", 1.5),
                (p + "self_attn.k_proj.bias", (KV * hd,), "bias", 0.3),
                (p + "self_attn.v_proj.weight", (KV * hd, D), "lin", 1.0),
                (p + "self_attn.v_proj.bias", (KV * hd,), "bias", 0.3),
                (p + "self_attn.o_proj.weight", (D, H * hd), "lin", 0.7),
                (p + "post_attention_layernorm.weight", (D,), "norm", None)]
        if qwen2_moe_is_sparse(c, i):
            out += [(p + "mlp.gate.weight", (c["num_experts"], D), "lin", 3.0)]
            for e in range(c["num_experts"]):
                out += swiglu_tensors(f"{p}mlp.experts.{e}.", D, c["moe_intermediate_size"], 1.0)
            out += swiglu_tensors(p + "mlp.shared_expert.", D, c["shared_expert_intermediate_size"], 1.0)
            out += [(p + "mlp.shared_expert_gate.weight", (1, D), "lin", 3.0)]
        else:
            out += swiglu_tensors(p + "mlp.", D, c["intermediate_size"], 0.7)
    out += [("model.norm.weight", (D,), "norm", None), ("lm_head.weight", (c["vocab_size"], D), "lin", 2.0)]
    return out


class Qwen2MoeRef:
    """float64 forward pass of Qwen2MoeForCausalLM (no KV cache; see the module docstring)."""

    def __init__(self, config, weights, kr):
        self.c, self.kr = config, kr
        self.w = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}
        self.used = set()

    def W(self, name):
        self.used.add(name)
        return self.w[name]

    def linear(self, x, name, bias=False):
        y = x @ self.W(name + ".weight").T                     # nn.Linear: W [out, in]
        return y + self.W(name + ".bias") if bias else y

    def swiglu(self, h, p):
        return self.linear(self.kr.silu(self.linear(h, p + "gate_proj")) * self.linear(h, p + "up_proj"),
                           p + "down_proj")

    def routing(self, h, p):
        # h: [T, D] -> experts [T, k], weights [T, k]; ties go to the lower expert id (stable sort)
        c = self.c
        probs = self.kr.softmax(h @ self.W(p + "gate.weight").T, axis=-1)    # [T, E]
        top = np.argsort(-probs, axis=-1, kind="stable")[:, :c["num_experts_per_tok"]]
        wts = np.take_along_axis(probs, top, axis=-1)
        if c.get("norm_topk_prob", False):
            wts = wts / wts.sum(axis=-1, keepdims=True)
        return top, wts

    def sparse_moe(self, h, p):
        top, wts = self.routing(h, p)
        y = np.zeros_like(h)
        for t in range(h.shape[0]):
            for e, wgt in zip(top[t], wts[t]):
                y[t] += wgt * self.swiglu(h[t:t + 1], f"{p}experts.{e}.")[0]
        gate = 1.0 / (1.0 + np.exp(-(h @ self.W(p + "shared_expert_gate.weight").T)))   # [T, 1]
        return y + gate * self.swiglu(h, p + "shared_expert.")

    def forward(self, ids):
        c, kr = self.c, self.kr
        ids = np.asarray(ids, dtype=np.int64)
        T = len(ids)
        D, H = c["hidden_size"], c["num_attention_heads"]
        KV, hd, eps = c["num_key_value_heads"], D // c["num_attention_heads"], c["rms_norm_eps"]
        qkv_bias = c.get("qkv_bias", True)
        pos = np.arange(T, dtype=np.float64)
        inv_freq, af = kr.rope_frequencies(c["rope_theta"], hd, None, c["max_position_embeddings"], T)
        x = self.W("model.embed_tokens.weight")[ids]                        # [T, D]
        for i in range(c["num_hidden_layers"]):
            p = f"model.layers.{i}."
            h = kr.rms_norm(x, self.W(p + "input_layernorm.weight"), eps)
            q = self.linear(h, p + "self_attn.q_proj", qkv_bias).reshape(T, H, hd)
            k = self.linear(h, p + "self_attn.k_proj", qkv_bias).reshape(T, KV, hd)
            v = self.linear(h, p + "self_attn.v_proj", qkv_bias).reshape(T, KV, hd)
            q, k = kr.rope_half(q, pos, inv_freq, af), kr.rope_half(k, pos, inv_freq, af)
            a = kr.attention(q, k, v, hd ** -0.5)                           # [T, H, hd]
            x = x + self.linear(a.reshape(T, H * hd), p + "self_attn.o_proj")
            h = kr.rms_norm(x, self.W(p + "post_attention_layernorm.weight"), eps)
            x = x + (self.sparse_moe(h, p + "mlp.") if qwen2_moe_is_sparse(c, i) else self.swiglu(h, p + "mlp."))
        x = kr.rms_norm(x, self.W("model.norm.weight"), eps)
        return x @ self.W("lm_head.weight").T

    def greedy(self, ids, n):
        seq, new, margins = list(ids), [], []
        for _ in range(n):
            last = self.forward(seq)[-1]
            order = np.argsort(-last, kind="stable")
            new.append(int(order[0]))
            margins.append(float(last[order[0]] - last[order[1]]))
            seq.append(int(order[0]))
        return new, margins

    def unused_tensors(self):
        return sorted(set(self.w) - self.used)


def build(name, out_root, mods):
    kr, mk, st = mods
    if name == "qwen2_moe":
        cfg = cfg_qwen2_moe()
        recipe, base_seed, make = recipe_qwen2_moe(cfg, mk.swiglu_tensors), 8101, lambda w: Qwen2MoeRef(cfg, w, kr)
    elif name in ("qwen2_swa", "qwen3_swa"):
        cfg = cfg_qwen2_swa() if name == "qwen2_swa" else cfg_qwen3_swa()
        recipe = mk.recipe_llama_family(cfg, {"emb": 0.3, "out": 2.0})
        base_seed, make = (8201 if name == "qwen2_swa" else 8301), lambda w: kr.Model(cfg, w)
    else:
        raise ValueError(f"unknown model {name!r}")
    for attempt in range(20):
        seed = base_seed + 1000 * attempt
        w = mk.draw(recipe, seed)
        model = make(w)
        rng = np.random.default_rng(seed + 7)
        cases, ok = [], True
        for cname, n in PROMPT_LENS.items():
            ids = [int(t) for t in rng.integers(3, cfg["vocab_size"], n)]
            gen, margins = model.greedy(ids, N_GEN)
            if min(margins) < MIN_MARGIN:
                ok = False
                break
            logits = model.forward(ids + gen)                               # [T + 16, V]
            assert [int(t) for t in logits[len(ids) - 1:-1].argmax(-1)] == gen
            top2 = np.sort(logits[:len(ids)], axis=-1)[:, -2:]
            cases.append({"name": cname, "prompt_ids": ids, "greedy_ids": gen,
                          "greedy_margins": [round(m, 6) for m in margins],
                          "prompt_min_margin": float(np.min(top2[:, 1] - top2[:, 0])),
                          "logits_file": f"{cname}.logits.f32", "_logits": logits})
        if ok:
            break
    else:
        raise RuntimeError(f"{name}: no seed gave greedy margins >= {MIN_MARGIN}")
    if name.endswith("_swa"):
        # The window must matter, or the test could not tell a windowed layer from a full one:
        # the same weights with every layer full must move the longest case's logits by > 0.05.
        full_cfg = dict(cfg, use_sliding_window=False, layer_types=None)
        seq = cases[-1]["prompt_ids"] + cases[-1]["greedy_ids"]
        moved = float(np.max(np.abs(kr.Model(full_cfg, w).forward(seq) - model.forward(seq))))
        if moved < 0.05:
            raise RuntimeError(f"{name}: the sliding window changes the logits by only {moved:.3g}")
        print(f"{name}: full attention instead of the window moves the len33 logits by up to {moved:.3g}")
    unused = model.unused_tensors()
    if unused:
        raise RuntimeError(f"{name}: tensors the forward pass never read: {unused[:5]}")
    d = os.path.join(out_root, name)
    os.makedirs(os.path.join(d, "reference"), exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    st.save(os.path.join(d, "model.safetensors"), w, "F32")
    for cs in cases:
        cs.pop("_logits").astype("<f4").tofile(os.path.join(d, "reference", cs["logits_file"]))
    meta = {"model": name, "architecture": cfg["architectures"][0], "seed": seed,
            "generator": "tests/reference/qwen_variants_ref.py", "compute": "float64 numpy, stored as float32",
            "min_greedy_margin": min(min(cs["greedy_margins"]) for cs in cases), "cases": cases}
    with open(os.path.join(d, "reference", "cases.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"{name}: seed {seed}, min greedy margin {meta['min_greedy_margin']:.4f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", required=True, help="the ../shared folder (its reference/ is imported)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", nargs="*")
    a = ap.parse_args()
    sys.path.insert(0, os.path.join(os.path.abspath(a.shared), "reference"))
    import kite_ref  # noqa: E402
    import make_random_models  # noqa: E402
    import safetensors_io  # noqa: E402
    for name in (a.only or ["qwen2_moe", "qwen2_swa", "qwen3_swa"]):
        build(name, a.out, (kite_ref, make_random_models, safetensors_io))


if __name__ == "__main__":
    main()
