"""Tiny random-weight MusicGen (and MusicGen-Melody) folders, laid out as the hub's snapshots are.

The structure is facebook/musicgen-small's config.json (and facebook/musicgen-melody's): a T5 text encoder, the
32 kHz EnCodec (upsampling ratios 8·5·4·4 = hop 640, so 50 frames a second; 2048-entry codebooks; 2.2 kbps = 4
codebooks), a decoder over 4 codebooks with the delay pattern, pad/bos id 2048, 2048 positions; the melody variant
adds 12 chroma bins and 235 chroma frames. Only the widths and depths are tiny. The folder holds what the real
snapshot's transformers files are: config.json, generation_config.json (do_sample, guidance 3, top-k 250, 1500
tokens, as published), model.safetensors, preprocessor_config.json naming the processor class, and the T5
tokenizer's files. The T5 tokenizer is built offline (the hub's t5-base spiece.model is unreachable here): a
`tokenizers` Unigram model trained on a few music descriptions, with T5's layout (<pad> 0, </s> 1, <unk> 2, then
the pieces, then 100 <extra_id_*> sentinels) and T5's Metaspace pre-tokenizer, wrapped as transformers'
T5Tokenizer (T5TokenizerFast is the same class in transformers 5).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch


# Sentences the tiny tokenizer learns its pieces from (English, as MusicGen's descriptions are).
CORPUS = [
    "80s pop track with bassy drums and synth", "90s rock song with loud guitars and heavy drums",
    "lo-fi music with a soothing melody", "a calm piano piece on a rainy evening",
    "epic orchestral cinematic theme with strings and brass", "jazz saxophone solo with brushed drums and bass",
    "happy ukulele tune for a summer day", "upbeat electronic dance track with synths",
    "calm acoustic guitar melody", "traditional chinese guzheng and bamboo flute, slow and peaceful",
] * 3

# facebook/musicgen-small's generation_config.json (224 bytes on the hub).
GENERATION = dict(do_sample=True, guidance_scale=3.0, max_length=1500, top_k=250, pad_token_id=2048,
                  bos_token_id=2048, decoder_start_token_id=2048)


def t5_tokenizer(vocab_size: int = 200):
    """A T5Tokenizer whose Unigram pieces are trained on CORPUS (offline, in well under a second)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import T5Tokenizer
    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Sequence([  # T5Tokenizer's own pre-tokenizer
        pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")])
    tok.train_from_iterator(CORPUS, trainers.UnigramTrainer(vocab_size=vocab_size, unk_token="<unk>",
                                                            special_tokens=["<pad>", "</s>", "<unk>"]))
    pieces = [(piece, score) for piece, score in json.loads(tok.to_str())["model"]["vocab"]]
    return T5Tokenizer(vocab=pieces, extra_ids=100, model_max_length=512)


def _text_encoder(vocab_size: int):
    from transformers import T5Config
    return T5Config(vocab_size=vocab_size, d_model=16, d_kv=4, d_ff=32, num_layers=2, num_heads=4,
                    relative_attention_num_buckets=8, feed_forward_proj="relu", pad_token_id=0, eos_token_id=1,
                    decoder_start_token_id=0)


def _audio_encoder():
    """EnCodec 32 kHz as facebook/encodec_32khz defines it, with 4 filters and 16-wide codebooks."""
    from transformers import EncodecConfig
    return EncodecConfig(sampling_rate=32000, audio_channels=1, normalize=False, chunk_length_s=None, overlap=None,
                         target_bandwidths=[2.2], upsampling_ratios=[8, 5, 4, 4], codebook_size=2048,
                         norm_type="weight_norm", kernel_size=7, last_kernel_size=7, residual_kernel_size=3,
                         dilation_growth_rate=2, use_causal_conv=False, pad_mode="reflect", compress=2,
                         num_lstm_layers=2, trim_right_ratio=1.0, use_conv_shortcut=False, num_residual_layers=1,
                         hidden_size=16, num_filters=4, codebook_dim=16)


def _decoder_options() -> dict:
    return dict(vocab_size=2048, max_position_embeddings=2048, num_codebooks=4, audio_channels=1, pad_token_id=2048,
                bos_token_id=2048, activation_function="gelu", scale_embedding=False, tie_word_embeddings=False,
                dropout=0.1, num_hidden_layers=2, ffn_dim=32, num_attention_heads=4, hidden_size=16)


def _widen(*modules: torch.nn.Module, std: float = 0.2) -> None:
    """Redraw the matrices of the decoder (and the melody projection) with std 0.2 instead of transformers' 0.02:
    at 0.02 the tiny decoder's logits hardly depend on the text (a 0.001 change), so neither the description, the
    guidance nor the melody would change a single sampled token; at 0.2 they steer the draw as trained weights do,
    and the next-token distribution stays broad (entropy ~7.3 nats of 7.6)."""
    with torch.no_grad():
        for module in modules:
            for param in module.parameters():
                if param.dim() == 2:
                    param.normal_(0.0, std)


def _fill_codebooks(audio_encoder: torch.nn.Module) -> None:
    """Random EnCodec codebook vectors: transformers starts them at zero (trained ones come from the checkpoint),
    which would decode every token sequence to the same sound."""
    with torch.no_grad():
        for module in audio_encoder.modules():
            if type(module).__name__ == "EncodecEuclideanCodebook":
                module.embed.normal_(0.0, 1.0)
                module.embed_avg.copy_(module.embed)
                module.cluster_size.fill_(1.0)


def _save(model, feature_extractor, tokenizer, processor_class: str, folder: Path) -> Path:
    """Weights as safetensors and the processor's parts as the hub snapshot keeps them (no processor_config.json:
    preprocessor_config.json names the processor class)."""
    from transformers import GenerationConfig
    model.generation_config = GenerationConfig(**GENERATION)
    model.save_pretrained(folder, safe_serialization=True)
    feature_extractor.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    path = folder / "preprocessor_config.json"
    path.write_text(json.dumps(dict(json.loads(path.read_text()), processor_class=processor_class), indent=2))
    return folder


def build_musicgen(folder: Path) -> Path:
    """MusicgenForConditionalGeneration as facebook/musicgen-small, tiny (~0.5 M parameters, ~2 MB)."""
    from transformers import (
        EncodecFeatureExtractor,
        MusicgenConfig,
        MusicgenDecoderConfig,
        MusicgenForConditionalGeneration,
    )
    torch.manual_seed(0)
    tokenizer = t5_tokenizer()
    config = MusicgenConfig(text_encoder=_text_encoder(len(tokenizer)), audio_encoder=_audio_encoder(),
                            decoder=MusicgenDecoderConfig(**_decoder_options()))
    features = EncodecFeatureExtractor(feature_size=1, sampling_rate=32000, padding_value=0.0, padding_side="left",
                                       return_attention_mask=True, chunk_length_s=None, overlap=None)
    model = MusicgenForConditionalGeneration(config)
    _widen(model.decoder)
    _fill_codebooks(model.audio_encoder)
    return _save(model, features, tokenizer, "MusicgenProcessor", folder)


def build_musicgen_melody(folder: Path) -> Path:
    """MusicgenMelodyForConditionalGeneration as facebook/musicgen-melody, tiny: the text and the melody's chroma
    (12 bins, 235 frames = 30 s at hop 4096) are prepended to the decoder's input instead of cross-attended."""
    from transformers import (
        MusicgenMelodyConfig,
        MusicgenMelodyDecoderConfig,
        MusicgenMelodyFeatureExtractor,
        MusicgenMelodyForConditionalGeneration,
    )
    torch.manual_seed(0)
    tokenizer = t5_tokenizer()
    config = MusicgenMelodyConfig(text_encoder=_text_encoder(len(tokenizer)), audio_encoder=_audio_encoder(),
                                  decoder=MusicgenMelodyDecoderConfig(**_decoder_options()), num_chroma=12,
                                  chroma_length=235)
    features = MusicgenMelodyFeatureExtractor(feature_size=12, sampling_rate=32000, hop_length=4096, chunk_length=30,
                                              n_fft=16384, num_chroma=12, padding_value=0.0,
                                              return_attention_mask=False, stem_indices=[3, 2])
    model = MusicgenMelodyForConditionalGeneration(config)
    _widen(model.decoder, model.audio_enc_to_dec_proj)
    _fill_codebooks(model.audio_encoder)
    return _save(model, features, tokenizer, "MusicgenMelodyProcessor", folder)


BUILDERS = {"tiny-musicgen": build_musicgen, "tiny-musicgen-melody": build_musicgen_melody}


if __name__ == "__main__":  # python -m tests.tiny_musicgen models/  -> folders usable from the studio's UI
    import sys
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "models")
    for name, build in BUILDERS.items():
        print(name, build(root / name))
