"""The demo ClipCap model in PyTorch: tokenizer, preprocessing, model classes, greedy decoding.

Shared by train.py (which builds and trains it), caption_torch.py and evaluate.py (which load
the trained files from a folder such as models/demo-src/).

Layout, exactly as the project's converter reads it:
- CLIP: a tiny ``clip.model.CLIP`` whose ``.visual`` is OpenAI's ``VisionTransformer`` (224 px,
  patch 32); saved as a traced TorchScript archive (``ViT-demo.pt``, like OpenAI's ``ViT-B-32.pt``)
  and as a plain state dict (``clip-visual-state.pt``) with OpenAI's ``visual.*`` names.
- ClipCap (``clipcap-demo.pt``, a state dict in the ClipCap-Chinese layout):
  ``clip_project.model.0`` Linear(E -> H), Tanh, ``clip_project.model.2`` Linear(H -> P*D),
  reshaped to P x D; ``gpt2.transformer.*`` and ``gpt2.lm_head.weight`` (tied to wte).
- ``gpt2/config.json`` + ``gpt2/vocab.txt``: the GPT-2 configuration and the WordPiece vocabulary.
"""
from __future__ import annotations

import json
import os

import numpy as np
import torch
import torch.nn as nn
from PIL import Image
from torchvision.transforms import CenterCrop, Compose, InterpolationMode, Normalize, Resize, ToTensor

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
SEED_VOCAB = "/work/shared/seed/pretrained-configs/gpt2/vocab.txt"
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# Every character the world's captions use (see world.py).
CAPTION_CHARS = "一两三个红绿蓝黄紫橙黑白色的圆正方三角星形和"

# File names inside a model folder.
CLIP_ARCHIVE = "ViT-demo.pt"
CLIP_STATE = "clip-visual-state.pt"
CLIPCAP_CHECKPOINT = "clipcap-demo.pt"
GPT2_DIR = "gpt2"
MODEL_JSON = "demo-model.json"

MAX_NEW_TOKENS = 32  # the longest caption is 26 characters + [SEP]


def write_vocab(path: str, seed_vocab: str = SEED_VOCAB) -> list:
    """Write the subset of the seed vocabulary the demo needs (seed order kept); returns tokens."""
    with open(seed_vocab, encoding="utf-8") as f:
        seed_tokens = [line.rstrip("\n") for line in f]
    wanted = set(SPECIAL_TOKENS) | set(CAPTION_CHARS)
    tokens = [t for t in seed_tokens if t in wanted]
    missing = wanted - set(tokens)
    if missing:
        raise SystemExit(f"{seed_vocab}: tokens missing from the seed vocabulary: {sorted(missing)}")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in tokens))
    return tokens


class CaptionTokenizer:
    """HF BertTokenizer over the demo vocab.txt; captions end in [SEP] (ClipCap-Chinese convention)."""

    def __init__(self, vocab_file: str):
        from transformers import BertTokenizer

        self.bert = BertTokenizer(vocab_file)
        self.sep_id = self.bert.convert_tokens_to_ids("[SEP]")
        self.unk_id = self.bert.convert_tokens_to_ids("[UNK]")
        self.pad_id = self.bert.convert_tokens_to_ids("[PAD]")
        self.vocab_size = len(self.bert.vocab)

    def encode(self, caption: str) -> list:
        return self.bert.encode(caption, add_special_tokens=False) + [self.sep_id]

    def decode(self, ids) -> str:
        """Tokens joined with no separator, stopping at [SEP] (as the seed does)."""
        out = []
        for i in ids:
            if i == self.sep_id:
                break
            out.append(self.bert.convert_ids_to_tokens(int(i)))
        return "".join(out)


def clip_transform(n_px: int = 224):
    """OpenAI CLIP preprocessing (clip/clip.py ``_transform``)."""
    return Compose([
        Resize(n_px, interpolation=InterpolationMode.BICUBIC),
        CenterCrop(n_px),
        lambda im: im.convert("RGB"),
        ToTensor(),
        Normalize(CLIP_MEAN, CLIP_STD),
    ])


def crop_uint8(image: Image.Image, n_px: int = 224) -> np.ndarray:
    """The CLIP resize + centre crop of an image as uint8 HWC (ToTensor/Normalize not applied yet)."""
    im = CenterCrop(n_px)(Resize(n_px, interpolation=InterpolationMode.BICUBIC)(image.convert("RGB")))
    return np.asarray(im.convert("RGB"), dtype=np.uint8)


_MEAN = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
_STD = torch.tensor(CLIP_STD).view(1, 3, 1, 1)


def normalise_uint8(batch: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 [B, H, W, 3] crops -> normalised float [B, 3, H, W] (same as ToTensor + Normalize)."""
    x = torch.from_numpy(np.array(batch, dtype=np.uint8)).permute(0, 3, 1, 2).float().div_(255.0)
    return (x - _MEAN) / _STD


def build_clip(cfg: dict):
    """A tiny OpenAI-layout CLIP whose ``visual`` is the trained ViT; the text tower is a random
    placeholder (the captioner never uses it)."""
    import clip.model

    model = clip.model.CLIP(
        embed_dim=cfg["embed_dim"], image_resolution=224, vision_layers=cfg["vision_layers"],
        vision_width=cfg["vision_width"], vision_patch_size=32, context_length=77,
        vocab_size=cfg["text_vocab"], transformer_width=64, transformer_heads=1, transformer_layers=1)
    # OpenAI's archives carry these three as tensors; clip.load(jit=True) reads input_resolution.
    for name, value in (("input_resolution", 224), ("context_length", 77), ("vocab_size", cfg["text_vocab"])):
        if hasattr(model, name):
            delattr(model, name)
        model.register_buffer(name, torch.tensor(value))
    return model


class MLP(nn.Module):
    """ClipCap-Chinese's MLP mapper: Linear -> Tanh -> Linear (keys model.0, model.2)."""

    def __init__(self, sizes):
        super().__init__()
        self.model = nn.Sequential(nn.Linear(sizes[0], sizes[1]), nn.Tanh(), nn.Linear(sizes[1], sizes[2]))

    def forward(self, x):
        return self.model(x)


def gpt2_config(cfg: dict, vocab_size: int, sep_id: int, cls_id: int):
    from transformers import GPT2Config

    return GPT2Config(
        vocab_size=vocab_size, n_embd=cfg["gpt2_width"], n_layer=cfg["gpt2_layers"],
        n_head=cfg["gpt2_heads"], n_positions=cfg["gpt2_positions"], activation_function="gelu_new",
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, layer_norm_epsilon=1e-5,
        bos_token_id=cls_id, eos_token_id=sep_id, pad_token_id=0, tie_word_embeddings=True,
        tokenizer_class="BertTokenizer")


class ClipCaptionModel(nn.Module):
    """ClipCap with the MLP mapper; state dict keys ``gpt2.*`` and ``clip_project.model.*``."""

    def __init__(self, config, clip_size: int, hidden: int, prefix_len: int):
        super().__init__()
        from transformers import GPT2LMHeadModel

        self.prefix_len = prefix_len
        self.width = config.n_embd
        self.gpt2 = GPT2LMHeadModel(config)
        self.clip_project = MLP((clip_size, hidden, prefix_len * config.n_embd))

    def prefix(self, clip_embeds: torch.Tensor) -> torch.Tensor:
        return self.clip_project(clip_embeds).view(-1, self.prefix_len, self.width)

    def logits(self, clip_embeds: torch.Tensor, caption_ids: torch.Tensor) -> torch.Tensor:
        """Logits at every position of [prefix, caption] (teacher forcing)."""
        embeds = torch.cat([self.prefix(clip_embeds), self.gpt2.transformer.wte(caption_ids)], dim=1)
        return self.gpt2(inputs_embeds=embeds).logits


class DemoCaptioner(nn.Module):
    """CLIP visual + ClipCap, trained end to end."""

    def __init__(self, clip_model, clipcap: ClipCaptionModel):
        super().__init__()
        self.clip = clip_model
        self.clipcap = clipcap

    def loss(self, pixels: torch.Tensor, caption_ids: torch.Tensor, ignore: int = -100, emb=None,
             token_weights: torch.Tensor | None = None) -> torch.Tensor:
        """Cross-entropy over caption tokens (incl. the final [SEP]); prefix positions ignored.
        ``caption_ids`` is right-padded with ``ignore``; ``emb``: encode_image(pixels) if already known;
        ``token_weights`` (vocabulary-sized): a weighted mean, by the target token's weight."""
        p = self.clipcap.prefix_len
        inputs = caption_ids.clamp(min=0)
        if emb is None:
            emb = self.clip.encode_image(pixels)
        logits = self.clipcap.logits(emb, inputs)
        # position p-1+t predicts caption token t
        pred = logits[:, p - 1:-1, :]
        if token_weights is None:
            return nn.functional.cross_entropy(pred.reshape(-1, pred.shape[-1]), caption_ids.reshape(-1),
                                               ignore_index=ignore)
        targets = caption_ids.reshape(-1)
        ce = nn.functional.cross_entropy(pred.reshape(-1, pred.shape[-1]), targets, ignore_index=ignore, reduction="none")
        w = token_weights[targets.clamp(min=0)] * (targets != ignore)
        return (ce * w).sum() / w.sum()

    @torch.no_grad()
    def greedy(self, pixels: torch.Tensor, sep_id: int, unk_id: int, max_new: int = MAX_NEW_TOKENS) -> list:
        """Greedy decoding: argmax, [UNK] banned, stop at [SEP]; returns token lists (no [SEP])."""
        b = pixels.shape[0]
        prefix = self.clipcap.prefix(self.clip.encode_image(pixels))
        wte = self.clipcap.gpt2.transformer.wte
        out = [[] for _ in range(b)]
        done = torch.zeros(b, dtype=torch.bool)
        tokens = torch.zeros(b, 0, dtype=torch.long)
        for _ in range(max_new):
            # The whole sequence is recomputed every step (no KV cache), as the seed does.
            embeds = torch.cat([prefix, wte(tokens)], dim=1)
            logits = self.clipcap.gpt2(inputs_embeds=embeds).logits[:, -1, :].clone()
            logits[:, unk_id] = -float("inf")
            nxt = logits.argmax(dim=-1)
            for i in range(b):
                if not done[i]:
                    if int(nxt[i]) == sep_id:
                        done[i] = True
                    else:
                        out[i].append(int(nxt[i]))
            if bool(done.all()):
                break
            tokens = torch.cat([tokens, nxt.unsqueeze(1)], dim=1)
        return out


def load_demo(model_dir: str):
    """Load a trained demo model folder -> (DemoCaptioner in eval mode, CaptionTokenizer)."""
    from transformers import GPT2Config

    with open(os.path.join(model_dir, MODEL_JSON), encoding="utf-8") as f:
        cfg = json.load(f)
    tok = CaptionTokenizer(os.path.join(model_dir, GPT2_DIR, "vocab.txt"))
    # Built from the config and loaded in fp32 (clip.model.build_model would round to fp16;
    # train.py already rounded the weights that way, so both give the same numbers).
    clip_model = build_clip(cfg)
    clip_model.load_state_dict(torch.load(os.path.join(model_dir, CLIP_STATE), map_location="cpu"))
    gcfg = GPT2Config.from_json_file(os.path.join(model_dir, GPT2_DIR, "config.json"))
    clipcap = ClipCaptionModel(gcfg, cfg["embed_dim"], cfg["mapper_hidden"], cfg["prefix_len"])
    clipcap.load_state_dict(torch.load(os.path.join(model_dir, CLIPCAP_CHECKPOINT), map_location="cpu"))
    model = DemoCaptioner(clip_model, clipcap).eval()
    return model, tok


def caption_pixels(model: DemoCaptioner, tok: CaptionTokenizer, pixels: torch.Tensor, batch: int = 64) -> list:
    """Greedy captions for normalised pixel batches [N, 3, 224, 224]."""
    caps = []
    for i in range(0, pixels.shape[0], batch):
        for ids in model.greedy(pixels[i:i + batch], tok.sep_id, tok.unk_id):
            caps.append(tok.decode(ids))
    return caps
