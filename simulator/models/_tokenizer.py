"""Word-level tokenizer for the compact format, built with ``tokenizers``.

One token per word keeps sequences short (a 10-block task is about 250 tokens) and makes every
token meaningful, which is what a small model trained on a few thousand plans needs.
"""

from __future__ import annotations

from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from iterdeploy.simulator.models._hf_logging import quiet_transformers

quiet_transformers()

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"


def build_tokenizer(words: list[str]) -> PreTrainedTokenizerFast:
    """A fast tokenizer whose vocabulary is the special tokens followed by ``words``."""
    vocab: dict[str, int] = {}
    for word in [PAD, BOS, EOS, UNK, *words]:
        vocab.setdefault(word, len(vocab))
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token=PAD, bos_token=BOS, eos_token=EOS, unk_token=UNK
    )
    return tok
