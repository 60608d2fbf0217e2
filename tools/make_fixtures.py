#!/usr/bin/env python3
"""Builds the converter fixtures: tiny PyTorch checkpoints in every layout `clipcapctl convert`
accepts, the reference outputs the engine tests compare against, and a hostile pickle.

Everything is generated from fixed seeds with PyTorch, transformers, tokenizers and OpenAI's
`clip` package; nothing is downloaded. Output: Tests/Fixtures/models/ (see its MANIFEST.json and
tools/README.md). Run from anywhere:

    python3 tools/make_fixtures.py [--seed-dir /work/shared/seed]

Sizes are tiny on purpose (CI has no torch; fixtures are committed):
  CLIP ViT: input 224, patch 32 (7x7 grid), width 64, 2 layers, 1 head (width/64), embed 32.
  GPT-2: n_embd 32, 2 layers, 2 heads, n_positions 64; vocab = the first 1000 lines of the
  seed's Chinese vocab.txt (WordPiece) or a ~300-token byte-level BPE trained here (English).
  Mappers: prefix 10; MLP 32 -> 160 -> 320; BERT 2 layers, 8 heads, constants 10;
  transformer (original ClipCap) 2 layers, 8 heads, clip_length 10, normalize_prefix.

Random weights are re-scaled so that the references are informative (see `perturb`): every
bias and LayerNorm gain/shift is made non-trivial (so a swapped or dropped one changes the
output), and GPT-2's token embeddings use std 0.4 so logits span several units instead of
being near-uniform.
"""
import argparse
import copy
import hashlib
import json
import math
import os
import shutil
import sys

import numpy as np
import torch
import torch.nn as nn
from torch.nn import functional as nnf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "models")
PREFIX_LEN = 10
CONSTANT_LEN = 10
CLIP_EMBED = 32
D = 32
STEPS = 10
REFERENCE_IMAGES = ["256063.jpg", "301246.jpg"]


# ----------------------------------------------------------------------------------------
# Model classes, rebuilt from the two ClipCap code bases (same module names, so the same keys)
# ----------------------------------------------------------------------------------------

class MLP(nn.Module):
    """ClipCap / ClipCap-Chinese `MLP`: Linear -> Tanh -> Linear (keys model.0, model.2)."""

    def __init__(self, sizes, bias=True, act=nn.Tanh):
        super().__init__()
        layers = []
        for i in range(len(sizes) - 1):
            layers.append(nn.Linear(sizes[i], sizes[i + 1], bias=bias))
            if i < len(sizes) - 2:
                layers.append(act())
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class BertMapper(nn.Module):
    """ClipCap-Chinese `BertMapper`: BERT over cat(linear(x).view(P, D), prefix_const); the
    outputs at the prefix_const positions (P..P+C-1) are the prefix."""

    def __init__(self, bert_config, clip_size, prefix_size, prefix_len, constant_len):
        super().__init__()
        from transformers import BertModel
        self.prefix_len = prefix_len
        self.prefix_size = prefix_size
        self.constant_len = constant_len
        self.bert = BertModel(config=bert_config)
        self.linear = nn.Linear(clip_size, prefix_len * prefix_size)
        self.prefix_const = nn.Parameter(torch.randn(constant_len, prefix_size), requires_grad=True)

    def forward(self, x):
        bs = x.size(0)
        prefix = self.linear(x).view(-1, self.prefix_len, self.prefix_size)
        constant = self.prefix_const.unsqueeze(0).expand(bs, self.constant_len, self.prefix_size)
        prefix = torch.cat((prefix, constant), dim=1)
        out = self.bert(inputs_embeds=prefix)
        return out.last_hidden_state[:, self.prefix_len:]


class ChineseClipCaptionModel(nn.Module):
    """ClipCap-Chinese `ClipCaptionModel` (keys gpt2.*, clip_project.*)."""

    def __init__(self, gpt2_config, bert_config, prefix_len, clip_size, mapping, constant_len):
        super().__init__()
        from transformers import GPT2LMHeadModel
        self.gpt2 = GPT2LMHeadModel(gpt2_config)
        self.prefix_size = gpt2_config.n_embd
        self.prefix_len = prefix_len
        if mapping == "mlp":
            self.clip_project = MLP((clip_size, (self.prefix_size * prefix_len) // 2, self.prefix_size * prefix_len))
        else:
            self.clip_project = BertMapper(bert_config, clip_size, self.prefix_size, prefix_len, constant_len)

    def prefix(self, clip_embeds):
        return self.clip_project(clip_embeds).view(-1, self.prefix_len, self.prefix_size)

    @property
    def lm(self):
        return self.gpt2


# Original ClipCap (rmokady/CLIP_prefix_caption, train.py): TransformerMapper and friends.

class MlpTransformer(nn.Module):
    def __init__(self, in_dim, h_dim, out_d=None, act=nnf.relu, dropout=0.):
        super().__init__()
        out_d = out_d if out_d is not None else in_dim
        self.fc1 = nn.Linear(in_dim, h_dim)
        self.act = act
        self.fc2 = nn.Linear(h_dim, out_d)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        x = self.fc1(x)
        x = self.act(x)
        x = self.dropout(x)
        x = self.fc2(x)
        return self.dropout(x)


class MultiHeadAttention(nn.Module):
    def __init__(self, dim_self, dim_ref, num_heads, bias=True, dropout=0.):
        super().__init__()
        self.num_heads = num_heads
        head_dim = dim_self // num_heads
        self.scale = head_dim ** -0.5
        self.to_queries = nn.Linear(dim_self, dim_self, bias=bias)
        self.to_keys_values = nn.Linear(dim_ref, dim_self * 2, bias=bias)
        self.project = nn.Linear(dim_self, dim_self)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, y=None, mask=None):
        y = y if y is not None else x
        b, n, c = x.shape
        _, m, d = y.shape
        queries = self.to_queries(x).reshape(b, n, self.num_heads, c // self.num_heads)
        keys_values = self.to_keys_values(y).reshape(b, m, 2, self.num_heads, c // self.num_heads)
        keys, values = keys_values[:, :, 0], keys_values[:, :, 1]
        attention = torch.einsum('bnhd,bmhd->bnmh', queries, keys) * self.scale
        if mask is not None:
            if mask.dim() == 2:
                mask = mask.unsqueeze(1)
            attention = attention.masked_fill(mask.unsqueeze(3), float("-inf"))
        attention = attention.softmax(dim=2)
        out = torch.einsum('bnmh,bmhd->bnhd', attention, values).reshape(b, n, c)
        out = self.project(out)
        return out, attention


class TransformerLayer(nn.Module):
    def __init__(self, dim_self, dim_ref, num_heads, mlp_ratio=4., bias=False, dropout=0., act=nnf.relu,
                 norm_layer=nn.LayerNorm):
        super().__init__()
        self.norm1 = norm_layer(dim_self)
        self.attn = MultiHeadAttention(dim_self, dim_ref, num_heads, bias=bias, dropout=dropout)
        self.norm2 = norm_layer(dim_self)
        self.mlp = MlpTransformer(dim_self, int(dim_self * mlp_ratio), act=act, dropout=dropout)

    def forward(self, x, y=None, mask=None):
        x = x + self.attn(self.norm1(x), y, mask)[0]
        x = x + self.mlp(self.norm2(x))
        return x


class Transformer(nn.Module):
    def __init__(self, dim_self, num_heads, num_layers, dim_ref=None, mlp_ratio=2., act=nnf.relu,
                 norm_layer=nn.LayerNorm, enc_dec=False):
        super().__init__()
        dim_ref = dim_ref if dim_ref is not None else dim_self
        self.enc_dec = enc_dec
        if enc_dec:
            num_layers = num_layers * 2
        layers = []
        for i in range(num_layers):
            if i % 2 == 0 and enc_dec:
                layers.append(TransformerLayer(dim_self, dim_ref, num_heads, mlp_ratio, act=act, norm_layer=norm_layer))
            elif enc_dec:
                layers.append(TransformerLayer(dim_self, dim_self, num_heads, mlp_ratio, act=act, norm_layer=norm_layer))
            else:
                layers.append(TransformerLayer(dim_self, dim_ref, num_heads, mlp_ratio, act=act, norm_layer=norm_layer))
        self.layers = nn.ModuleList(layers)

    def forward(self, x, y=None, mask=None):
        for i, layer in enumerate(self.layers):
            if i % 2 == 0 and self.enc_dec:
                x = layer(x, y)
            elif self.enc_dec:
                x = layer(x, x, mask)
            else:
                x = layer(x, y, mask)
        return x


class TransformerMapper(nn.Module):
    def __init__(self, dim_clip, dim_embedding, prefix_length, clip_length, num_layers=8):
        super().__init__()
        self.clip_length = clip_length
        self.transformer = Transformer(dim_embedding, 8, num_layers)
        self.linear = nn.Linear(dim_clip, clip_length * dim_embedding)
        self.prefix_const = nn.Parameter(torch.randn(prefix_length, dim_embedding), requires_grad=True)

    def forward(self, x):
        x = self.linear(x).view(x.shape[0], self.clip_length, -1)
        prefix = self.prefix_const.unsqueeze(0).expand(x.shape[0], *self.prefix_const.shape)
        prefix = torch.cat((x, prefix), dim=1)
        return self.transformer(prefix)[:, self.clip_length:]


class OriginalClipCaptionModel(nn.Module):
    """rmokady/CLIP_prefix_caption `ClipCaptionModel` (keys gpt.*, clip_project.*)."""

    def __init__(self, gpt2_config, prefix_length, clip_length=None, prefix_size=512, num_layers=8, mapping="mlp"):
        super().__init__()
        from transformers import GPT2LMHeadModel
        self.prefix_length = prefix_length
        self.gpt = GPT2LMHeadModel(gpt2_config)
        self.gpt_embedding_size = self.gpt.transformer.wte.weight.shape[1]
        if mapping == "mlp":
            self.clip_project = MLP((prefix_size, (self.gpt_embedding_size * prefix_length) // 2,
                                     self.gpt_embedding_size * prefix_length))
        else:
            self.clip_project = TransformerMapper(prefix_size, self.gpt_embedding_size, prefix_length,
                                                  clip_length, num_layers)

    def prefix(self, clip_embeds):
        return self.clip_project(clip_embeds).view(-1, self.prefix_length, self.gpt_embedding_size)

    @property
    def lm(self):
        return self.gpt


# ----------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------

def perturb(module, generator, noise=0.1):
    """Makes biases and LayerNorm parameters non-trivial (PyTorch initialises many to 0/1)."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("bias") or p.dim() == 1:
                p.add_(noise * torch.randn(p.shape, generator=generator))


def f32_bytes(t):
    return np.ascontiguousarray(t.detach().to(torch.float32).cpu().numpy()).astype("<f4").tobytes()


def tensor_record(t):
    """Shape, SHA-256 of the float32 little-endian bytes, and the first values."""
    a = t.detach().to(torch.float32).contiguous()
    return {"shape": list(a.shape), "sha256": hashlib.sha256(f32_bytes(a)).hexdigest(),
            "first": [float(v) for v in a.flatten()[:4]]}


def write_json(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=1, ensure_ascii=False, sort_keys=True)
        f.write("\n")


def save_npy(path, array):
    np.save(path, np.ascontiguousarray(array))


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


# ----------------------------------------------------------------------------------------
# CLIP
# ----------------------------------------------------------------------------------------

def make_clip(generator):
    import clip.model
    torch.manual_seed(1234)
    # A one-layer text tower: the converter skips it, but a full CLIP archive has one.
    model = clip.model.CLIP(embed_dim=CLIP_EMBED, image_resolution=224, vision_layers=2, vision_width=64,
                            vision_patch_size=32, context_length=8, vocab_size=64, transformer_width=64,
                            transformer_heads=1, transformer_layers=1)
    perturb(model, generator)
    # Round every weight to fp16 so the fp16 archives and fp32 references hold the same values,
    # exactly as clip.load(jit=False) widens OpenAI's fp16 weights with model.float().
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.half().float())
    # OpenAI's archives carry these three (build_model deletes them): keep them for realism.
    for name, value in (("input_resolution", 224), ("context_length", 8), ("vocab_size", 64)):
        if hasattr(model, name):
            delattr(model, name)
        model.register_buffer(name, torch.tensor(value))
    return model.eval()


def save_clip_variants(model, out):
    """TorchScript archive (fp16, like ViT-B-32.pt), plain state dict (mixed fp16/fp32, like
    clip.load(jit=False).state_dict()), and a Hugging Face CLIPVisionModelWithProjection folder."""
    import clip.model
    os.makedirs(out, exist_ok=True)
    # TorchScript: trace the whole CLIP (image and text towers) as OpenAI did, then halve it.
    image = torch.zeros(1, 3, 224, 224)
    text = torch.zeros(1, 8, dtype=torch.long)
    traced = torch.jit.trace(copy.deepcopy(model), (image, text), check_trace=False)
    traced = traced.half()
    torch.jit.save(traced, os.path.join(out, "ViT-tiny-jit.pt"))

    mixed = copy.deepcopy(model)
    clip.model.convert_weights(mixed)
    torch.save(mixed.state_dict(), os.path.join(out, "ViT-tiny-state-dict.pt"))

    hf_dir = os.path.join(out, "hf-vision")
    hf = to_hf_vision(model)
    hf.half().save_pretrained(hf_dir, safe_serialization=True)
    write_json(os.path.join(hf_dir, "preprocessor_config.json"), {
        "crop_size": {"height": 224, "width": 224}, "do_center_crop": True, "do_normalize": True,
        "do_resize": True, "image_processor_type": "CLIPImageProcessor",
        "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
        "resample": 3, "size": {"shortest_edge": 224}})
    return hf


def to_hf_vision(model):
    """The same weights under Hugging Face names (as transformers' convert_clip script maps them)."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection
    v = model.visual
    w = v.conv1.weight.shape[0]
    config = CLIPVisionConfig(hidden_size=w, intermediate_size=4 * w, num_hidden_layers=len(v.transformer.resblocks),
                              num_attention_heads=w // 64, image_size=224, patch_size=32, projection_dim=CLIP_EMBED,
                              hidden_act="quick_gelu", layer_norm_eps=1e-5)
    hf = CLIPVisionModelWithProjection(config).eval()
    sd = {}
    sd["vision_model.embeddings.patch_embedding.weight"] = v.conv1.weight
    sd["vision_model.embeddings.class_embedding"] = v.class_embedding
    sd["vision_model.embeddings.position_embedding.weight"] = v.positional_embedding
    sd["vision_model.pre_layrnorm.weight"] = v.ln_pre.weight
    sd["vision_model.pre_layrnorm.bias"] = v.ln_pre.bias
    for i, block in enumerate(v.transformer.resblocks):
        p = f"vision_model.encoder.layers.{i}."
        qw, kw, vw = block.attn.in_proj_weight.chunk(3)
        qb, kb, vb = block.attn.in_proj_bias.chunk(3)
        for name, wt, bt in (("q", qw, qb), ("k", kw, kb), ("v", vw, vb)):
            sd[p + f"self_attn.{name}_proj.weight"] = wt
            sd[p + f"self_attn.{name}_proj.bias"] = bt
        sd[p + "self_attn.out_proj.weight"] = block.attn.out_proj.weight
        sd[p + "self_attn.out_proj.bias"] = block.attn.out_proj.bias
        sd[p + "layer_norm1.weight"] = block.ln_1.weight
        sd[p + "layer_norm1.bias"] = block.ln_1.bias
        sd[p + "layer_norm2.weight"] = block.ln_2.weight
        sd[p + "layer_norm2.bias"] = block.ln_2.bias
        sd[p + "mlp.fc1.weight"] = block.mlp.c_fc.weight
        sd[p + "mlp.fc1.bias"] = block.mlp.c_fc.bias
        sd[p + "mlp.fc2.weight"] = block.mlp.c_proj.weight
        sd[p + "mlp.fc2.bias"] = block.mlp.c_proj.bias
    sd["vision_model.post_layernorm.weight"] = v.ln_post.weight
    sd["vision_model.post_layernorm.bias"] = v.ln_post.bias
    sd["visual_projection.weight"] = v.proj.t()
    missing, unexpected = hf.load_state_dict({k: t.detach().clone().contiguous() for k, t in sd.items()}, strict=False)
    assert not unexpected and all("position_ids" in m for m in missing), (missing, unexpected)
    return hf


def clip_expected_tensors(model):
    """Expected `.ccm` tensors of the image encoder (names and layouts of docs/CONVERT.md)."""
    v = model.visual
    w = v.conv1.weight.shape[0]
    out = {
        "clip.patch_embed.weight": v.conv1.weight.reshape(w, -1).t(),
        "clip.class_embedding": v.class_embedding.reshape(1, 1, w),
        "clip.positional_embedding": v.positional_embedding,
        "clip.ln_pre.weight": v.ln_pre.weight, "clip.ln_pre.bias": v.ln_pre.bias,
        "clip.ln_post.weight": v.ln_post.weight, "clip.ln_post.bias": v.ln_post.bias,
        "clip.proj.weight": v.proj,
    }
    for i, block in enumerate(v.transformer.resblocks):
        p = f"clip.layers.{i}."
        for j, name in enumerate(("q", "k", "v")):
            out[p + f"attn.{name}.weight"] = block.attn.in_proj_weight[j * w:(j + 1) * w].t()
            out[p + f"attn.{name}.bias"] = block.attn.in_proj_bias[j * w:(j + 1) * w]
        out[p + "attn.out.weight"] = block.attn.out_proj.weight.t()
        out[p + "attn.out.bias"] = block.attn.out_proj.bias
        out[p + "ln_1.weight"] = block.ln_1.weight
        out[p + "ln_1.bias"] = block.ln_1.bias
        out[p + "ln_2.weight"] = block.ln_2.weight
        out[p + "ln_2.bias"] = block.ln_2.bias
        out[p + "mlp.fc1.weight"] = block.mlp.c_fc.weight.t()
        out[p + "mlp.fc1.bias"] = block.mlp.c_fc.bias
        out[p + "mlp.fc2.weight"] = block.mlp.c_proj.weight.t()
        out[p + "mlp.fc2.bias"] = block.mlp.c_proj.bias
    return out


# ----------------------------------------------------------------------------------------
# GPT-2 folders and tokenizers
# ----------------------------------------------------------------------------------------

ENGLISH_CORPUS = """A man riding a horse on the beach.
Two dogs are playing with a red ball in the grass.
A woman in a blue shirt is standing next to a bicycle.
A group of people are walking down a busy city street.
A little girl is sitting on a bench and eating ice cream.
A black and white dog jumps to catch a frisbee.
Three men are working on a tall building.
A boy in a yellow jacket rides a skateboard down the road.
People sitting at a table in a restaurant.
A cat is sleeping on the window sill.
A young man plays the guitar on stage.
Children are swimming in a pool on a sunny day.
An old man reads a newspaper in the park.
A brown horse stands in a green field.
A person holding an umbrella walks in the rain.
"""


def make_gpt2_folders(seed_dir, out):
    from tokenizers import ByteLevelBPETokenizer
    zh = os.path.join(out, "gpt2-zh")
    en = os.path.join(out, "gpt2-en")
    for folder in (zh, en):
        os.makedirs(folder, exist_ok=True)
    with open(os.path.join(seed_dir, "pretrained-configs", "gpt2", "vocab.txt"), encoding="utf-8") as f:
        lines = f.read().split("\n")[:1000]
    assert lines[0] == "[PAD]" and lines[100] == "[UNK]" and lines[101] == "[CLS]" and lines[102] == "[SEP]"
    with open(os.path.join(zh, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    base = dict(n_positions=64, n_ctx=64, n_embd=D, n_layer=2, n_head=2, activation_function="gelu_new",
                layer_norm_epsilon=1e-5, model_type="gpt2", architectures=["GPT2LMHeadModel"],
                attn_pdrop=0.0, embd_pdrop=0.0, resid_pdrop=0.0, initializer_range=0.02, n_inner=None)
    write_json(os.path.join(zh, "config.json"), dict(base, vocab_size=len(lines), tokenizer_class="BertTokenizer"))
    write_json(os.path.join(zh, "tokenizer_config.json"), {"tokenizer_class": "BertTokenizer", "do_lower_case": True,
                                                           "unk_token": "[UNK]", "sep_token": "[SEP]",
                                                           "pad_token": "[PAD]", "cls_token": "[CLS]"})

    tok = ByteLevelBPETokenizer()
    tok.train_from_iterator(ENGLISH_CORPUS.splitlines(), vocab_size=300, min_frequency=1,
                            special_tokens=["<|endoftext|>"], show_progress=False)
    tok.save_model(en)
    vocab = json.load(open(os.path.join(en, "vocab.json"), encoding="utf-8"))
    write_json(os.path.join(en, "config.json"), dict(base, vocab_size=len(vocab), bos_token_id=vocab["<|endoftext|>"],
                                                    eos_token_id=vocab["<|endoftext|>"]))
    write_json(os.path.join(en, "tokenizer_config.json"), {"tokenizer_class": "GPT2Tokenizer", "add_prefix_space": False,
                                                           "unk_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
                                                           "bos_token": "<|endoftext|>"})
    return zh, en, lines, vocab


def gpt2_config(folder):
    from transformers import GPT2Config
    return GPT2Config.from_pretrained(folder)


def scale_gpt2(lm, generator):
    """Logits that are far from uniform: larger token embeddings (std 0.4), noisy biases/norms."""
    with torch.no_grad():
        lm.transformer.wte.weight.normal_(0.0, 0.4, generator=generator)
        lm.transformer.wpe.weight.normal_(0.0, 0.1, generator=generator)
        for name, p in lm.transformer.h.named_parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.15, generator=generator)
    perturb(lm.transformer, generator)


def scale_mapper(mapper, generator):
    """Mapper matrices with std 1.5/sqrt(fan_in), so the prefix depends clearly on the image
    (random CLIP embeddings of different photos are close: cosine ~0.98)."""
    with torch.no_grad():
        for name, p in mapper.named_parameters():
            if p.dim() == 2 and name != "prefix_const":
                p.normal_(0.0, 1.5 / math.sqrt(p.shape[1]), generator=generator)
    perturb(mapper, generator)


def gpt2_expected_tensors(lm, prefix="gpt2."):
    t = lm.transformer
    out = {prefix + "wte": t.wte.weight, prefix + "wpe": t.wpe.weight,
           prefix + "ln_f.weight": t.ln_f.weight, prefix + "ln_f.bias": t.ln_f.bias}
    for i, block in enumerate(t.h):
        p = f"{prefix}h.{i}."
        out[p + "ln_1.weight"] = block.ln_1.weight
        out[p + "ln_1.bias"] = block.ln_1.bias
        out[p + "attn.c_attn.weight"] = block.attn.c_attn.weight  # Conv1D: already [in, out]
        out[p + "attn.c_attn.bias"] = block.attn.c_attn.bias
        out[p + "attn.c_proj.weight"] = block.attn.c_proj.weight
        out[p + "attn.c_proj.bias"] = block.attn.c_proj.bias
        out[p + "ln_2.weight"] = block.ln_2.weight
        out[p + "ln_2.bias"] = block.ln_2.bias
        out[p + "mlp.c_fc.weight"] = block.mlp.c_fc.weight
        out[p + "mlp.c_fc.bias"] = block.mlp.c_fc.bias
        out[p + "mlp.c_proj.weight"] = block.mlp.c_proj.weight
        out[p + "mlp.c_proj.bias"] = block.mlp.c_proj.bias
    return out


def linear_expected(prefix, linear):
    out = {prefix + ".weight": linear.weight.t()}
    if linear.bias is not None:
        out[prefix + ".bias"] = linear.bias
    return out


def mapper_expected_tensors(model, mapping):
    cp = model.clip_project
    out = {}
    if mapping == "mlp":
        out.update(linear_expected("mapper.mlp.0", cp.model[0]))
        out.update(linear_expected("mapper.mlp.2", cp.model[2]))
        return out
    out.update(linear_expected("mapper.linear", cp.linear))
    out["mapper.prefix_const"] = cp.prefix_const.unsqueeze(0)
    if mapping == "bert":
        e = cp.bert.embeddings
        out["mapper.bert.position_embeddings"] = e.position_embeddings.weight
        out["mapper.bert.token_type_embeddings"] = e.token_type_embeddings.weight
        out["mapper.bert.embeddings.norm.weight"] = e.LayerNorm.weight
        out["mapper.bert.embeddings.norm.bias"] = e.LayerNorm.bias
        for i, layer in enumerate(cp.bert.encoder.layer):
            p = f"mapper.bert.layers.{i}."
            out.update(linear_expected(p + "query", layer.attention.self.query))
            out.update(linear_expected(p + "key", layer.attention.self.key))
            out.update(linear_expected(p + "value", layer.attention.self.value))
            out.update(linear_expected(p + "attn_out", layer.attention.output.dense))
            out[p + "attn_norm.weight"] = layer.attention.output.LayerNorm.weight
            out[p + "attn_norm.bias"] = layer.attention.output.LayerNorm.bias
            out.update(linear_expected(p + "fc1", layer.intermediate.dense))
            out.update(linear_expected(p + "fc2", layer.output.dense))
            out[p + "out_norm.weight"] = layer.output.LayerNorm.weight
            out[p + "out_norm.bias"] = layer.output.LayerNorm.bias
    else:
        for i, layer in enumerate(cp.transformer.layers):
            p = f"mapper.transformer.layers.{i}."
            out[p + "norm1.weight"] = layer.norm1.weight
            out[p + "norm1.bias"] = layer.norm1.bias
            out.update(linear_expected(p + "attn.q", layer.attn.to_queries))
            out.update(linear_expected(p + "attn.kv", layer.attn.to_keys_values))
            out.update(linear_expected(p + "attn.out", layer.attn.project))
            out[p + "norm2.weight"] = layer.norm2.weight
            out[p + "norm2.bias"] = layer.norm2.bias
            out.update(linear_expected(p + "mlp.fc1", layer.mlp.fc1))
            out.update(linear_expected(p + "mlp.fc2", layer.mlp.fc2))
    return out


# ----------------------------------------------------------------------------------------
# References
# ----------------------------------------------------------------------------------------

def load_image(path, preprocess):
    from PIL import Image, ImageOps
    img = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    return preprocess(img).unsqueeze(0)


@torch.no_grad()
def greedy(lm, prefix, stop_ids, banned_ids, steps=STEPS):
    """Greedy decoding from the prefix, recomputing the whole sequence each step (as the seed
    does). Returns the chosen ids and the raw logits (before banning) of every step."""
    embeds = prefix
    ids, rows = [], []
    for _ in range(steps):
        logits = lm(inputs_embeds=embeds).logits[0, -1, :].clone()
        rows.append(logits.clone())
        for b in banned_ids:
            logits[b] = -float("inf")
        token = int(torch.argmax(logits))
        ids.append(token)
        if token in stop_ids:
            break
        embeds = torch.cat([embeds, lm.transformer.wte(torch.tensor([[token]]))], dim=1)
    return ids, torch.stack(rows)


def hostile_pickle(path):
    """A torch.save zip whose pickle calls os.system: converting it must fail and run nothing."""
    class Pwn:
        def __reduce__(self):
            return (os.system, ("touch /tmp/clipcap-pwned-convert",))
    torch.save({"clip_project.model.0.weight": torch.zeros(2, 2), "payload": Pwn()}, path)


# ----------------------------------------------------------------------------------------
# Other CLIP backbones (Tests/Fixtures/backbones): ModifiedResNet and ViTs of other patch sizes
# and resolutions, each with the same tiny transformer mapper + English GPT-2.
# ----------------------------------------------------------------------------------------

BACKBONE_OUT = os.path.join(ROOT, "Tests", "Fixtures", "backbones")
# name -> clip.model.CLIP vision arguments and the archive kind OpenAI publishes for it.
BACKBONES = {
    # RN50x4's resolution; 2+1+1+1 blocks exercise the stride-1 blocks, the strided stages and
    # the width-changing shortcut of layer1; width 8 -> 256 pooled features, 4 heads.
    "rn-288": (dict(image_resolution=288, vision_layers=(2, 1, 1, 1), vision_width=8, vision_patch_size=None), "jit"),
    # ViT-B/16's patch size at 224 (14x14 grid).
    "vit-p16-224": (dict(image_resolution=224, vision_layers=2, vision_width=64, vision_patch_size=16), "state-dict"),
    # ViT-L/14@336's patch size and resolution (24x24 grid).
    "vit-p14-336": (dict(image_resolution=336, vision_layers=2, vision_width=64, vision_patch_size=14), "jit"),
}


def make_backbone(name, generator):
    import clip.model
    vision, _ = BACKBONES[name]
    torch.manual_seed(4321)
    model = clip.model.CLIP(embed_dim=CLIP_EMBED, context_length=8, vocab_size=64, transformer_width=64,
                            transformer_heads=1, transformer_layers=1, **vision)
    perturb(model, generator)
    with torch.no_grad():
        if isinstance(model.visual, clip.model.ModifiedResNet):
            # Batch norms whose statistics are far from identity, so a wrong fold shows; convolutions
            # scaled by 1.5/sqrt(fan_in) so the activations neither vanish nor explode.
            for m in model.visual.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.running_mean.normal_(0.0, 0.2, generator=generator)
                    m.running_var.uniform_(0.5, 2.0, generator=generator)
                    m.weight.uniform_(0.6, 1.4, generator=generator)
                elif isinstance(m, nn.Conv2d):
                    fan_in = m.weight[0].numel()
                    m.weight.normal_(0.0, 1.5 / math.sqrt(fan_in), generator=generator)
        # fp16-exact values everywhere, buffers included (the archives are halved whole).
        for t in list(model.parameters()) + list(model.buffers()):
            if t.is_floating_point():
                t.copy_(t.half().float())
    return model.eval()


def save_backbone(model, name, path):
    import clip.model
    _, kind = BACKBONES[name]
    if kind == "jit":
        size = model.visual.input_resolution
        traced = torch.jit.trace(copy.deepcopy(model), (torch.zeros(1, 3, size, size), torch.zeros(1, 8, dtype=torch.long)),
                                 check_trace=False)
        torch.jit.save(traced.half(), path)
    else:
        mixed = copy.deepcopy(model)
        clip.model.convert_weights(mixed)
        torch.save(mixed.state_dict(), path)


def make_backbone_fixtures(seed_dir):
    """Writes Tests/Fixtures/backbones/ (MANIFEST.json lists the files and references); reads the
    English GPT-2 folder of Tests/Fixtures/models, which it leaves unchanged."""
    import clip
    import clip.model
    if os.path.isdir(BACKBONE_OUT):
        shutil.rmtree(BACKBONE_OUT)
    os.makedirs(os.path.join(BACKBONE_OUT, "reference"))
    g = torch.Generator().manual_seed(20261204)
    en_dir = os.path.join(OUT, "gpt2-en")
    en_vocab = json.load(open(os.path.join(en_dir, "vocab.json"), encoding="utf-8"))
    stop = [en_vocab["<|endoftext|>"], en_vocab["."]]
    torch.manual_seed(5)
    captioner = OriginalClipCaptionModel(gpt2_config(en_dir), PREFIX_LEN, clip_length=CONSTANT_LEN,
                                         prefix_size=CLIP_EMBED, num_layers=2, mapping="transformer").eval()
    scale_gpt2(captioner.lm, g)
    scale_mapper(captioner.clip_project, g)
    with torch.no_grad():
        captioner.clip_project.prefix_const.normal_(0.0, 1.0, generator=g)
    torch.save(captioner.state_dict(), os.path.join(BACKBONE_OUT, "clipcap-en-transformer.pt"))
    manifest = {"generator": "tools/make_fixtures.py --only backbones", "torch": torch.__version__,
                "checkpoint": "clipcap-en-transformer.pt", "gpt2": "../models/gpt2-en", "normalize_prefix": True,
                "stop_token_ids": stop, "backbones": {}}
    for name in BACKBONES:
        model = make_backbone(name, g)
        filename = f"{name}.pt"
        save_backbone(model, name, os.path.join(BACKBONE_OUT, filename))
        # The real user path: clip.load(jit=False) builds the model and the preprocessing at its
        # resolution (clip.load reads only archives; a state dict goes through build_model as it does).
        if BACKBONES[name][1] == "jit":
            loaded, preprocess = clip.load(os.path.join(BACKBONE_OUT, filename), device="cpu", jit=False)
        else:
            loaded = clip.model.build_model(torch.load(os.path.join(BACKBONE_OUT, filename), map_location="cpu"))
            preprocess = clip.clip._transform(loaded.visual.input_resolution)
        loaded = loaded.float().eval()
        refs = {}
        for image in REFERENCE_IMAGES:
            pixels = load_image(os.path.join(seed_dir, "images", "dev", image), preprocess)
            emb = loaded.encode_image(pixels).float()
            assert torch.allclose(emb, model.float().encode_image(pixels), atol=1e-5), "clip.load differs from the model"
            x = emb / emb.norm(2, -1, keepdim=True)
            prefix = captioner.prefix(x)
            ids, logits = greedy(captioner.lm, prefix, stop, [])
            stem = f"{name}.{image[:-4]}"
            for kind, value in (("image_embedding", emb), ("prefix_embeddings", prefix), ("logits", logits)):
                save_npy(os.path.join(BACKBONE_OUT, "reference", f"{stem}.{kind}.npy"), value.numpy().astype("<f4"))
            save_npy(os.path.join(BACKBONE_OUT, "reference", f"{stem}.greedy_ids.npy"), np.array(ids, dtype="<i4"))
            refs[image] = {"ids": ids, "embedding_norm": round(float(emb.norm()), 4),
                           "mean_logit_range": round(float((logits.max(1).values - logits.min(1).values).mean()), 3)}
        manifest["backbones"][name] = {"clip": filename, "kind": BACKBONES[name][1], "vision": {
            k: (list(v) if isinstance(v, tuple) else v) for k, v in BACKBONES[name][0].items()},
            "image_size": loaded.visual.input_resolution, "references": refs}
    manifest["tolerances"] = {"image_embedding_cosine": 0.99999, "logits_max_abs": 1e-3}
    manifest["files_sha256"] = {}
    for dirpath, _, files in os.walk(BACKBONE_OUT):
        for f in sorted(files):
            rel = os.path.relpath(os.path.join(dirpath, f), BACKBONE_OUT)
            if rel != "MANIFEST.json":
                manifest["files_sha256"][rel] = sha256_file(os.path.join(dirpath, f))
    write_json(os.path.join(BACKBONE_OUT, "MANIFEST.json"), manifest)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(BACKBONE_OUT) for f in fs)
    print(f"wrote {BACKBONE_OUT} ({total / 1024:.0f} KiB)")


# ----------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed-dir", default=os.environ.get("CLIPCAP_SEED", os.path.join(ROOT, "..", "shared", "seed")))
    parser.add_argument("--only", choices=["backbones"],
                        help="write only Tests/Fixtures/backbones (leaves Tests/Fixtures/models as it is)")
    args = parser.parse_args()
    seed_dir = os.path.abspath(args.seed_dir)
    if not os.path.isdir(seed_dir):
        sys.exit(f"{seed_dir}: seed folder not found; pass --seed-dir")
    torch.set_grad_enabled(False)
    if args.only == "backbones":
        make_backbone_fixtures(seed_dir)
        return

    from transformers import BertConfig
    import clip

    torch.set_grad_enabled(False)
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    g = torch.Generator().manual_seed(20240607)
    manifest = {"generator": "tools/make_fixtures.py", "torch": torch.__version__, "layouts": {}, "references": {}}

    # CLIP in three layouts (same values).
    clip_dir = os.path.join(OUT, "clip")
    clip_model = make_clip(g)
    hf = save_clip_variants(clip_model, clip_dir)
    clip_tensors = clip_expected_tensors(clip_model)

    # The real user path: clip.load(jit=False) on our TorchScript archive.
    loaded, preprocess = clip.load(os.path.join(clip_dir, "ViT-tiny-jit.pt"), device="cpu", jit=False)
    loaded = loaded.float().eval()
    images = {}
    for name in REFERENCE_IMAGES:
        pixels = load_image(os.path.join(seed_dir, "images", "dev", name), preprocess)
        emb = loaded.encode_image(pixels).float()
        emb_hf = hf.float()(pixel_values=pixels).image_embeds
        emb_direct = clip_model.float().encode_image(pixels)
        assert torch.allclose(emb, emb_direct, atol=1e-5), "clip.load(jit=False) differs from the model"
        assert torch.allclose(emb, emb_hf, atol=1e-4), "HF CLIPVisionModelWithProjection differs from OpenAI CLIP"
        images[name] = emb
    ref_dir = os.path.join(OUT, "reference")
    os.makedirs(ref_dir)
    for name, emb in images.items():
        save_npy(os.path.join(ref_dir, f"{name[:-4]}.image_embedding.npy"), emb.numpy().astype("<f4"))

    # GPT-2 folders, BERT config.
    zh_dir, en_dir, zh_vocab, en_vocab = make_gpt2_folders(seed_dir, OUT)
    bert_dir = os.path.join(OUT, "bert")
    os.makedirs(bert_dir)
    bert_config_dict = {"architectures": ["BertModel"], "attention_probs_dropout_prob": 0.0, "hidden_act": "gelu",
                        "hidden_dropout_prob": 0.0, "hidden_size": D, "initializer_range": 0.02,
                        "intermediate_size": 2 * D, "layer_norm_eps": 1e-12, "max_position_embeddings": 32,
                        "model_type": "bert", "num_attention_heads": 8, "num_hidden_layers": 2, "pad_token_id": 0,
                        "type_vocab_size": 2, "vocab_size": 50}
    write_json(os.path.join(bert_dir, "config.json"), bert_config_dict)
    bert_config = BertConfig(**{k: v for k, v in bert_config_dict.items() if k != "architectures"})
    bert_config._attn_implementation = "eager"

    zh_stop, zh_banned = [zh_vocab.index("[SEP]")], [zh_vocab.index("[UNK]")]
    en_stop, en_banned = [en_vocab["<|endoftext|>"], en_vocab["."]], []

    checkpoints = []
    # ClipCap-Chinese MLP (+ legacy GPT-2 attention buffers, as transformers 4.x saved them).
    torch.manual_seed(1)
    zh_mlp = ChineseClipCaptionModel(gpt2_config(zh_dir), bert_config, PREFIX_LEN, CLIP_EMBED, "mlp", CONSTANT_LEN)
    checkpoints.append(("zh-mlp", zh_mlp, "mlp", "gpt2.", zh_dir, None, False, zh_stop, zh_banned, "clipcap-zh-mlp.pt"))
    # ClipCap-Chinese BERT mapper.
    torch.manual_seed(2)
    zh_bert = ChineseClipCaptionModel(gpt2_config(zh_dir), bert_config, PREFIX_LEN, CLIP_EMBED, "bert", CONSTANT_LEN)
    checkpoints.append(("zh-bert", zh_bert, "bert", "gpt2.", zh_dir, bert_dir, False, zh_stop, zh_banned, "clipcap-zh-bert.pt"))
    # Original ClipCap MLP (English BPE).
    torch.manual_seed(3)
    # prefix_length 5 here (10 elsewhere) so that the prefix length is read from the weights.
    en_mlp = OriginalClipCaptionModel(gpt2_config(en_dir), 5, prefix_size=CLIP_EMBED, mapping="mlp")
    checkpoints.append(("en-mlp", en_mlp, "mlp", "gpt.", en_dir, None, False, en_stop, en_banned, "clipcap-en-mlp.pt"))
    # Original ClipCap transformer mapper, trained with normalize_prefix; saved as safetensors.
    torch.manual_seed(4)
    en_tr = OriginalClipCaptionModel(gpt2_config(en_dir), PREFIX_LEN, clip_length=CONSTANT_LEN, prefix_size=CLIP_EMBED,
                                     num_layers=2, mapping="transformer")
    checkpoints.append(("en-transformer", en_tr, "transformer", "gpt.", en_dir, None, True, en_stop, en_banned,
                        "clipcap-en-transformer.safetensors"))

    for key, model, mapping, gpt_prefix, gpt_dir, bert, normalize, stop, banned, filename in checkpoints:
        model.eval()
        scale_gpt2(model.lm, g)
        scale_mapper(model.clip_project, g)
        if mapping != "mlp":
            with torch.no_grad():
                model.clip_project.prefix_const.normal_(0.0, 1.0, generator=g)
        path = os.path.join(OUT, filename)
        sd = model.state_dict()
        if filename.endswith(".safetensors"):
            from safetensors.torch import save_file
            # safetensors refuses shared storage: the tied head is saved as its own (equal) copy.
            save_file({k: v.detach().clone().contiguous() for k, v in sd.items()}, path)
        else:
            if key == "zh-mlp":
                for i in range(2):
                    sd[f"gpt2.transformer.h.{i}.attn.bias"] = torch.tril(torch.ones(64, 64, dtype=torch.bool)).view(1, 1, 64, 64)
                    sd[f"gpt2.transformer.h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
            if key == "zh-bert":
                sd["clip_project.bert.embeddings.position_ids"] = torch.arange(32).unsqueeze(0)
            torch.save(sd, path)

        expected = {}
        expected.update({k: tensor_record(t) for k, t in clip_tensors.items()})
        expected.update({k: tensor_record(t) for k, t in mapper_expected_tensors(model, mapping).items()})
        expected.update({k: tensor_record(t) for k, t in gpt2_expected_tensors(model.lm).items()})
        layout = {"checkpoint": filename, "gpt2": os.path.basename(gpt_dir), "mapping": mapping,
                  "normalize_prefix": normalize, "prefix_length": int(model.prefix(images[REFERENCE_IMAGES[0]]).shape[1]), "tensors": expected,
                  "vocab_size": model.lm.config.vocab_size, "stop_token_ids": stop, "banned_token_ids": banned}
        if bert:
            layout["bert"] = os.path.basename(bert)
        manifest["layouts"][key] = layout

        refs = {}
        for name, emb in images.items():
            x = emb / emb.norm(2, -1, keepdim=True) if normalize else emb
            prefix = model.prefix(x)
            ids, logits = greedy(model.lm, prefix, stop, banned)
            stem = f"{key}.{name[:-4]}"
            save_npy(os.path.join(ref_dir, stem + ".prefix_embeddings.npy"), prefix.numpy().astype("<f4"))
            save_npy(os.path.join(ref_dir, stem + ".logits.npy"), logits.numpy().astype("<f4"))
            save_npy(os.path.join(ref_dir, stem + ".greedy_ids.npy"), np.array(ids, dtype="<i4"))
            spread = float((logits.max(dim=1).values - logits.min(dim=1).values).mean())
            refs[name] = {"image_embedding": f"reference/{name[:-4]}.image_embedding.npy",
                          "prefix_embeddings": f"reference/{stem}.prefix_embeddings.npy",
                          "logits": f"reference/{stem}.logits.npy", "greedy_ids": f"reference/{stem}.greedy_ids.npy",
                          "ids": ids, "steps": len(ids), "mean_logit_range": round(spread, 3)}
        manifest["references"][key] = refs

    hostile_pickle(os.path.join(OUT, "hostile-os-system.pt"))

    manifest["clip_layouts"] = {"openai-jit": "clip/ViT-tiny-jit.pt", "openai-state-dict": "clip/ViT-tiny-state-dict.pt",
                                "hf-folder": "clip/hf-vision", "hf-safetensors": "clip/hf-vision/model.safetensors"}
    manifest["images"] = {name: f"images/dev/{name} (seed)" for name in REFERENCE_IMAGES}
    manifest["tolerances"] = {"image_embedding_cosine": 0.99999, "logits_max_abs": 1e-3}
    manifest["files_sha256"] = {}
    for dirpath, _, files in os.walk(OUT):
        for f in sorted(files):
            full = os.path.join(dirpath, f)
            rel = os.path.relpath(full, OUT)
            if rel != "MANIFEST.json":
                manifest["files_sha256"][rel] = sha256_file(full)
    write_json(os.path.join(OUT, "MANIFEST.json"), manifest)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print(f"wrote {OUT} ({total / 1024:.0f} KiB)")
    make_backbone_fixtures(seed_dir)


if __name__ == "__main__":
    main()
