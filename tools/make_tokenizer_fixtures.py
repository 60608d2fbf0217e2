#!/usr/bin/env python3
"""Regenerate the tokenizer test fixtures under Tests/Fixtures/tokenizers/.

Run from the repository root:  python3 tools/make_tokenizer_fixtures.py

Needs `transformers` (5.x), `tokenizers` and `regex`; reads the seed files in
../shared/seed (the Chinese vocab.txt and the reference captions). Writes:

- vocab.txt            copy of the Chinese GPT-2's WordPiece vocabulary (21128 lines)
- wordpiece_cases.json every reference caption + tricky strings, with the ids of HF's
                       BertTokenizer (Rust backend), the ids of BertTokenizerLegacy (the pure
                       Python tokenizer the seed ran in 2022), the seed's `"".join(tokens)` text
                       and the decoded text under our documented rule (see docs/TOKENIZERS.md)
- bpe/vocab.json, bpe/merges.txt
                       a small byte-level BPE trained here with `tokenizers` (no GPT-2 vocab
                       exists on this machine); deterministic for a fixed corpus
- bpe_cases.json       GPT2Tokenizer encodings of test strings, cross-checked against a
                       from-scratch Python port of OpenAI's encoder.py algorithm, plus decodes
                       of arbitrary id sequences (including ones that split UTF-8 characters)
"""
import json
import os
import random
import shutil
import sys
import unicodedata

import regex
from tokenizers import ByteLevelBPETokenizer
from transformers import BertTokenizer, GPT2Tokenizer
from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = os.path.join(os.path.dirname(ROOT), "shared", "seed")
OUT = os.path.join(ROOT, "Tests", "Fixtures", "tokenizers")
VOCAB_DIR = os.path.join(SEED, "pretrained-configs", "gpt2")

# ----------------------------------------------------------------------------------------------
# WordPiece (Chinese GPT-2)
# ----------------------------------------------------------------------------------------------

WORDPIECE_TRICKY = [
    "一个人在一个领域的平均数量是2.8",
    "一群人的草地上的一个小小的红色背景，正在和一群人一起在天空中留下一个黄色的山丘。",
    "Hello World, iPhone12 café naïve",
    "一个穿着T恤的男人在看NBA比赛",
    "3.14159 and 100% of 2,000 people!!",
    "ＡＢＣ１２３全角字符，。！？（）【】",
    "Crème Brûlée à la mode — Ångström Øresund",
    "ΣΑΣ σας İstanbul straße",
    "emoji 😀🥰👍🏽 and ♥☃",
    "unknown chars: \u0bb5\u0bbe\u0bb4\u0bcd \u1200\u1201 ⿰",
    "tabs\tand\nnew\r\nlines   and  spaces",
    "control\x00chars\x07here\ufffd and\u200bzero width",
    "a[SEP]b [cls] [UNK]x [CLS][PAD][MASK]",
    "compat ideographs \uf900\uf901 and ext-B \U00020000 ext-G-ish \U0002b820",
    "e\u0301 decomposed vs \u00e9 composed",
    "supercalifragilisticexpialidociousantidisestablishmentarianismfloccinaucinihilipilificationpneumonoultramicroscopicsilicovolcanoconiosis",
    "x" * 101,
    "x" * 100,
    "",
    "   ",
    "日本語のひらがなとカタカナ、한국어",
    "@#$%^&*()_+-=[]{}|;':\",./<>?`~",
    "ﬁve ﬂowers",
    "##的 ## #",
]


# Alphabet for random differential strings: the character classes the rules care about.
RANDOM_ALPHABET = (
    list("aAbZz09 '") + ["'", "'", "s", "t", "re", "ve", "ll", "d", "m"] +
    list(" \t\n\r.,!?-_/#$%^~`") + ["  ", "   ", "\u00a0", "\u3000", "\u2028", "\x0b", "\x1c", "\x85"] +
    list("éÉñßİΣσάκ") + ["e\u0301", "\u0308", "\u200b", "\ufeff", "\ufffd", "\x00"] +
    list("一个人在草地上，。！？（）【】") + list("ＡＢａ１２") + list("ひらがなカタカナ한국") +
    ["😀", "👍🏽", "❤️", "½", "²", "٣", "Ⅻ", "\uf900", "\U00020000", "𝔘"] + ["[SEP]", "[UNK]", "<|endoftext|>"]
)


def random_strings(count, seed):
    rng = random.Random(seed)
    return ["".join(rng.choice(RANDOM_ALPHABET) for _ in range(rng.randrange(0, 24))) for _ in range(count)]


def write_json(path, fields):
    """Writes `fields` as JSON with one list item per line (small, diff-friendly)."""
    lines = ["{"]
    items = list(fields.items())
    for index, (key, value) in enumerate(items):
        comma = "," if index + 1 < len(items) else ""
        if isinstance(value, list):
            lines.append(f"{json.dumps(key)}: [")
            lines.extend(json.dumps(v, ensure_ascii=False) + ("," if i + 1 < len(value) else "")
                         for i, v in enumerate(value))
            lines.append("]" + comma)
        else:
            lines.append(f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}{comma}")
    lines.append("}")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def read_reference_captions():
    captions = []
    folder = os.path.join(SEED, "reference-captions")
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".txt"):
            continue
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                captions.extend(c for c in parts[1:] if c)
    return captions


def decode_rule(tokens):
    """Our documented decode rule: the seed's "".join(tokens) minus [PAD]/[CLS]/[SEP]/[MASK],
    with the "##" of continuation pieces removed."""
    out = []
    for t in tokens:
        if t in ("[PAD]", "[CLS]", "[SEP]", "[MASK]"):
            continue
        if t.startswith("##") and len(t) > 2:
            t = t[2:]
        out.append(t)
    return "".join(out)


def make_wordpiece():
    shutil.copyfile(os.path.join(VOCAB_DIR, "vocab.txt"), os.path.join(OUT, "vocab.txt"))
    fast = BertTokenizer.from_pretrained(VOCAB_DIR)  # exactly how the seed's predict.py loads it
    legacy = BertTokenizerLegacy(vocab_file=os.path.join(VOCAB_DIR, "vocab.txt"))
    cases = []
    disagreements = 0
    reference = read_reference_captions()
    for source, texts in (("reference", reference), ("tricky", WORDPIECE_TRICKY),
                          ("random", random_strings(300, 7))):
        for text in texts:
            ids = fast.encode(text, add_special_tokens=False)
            legacy_ids = legacy.encode(text, add_special_tokens=False)
            tokens = legacy.convert_ids_to_tokens(legacy_ids)
            case = {
                "source": source,
                "text": text,
                "ids": legacy_ids,
                "seed_join": "".join(tokens),
                "decoded": decode_rule(tokens),
            }
            if ids != legacy_ids:
                disagreements += 1
                case["hf_rust_ids"] = ids
            if source == "reference" and case["decoded"] != text:
                print(f"warning: reference caption does not round-trip: {text!r} -> {case['decoded']!r}")
            cases.append(case)
    write_json(os.path.join(OUT, "wordpiece_cases.json"), {
            "vocab": "vocab.txt",
            "note": "ids = BertTokenizerLegacy (Python BasicTokenizer+WordpieceTokenizer, what the seed ran); "
                    "hf_rust_ids present only where transformers 5's Rust-backed BertTokenizer differs",
            "python_unicodedata": unicodedata.unidata_version,
            "cases": cases,
        })
    print(f"wordpiece: {len(cases)} cases ({len(reference)} reference captions), "
          f"{disagreements} where the Rust backend differs from the Python tokenizer")


# ----------------------------------------------------------------------------------------------
# Byte-level BPE (English GPT-2 layout)
# ----------------------------------------------------------------------------------------------

TRAINING_TEXT = """\
A man in a blue shirt is standing on a ladder cleaning windows. Two dogs are running through
the snow. A group of people are sitting at a table in a restaurant. A little girl is climbing
into a wooden playhouse. A black dog and a spotted dog are fighting. A man is sleeping on a
bench in the park. The woman is holding a baby while she walks down the street. Children are
playing soccer on a grassy field. A boy jumps off a diving board into the swimming pool.
Several people are waiting for the train at the station. A cyclist rides his bike along a
mountain trail. Two women are talking to each other while they drink coffee. There's a cat
sleeping on the couch, and it's very fluffy. They're going to the beach; we've been there
before. I'm sure you'll like it, he'd said. The photographer took 25 pictures in 2019 and
1,200 more in 2020. The temperature was 3.5 degrees at 7:30 am on the 12th of March.
A woman wearing a red dress is dancing on the stage while the band plays music.
An old man with a white beard is reading a newspaper outside a cafe.
A skier is going down a steep slope covered with fresh powder snow.
A crowd of people is watching fireworks over the river at night.
The sunset over the lake is beautiful, with orange and purple clouds in the sky.
A young boy in a yellow jacket is flying a kite on the beach.
Four men are building a wooden boat near the harbor.
A chef is preparing food in a busy kitchen.
A brown horse is eating grass in a field next to a fence.
Someone is walking a dog along a sidewalk in the city.

Café au lait, crème brûlée, naïve façade, jalapeño, São Paulo, Zürich, Ångström.
Ελληνικά γράμματα και ρωσικά: привет мир, как дела?
中文字符：一个男人在草地上踢足球。日本語の文章です。한국어 문장입니다.
Emoji: 😀 😂 👍🏽 ❤️ 🎉 and symbols like © ® ™ € £ ¥ § ¶ • … — – « ».
Tabs\tand  double  spaces   and newlines
follow here.
"""

BPE_TESTS = [
    "A man riding a wave on top of a surfboard.",
    "Two dogs are playing in the snow.",
    "It's a dog's life; they're sure we'll see what I'd do, you've I'm.",
    "DON'T SHOUT'S 'S 'll",
    "Multiple   spaces    here",
    "  leading and trailing spaces  ",
    "line one\nline two\n\nline four\n",
    "tabs\tand\t\ttabs \t mixed",
    "numbers 3.14159 and 1,000,000 and 2019-2020 ½ ² ٣",
    "Café crème brûlée, naïve façade",
    "e\u0301 decomposed and \u00e9 composed",
    "中文字符：一个男人在草地上踢足球。",
    "日本語の文章です。한국어 문장입니다.",
    "Emoji: 😀👍🏽❤️ 🎉🎉",
    "A trailing period.",
    ".",
    "",
    " ",
    "\n",
    "   \n  x",
    "word!!! ??? ...",
    "<|endoftext|>",
    "before<|endoftext|>after",
    "hello\u00a0world\u2028next\u3000wide",
    "\x1c\x1d separators\x1f",
    "zero\u200bwidth joiner\u200d",
    "mixedCASE and CamelCaseWords",
    "'s's'sss'",
    "a\u0301\u0302\u0303 combining marks",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math letters",
]


def bytes_to_unicode():
    """GPT-2's byte -> printable unicode character table (written from the published rule)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    table = {}
    extra = 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


PAT = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


def reference_bpe_encode(text, vocab, merges):
    """Independent check of GPT2Tokenizer: regex pre-tokenisation + rank-ordered merges."""
    ranks = {tuple(m.split(" ")): i for i, m in enumerate(merges)}
    byte_map = bytes_to_unicode()
    ids = []
    for piece in PAT.findall(text):
        word = [byte_map[b] for b in piece.encode("utf-8")]
        while len(word) > 1:
            pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
            best = min(pairs, key=lambda p: ranks.get(p, float("inf")))
            if best not in ranks:
                break
            merged, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        ids.extend(vocab[w] for w in word)
    return ids


def make_bpe():
    bpe_dir = os.path.join(OUT, "bpe")
    os.makedirs(bpe_dir, exist_ok=True)
    trainer = ByteLevelBPETokenizer()
    trainer.train_from_iterator([TRAINING_TEXT] * 3, vocab_size=800, min_frequency=2,
                                special_tokens=["<|endoftext|>"], show_progress=False)
    trainer.save_model(bpe_dir)
    vocab_file = os.path.join(bpe_dir, "vocab.json")
    merges_file = os.path.join(bpe_dir, "merges.txt")
    with open(vocab_file, encoding="utf-8") as f:
        vocab = json.load(f)
    with open(merges_file, encoding="utf-8") as f:
        merges = [l for l in f.read().split("\n")[1:] if l]

    # from_pretrained reads exactly vocab.json + merges.txt from the folder (the constructor's
    # vocab_file=/merges_file= keywords are silently ignored by transformers 5).
    tok = GPT2Tokenizer.from_pretrained(bpe_dir)
    assert len(tok) == len(vocab), (len(tok), len(vocab))
    cases = []
    for text in BPE_TESTS + random_strings(300, 11):
        ids = tok.encode(text, add_special_tokens=False)
        if "<|endoftext|>" not in text:
            ref = reference_bpe_encode(text, vocab, merges)
            assert ids == ref, f"GPT2Tokenizer and reference disagree on {text!r}: {ids} vs {ref}"
        decoded = tok.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        cases.append({"text": text, "ids": ids,
                      "tokens": tok.convert_ids_to_tokens(ids), "decoded": decoded})

    # Arbitrary id sequences: random ids, and ids of single bytes that split multi-byte characters.
    rng = random.Random(1234)
    byte_map = bytes_to_unicode()
    decodes = []
    for n in (1, 2, 3, 5, 8, 13, 40):
        ids = [rng.randrange(len(vocab)) for _ in range(n)]
        decodes.append(ids)
    for text in ("中文", "😀", "é", "👍🏽x"):
        raw = [vocab[byte_map[b]] for b in text.encode("utf-8")]
        for cut in range(1, len(raw)):
            decodes.append(raw[:cut])
            decodes.append(raw[cut:])
        decodes.append(raw[::-1])
    decodes.append([vocab[byte_map[0xC0]], vocab[byte_map[0x80]], vocab["a"]])      # overlong
    decodes.append([vocab[byte_map[0xED]], vocab[byte_map[0xA0]], vocab[byte_map[0x80]]])  # surrogate
    decodes.append([vocab[byte_map[0xF4]], vocab[byte_map[0x90]], vocab[byte_map[0x80]], vocab[byte_map[0x80]]])
    decodes.append([vocab[byte_map[0xFF]], vocab["<|endoftext|>"], vocab[byte_map[0xFE]]])
    decode_cases = [{"ids": ids, "decoded": tok.decode(ids, skip_special_tokens=True,
                                                         clean_up_tokenization_spaces=False)}
                    for ids in decodes]

    write_json(os.path.join(OUT, "bpe_cases.json"), {
        "vocab": "bpe/vocab.json", "merges": "bpe/merges.txt",
        "vocab_size": len(vocab), "merges_count": len(merges),
        "python_unicodedata": unicodedata.unidata_version,
        "cases": cases, "decodes": decode_cases})
    print(f"bpe: vocab {len(vocab)}, merges {len(merges)}, {len(cases)} encode cases, "
          f"{len(decode_cases)} decode cases")


if __name__ == "__main__":
    if not os.path.isdir(SEED):
        sys.exit(f"seed folder not found at {SEED}: run from the repository root with ../shared beside it")
    os.makedirs(OUT, exist_ok=True)
    make_wordpiece()
    make_bpe()
