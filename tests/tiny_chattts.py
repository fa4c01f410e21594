"""A random-weight ChatTTS folder that the real `ChatTTS` package (0.2.5) loads and runs on the CPU.

What `Chat.load` reads, and why each piece is shaped as it is:

* `Chat()` always builds its modules from the package's own `ChatTTS.config.Config()` defaults; no file
  overrides them. So Vocos (8 ConvNeXt layers, dim 512, 100 mels), DVAE, Decoder and Embed (hidden 768,
  21178 text rows, 626 audio rows x 4 codebooks) keep their full sizes: `load_state_dict` is strict.
  They are the package's own classes with their default random init, stored as float16 (about 190 MB in
  all; `load_state_dict` casts back to float32). The mel buffers (window, filterbank) are kept as built.
  Two touches: the Decoder is bias-free and the Vocos log-magnitude has a -14 floor, because ChatTTS
  zero-pads the shorter rows of a batch and then drops samples under 1e-5, so zeros must decode to
  silence (else every piece of a batch comes back as long as the longest).
* The GPT is the one piece read from the folder: `LlamaModel.from_pretrained("asset/gpt")`, so its
  config.json may be tiny (2 layers, MLP 128). Its width must stay 768 because it eats Embed's vectors.
* Random weights never emit end-of-sequence on purpose, and the studio passes `manual_seed`, which
  reseeds the sampler at every step (so a low EOS probability is hit never or at once). Runs would go to
  `max_new_token` (384 text / 2048 code tokens: minutes). So Embed and head 0 of each GPT layer are
  hand-set, on residual dims 0-4, to stop at a length proportional to the prompt, whatever the seed:
    dim 0 SIGN  +1 for text and audio tokens, -1 for control tokens ([Ptts], [break_6], ...)
    dim 1 ONE   +1 for every token (a constant; RMSNorm scales the others relative to it)
    dim 2 END   +1 only on the end-of-prompt markers [Pbreak] (refine) and [Ptts] (audio codes)
    dim 3 AFTER layer 0, head 0 attends to END tokens: 1 at and after the marker, 0 before
    dim 4 FRAC  layer 1, head 0 attends uniformly: the share of the sequence at or after the marker
  The EOS rows ([Ebreak] of head_text, code 625 of each head_code) score G*(FRAC - share*ONE) plus a
  guard GUARD*(SIGN - ONE) that sinks EOS while the last token is a control token (the first step: an
  EOS there makes ChatTTS regenerate forever, or return nothing under manual_seed). So a code prompt of
  n tokens gets about 3n codes (about 64 ms of audio per prompt token), a refine prompt about 1.5x its
  text. All other head rows are near-flat noise ("quiet"), and head_text lifts the ordinary vocabulary
  (ids below [break_0]) so refined text decodes to real characters.
* The tokenizer is a BERT WordPiece over a few hundred characters (`BertTokenizerFast.from_pretrained`
  is what ChatTTS calls) plus the bracket tokens as added tokens. The order matters: ChatTTS keeps the
  refined ids below [break_0], so [uv_break] [v_break] [lbreak] [laugh] sit before it and the prompt /
  control tokens after it; [spk_emb] and [Ebreak] are looked up by name.
* Speaker sampling needs no file: `sample_random_speaker` draws from `Config().spk_stat` (768 dims).

Loading: `source="custom"` is impossible with any weights but the published ones, because
`download_models` runs `check_all_assets(..., update=False)` against `res/sha256_map.json` (kept on the
instance as `chat.sha256_map`). Two ways that use the package unchanged:
  * `build_chattts_hub_cache(cache)`, then `chat.load(source="huggingface", custom_path=cache, ...)`:
    the hub branch only looks for `cache/models--2Noise--ChatTTS/snapshots/<rev>` and checks no hashes.
  * `chat.sha256_map.update(sha256_map(folder))` before `chat.load(source="custom", custom_path=folder)`.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import torch


HUB_SNAPSHOT = Path("models--2Noise--ChatTTS") / "snapshots" / "tiny"

SIGN, ONE, END, AFTER, FRAC = range(5)  # residual dims carrying the stop signal (see the docstring)
CODE_SHARE = 0.75  # audio EOS once 75% of the sequence is at/after [Ptts]: ~3 codes per prompt token
REFINE_SHARE = 0.6  # text EOS once 60% is at/after [Pbreak]: ~1.5 refined tokens per input token
G, GUARD = 40.0, 2.0  # EOS sharpness (logit per unit of FRAC share) and first-step guard
QUIET, BOOST, NOISE = 1e-3, 0.05, 0.02  # flat head rows, lift of ordinary text ids, embedding noise
VOCOS_GAIN, VOCOS_FLOOR = 12.0, -14.0  # Vocos log-magnitude = 12 * projection - 14: peaks ~0.6, zero mel -> ~1e-9

_CHARS = ("的一是不了在人有我他这个们中来上大为和国地到以说时要就出会可也你对生能而子那得于着下自之年过发后作"
          "里用道行所然家种事成方多经么去法学如都同现当没动面起看定天分还进好小部其些主样理心她本前开但因只"
          "从想实日军者意无力它与长把机十民第公此已工使情明性知全三又关点正业外将两高间由问很最重并物手应战"
          "向头文体政美相见被利什二等产或新己制身果加西斯月话合回特代内信表化老给世位次度门任常先海通教儿原"
          "东声提立及比员解水名真论处走义各入几口认条平系气题活尔更别打女变四神总何电数安少报才结反受目太量"
          "再感建务做接必场件计管期市直德资命山金指克许统区保至队形社便空决治展马科司五基眼书非则听白却界达"
          "光放强即像难且权思王象完设式色路记南品住告类求据程北边死张该交规万取拉格望觉术领共确传师观清今切"
          "院让识候带导争运笑飞风步改收根干造言联持组每济车亲极林服快办议往元英士证近失转夫令准布始怎呢存未"
          "远叫台单影具罗字爱击流备兵连调深商算质团集百需价花党华城石级整府离况亚请技际约示复病息究线似官火"
          "断精满支视消越器容照须九增研写称企八功吗包片史委乎查轻易早曾除农找装广显吧阿李标谈吃图念六引历首"
          "医局突专费号尽另周较注语仅考落青随选列武红响虽推势参希古众构房半节土投某案黑维革划敌致陈律足态护"
          "七兴派孩验责营星够章音跟志底站严巴例防族供效续施留讲型料终答紧黄绝奇察母京段依批群项故按河米围江"
          "织害斗双境客纪采举杀攻父苏密低朝友诉止细愿千值仍男钱破网热助倒育属坐帝限船脸职速刻乐否刚威毛状率"
          "甚独球般普怕弹校苦创假久错承印晚兰试股拿脑预谁益阳若哪微尼继送急血惊伤素药适波夜省初喜卫源食险待"
          "述陆习置居劳财环排福纳欢雷警获模充负云停木游龙树疑层冷洲冲射略范竟句室异激汉村哈策演简卡罪判担州"
          "静退既衣您宗积余痛检差富灵协角占配征修皮挥胜降阶审沉坚善妈刘读啊超免压银买皇养伊怀执副乱抗犯追帮"
          "宣佛岁航优怪香著田铁控税左右份穿艺背阵草脚概恶块顿敢守酒岛托央户烈洋哥索胡款靠评版宝座释景顾弟登"
          "货互付伯慢欧换闻危忙核暗姐介坏讨丽良序升监临亮露永呼味野架域沙掉括舰鱼杂误湾吉减编楚肯测败屋跑梦"
          "散温困剑渐封救贵枪缺楼县尚毫移娘朋画班智亦耳恩短掌恐遗固席松秘谢鲁遇康虑幸均销钟诗藏赶剧票损忽巨"
          "炮旧端探湖录叶春乡附吸予礼港雨呀板庭妇归睛饭额含顺输摇招婚脱补谓督毒油疗旅泽材灭逐莫笔亡鲜词圣择"
          "寻厂睡博勒烟授诺伦岸奥唐卖俄炸载洛健堂旁宫喝借君禁阴园谋宋避抓荣姑孙逃牙束跳顶玉镇雪午练迫爷篇肉"
          "嘴馆遍凡础洞卷坦牛宁纸诸训私庄祖丝翻暴森塔默握戏隐熟骨访弱蒙歌店鬼软典欲萨伙遭盘爸扩盖弄雄稳忘亿"
          "刺拥徒姆杨齐赛趣曲刀床迎冰虚玩析窗醒妻透购替塞努休虎扬途侵刑绿兄迅套贸毕唯谷轮库迹尤竞街促延震弃"
          "甲伟麻川申缓潜闪售灯针哲络抵朱埃抱鼓植纯夏忍页杰筑折郑贝尊吴秀混臣雅振染盛怒舞圆搞狂措姓残秋培迷"
          "诚宽宇猛摆梅毁伸摩盟末乃悲拍丁赵侧醉棒仙嘛晃泪瞧拼尺腿挺躺闲牌蛋溪翔缘陪缩剩逼艾猪浪猫窝扇")
_LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789"
_PUNCT = list("，。、,.")
_INLINE = ["[uv_break]", "[v_break]", "[lbreak]", "[laugh]"]  # kept in refined text: ids below [break_0]
_CONTROL = ([f"[break_{i}]" for i in range(8)] + [f"[oral_{i}]" for i in range(10)] + [f"[laugh_{i}]" for i in range(3)]
            + [f"[speed_{i}]" for i in range(10)]
            + ["[Sbreak]", "[Pbreak]", "[Ebreak]", "[Stts]", "[Ptts]", "[Etts]", "[spk_emb]", "[empty_spk]",
               "[music]", "[pure]"])
_END_MARKERS = ["[Pbreak]", "[Ptts]"]


def _tokenizer(folder: Path):
    """BERT WordPiece (single characters and ##-pieces) + the bracket tokens, saved as ChatTTS's three files."""
    from transformers import BertTokenizerFast
    base = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list(dict.fromkeys(_CHARS)) + list(_LETTERS)
    base += ["##" + c for c in _LETTERS] + _PUNCT
    tok = BertTokenizerFast(vocab={t: i for i, t in enumerate(base)})
    tok.add_tokens(_INLINE + _CONTROL, special_tokens=True)
    tok.save_pretrained(folder)
    special = folder / "special_tokens_map.json"  # the asset check lists it; newer transformers skip it
    if not special.exists():
        special.write_text(json.dumps({k: str(v) for k, v in tok.special_tokens_map.items()}, ensure_ascii=False))
    return tok


def _eos_row(hidden: int, share: float) -> torch.Tensor:
    row = torch.zeros(hidden)
    row[FRAC], row[ONE], row[SIGN] = G, -G * share - GUARD, GUARD
    return row


def _as_weight_norm(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(g, v) of torch's weight_norm so that g * v / |v| is exactly `weight` (no row may be all zero)."""
    return weight.norm(dim=1, keepdim=True), weight


def _embed(cfg, tok) -> dict[str, torch.Tensor]:
    from ChatTTS.model import Embed
    e = cfg.embed
    sd = Embed(e.hidden_size, e.num_audio_tokens, e.num_text_tokens, e.num_vq).state_dict()
    ids = tok.convert_tokens_to_ids
    control = torch.arange(ids("[break_0]"), len(tok))
    ordinary = torch.arange(5, ids("[break_0]"))  # characters, pieces and [uv_break]-style marks

    text = torch.randn(e.num_text_tokens, e.hidden_size) * NOISE
    text[:, :5] = 0
    text[:, ONE] = text[:, SIGN] = 1
    text[control, SIGN] = -1
    text[[ids(t) for t in _END_MARKERS], END] = 1
    sd["emb_text.weight"] = text

    head = torch.randn(e.num_text_tokens, e.hidden_size) * QUIET
    head[:, :5] = 0
    head[ordinary, ONE] = BOOST
    head[ids("[Ebreak]")] = _eos_row(e.hidden_size, REFINE_SHARE)
    (sd["head_text.parametrizations.weight.original0"],
     sd["head_text.parametrizations.weight.original1"]) = _as_weight_norm(head)

    for q in range(e.num_vq):  # an audio frame's input is the sum of its num_vq code embeddings
        code = torch.randn(e.num_audio_tokens, e.hidden_size) * NOISE / e.num_vq ** 0.5
        code[:, :5] = 0
        code[:, ONE] = code[:, SIGN] = 1 / e.num_vq
        sd[f"emb_code.{q}.weight"] = code
        head = torch.randn(e.num_audio_tokens, e.hidden_size) * QUIET
        head[:, :5] = 0
        head[e.num_audio_tokens - 1] = _eos_row(e.hidden_size, CODE_SHARE)  # ChatTTS's EOS code is num_audio_tokens - 1
        g, v = _as_weight_norm(head)
        (sd[f"head_code.{q}.parametrizations.weight.original0"],
         sd[f"head_code.{q}.parametrizations.weight.original1"]) = g, v
    return sd


def _gpt(cfg, folder: Path) -> None:
    """2-layer Llama, width 768, near-zero random body; head 0 of each layer does the counting."""
    from transformers import LlamaConfig, LlamaModel
    hidden, heads = cfg.gpt.hidden_size, 12
    d = hidden // heads
    config = LlamaConfig(hidden_size=hidden, intermediate_size=128, num_hidden_layers=2, num_attention_heads=heads,
                         num_key_value_heads=heads, max_position_embeddings=cfg.gpt.max_position_embeddings,
                         vocab_size=8, initializer_range=0.002)  # embed_tokens is deleted by ChatTTS
    model = LlamaModel(config).float()
    # a unit entry in a residual carrying n unit signals reads sqrt(hidden / n) after RMSNorm (16 for n = 3)
    unit = (hidden / 3) ** 0.5
    slow = d // 2 - 1  # the RoPE pair with the lowest frequency: q.k barely depends on distance
    with torch.no_grad():
        for layer in model.layers:
            attn = layer.self_attn
            for proj in (attn.q_proj, attn.k_proj, attn.v_proj):
                proj.weight[:d] = 0
            attn.o_proj.weight[:, :d] = 0
            attn.o_proj.weight[:5] = 0  # nothing but the two counting heads writes dims 0-4
            layer.mlp.down_proj.weight[:5] = 0
        a0, a1 = model.layers[0].self_attn, model.layers[1].self_attn
        a0.q_proj.weight[slow, ONE] = 2.0  # every position asks "where is the end marker?"
        a0.k_proj.weight[slow, END] = 1.0  # score ~ 2 * 14 * 16 / 8 = 56 on the marker, ~0 elsewhere
        a0.v_proj.weight[0, END] = 1 / unit
        a0.o_proj.weight[AFTER, 0] = 1.0
        a1.v_proj.weight[0, AFTER] = 1 / unit  # q = k = 0: uniform attention, the mean of AFTER = FRAC
        a1.o_proj.weight[FRAC, 0] = 1.0
    model.save_pretrained(folder, safe_serialization=True)


def _fp16(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in sd.items()}


def build_chattts(folder: Path, seed: int = 0) -> Path:
    """Write a random-weight ChatTTS snapshot (asset/*.safetensors, asset/gpt, asset/tokenizer) into `folder`."""
    from ChatTTS.config import Config
    from ChatTTS.model import DVAE
    from safetensors.torch import save_file
    from vocos import Vocos
    from vocos.pretrained import instantiate_class

    folder = Path(folder)
    asset = folder / "asset"
    (asset / "gpt").mkdir(parents=True, exist_ok=True)
    cfg = Config()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        tok = _tokenizer(asset / "tokenizer")
        v = cfg.vocos
        vocos = Vocos(feature_extractor=instantiate_class(args=(), init=asdict(v.feature_extractor)),
                      backbone=instantiate_class(args=(), init=asdict(v.backbone)),
                      head=instantiate_class(args=(), init=asdict(v.head)))
        with torch.no_grad():  # an all-zero mel (a padded frame, see the Decoder below) gives |audio| ~ 1e-9
            mag = vocos.head.out.out_features // 2  # ISTFTHead: first half log-magnitude, second half phase
            vocos.head.out.weight[:mag] *= VOCOS_GAIN
            vocos.head.out.bias[:mag] = VOCOS_FLOOR
        save_file(_fp16(vocos.state_dict()), asset / "Vocos.safetensors")
        dvae = DVAE(decoder_config=asdict(cfg.dvae.decoder), encoder_config=asdict(cfg.dvae.encoder),
                    vq_config=asdict(cfg.dvae.vq), dim=cfg.dvae.decoder.idim)
        save_file(_fp16(dvae.state_dict()), asset / "DVAE.safetensors")
        decoder = DVAE(decoder_config=asdict(cfg.decoder), dim=cfg.decoder.idim)
        with torch.no_grad():  # bias-free: ChatTTS zero-pads a batch's shorter rows, zeros must decode to a zero mel
            for name, p in decoder.named_parameters():
                if name.endswith("bias"):
                    p.zero_()
        save_file(_fp16(decoder.state_dict()), asset / "Decoder.safetensors")
        save_file(_fp16(_embed(cfg, tok)), asset / "Embed.safetensors")
        _gpt(cfg, asset / "gpt")
    return folder


def build_chattts_hub_cache(cache: Path, seed: int = 0) -> Path:
    """The same files in hub-cache layout: pass `cache` as custom_path with source="huggingface"."""
    build_chattts(Path(cache) / HUB_SNAPSHOT, seed)
    return Path(cache)


def sha256_map(folder: Path) -> dict[str, str]:
    """`Chat.sha256_map` entries (same keys as ChatTTS/res/sha256_map.json) for the files in `folder`."""
    out = {}
    for f in sorted((Path(folder) / "asset").rglob("*")):
        rel = f.relative_to(folder)
        if f.is_file() and len(rel.parts) <= 3:
            out["sha256_" + "_".join(rel.parts).replace(".", "_")] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


if __name__ == "__main__":  # build, load through the package's own paths, speak; prints timings
    import logging
    import tempfile
    import time

    import numpy as np

    torch.set_num_threads(1)
    logging.basicConfig(level=logging.ERROR)  # ChatTTS logs hash mismatches and "split text" chatter
    import ChatTTS

    start = time.perf_counter()
    cpu = torch.device("cpu")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        cache = build_chattts_hub_cache(Path(tmp) / "hub")
        snap = cache / HUB_SNAPSHOT
        size = sum(f.stat().st_size for f in snap.rglob("*") if f.is_file()) / 2**20
        print(f"build: {time.perf_counter() - t0:.1f}s, {size:.0f} MiB")

        ok = ChatTTS.Chat().load(source="custom", custom_path=str(snap), device=cpu, compile=False)
        print("load(source='custom') with the package's own hashes ->", ok)
        assert not ok
        custom = ChatTTS.Chat()
        custom.sha256_map.update(sha256_map(snap))
        ok = custom.load(source="custom", custom_path=str(snap), device=cpu, compile=False)
        print("load(source='custom') after chat.sha256_map.update(sha256_map(snap)) ->", ok)
        assert ok
        del custom

        t0 = time.perf_counter()
        chat = ChatTTS.Chat()
        ok = chat.load(source="huggingface", custom_path=str(cache), device=cpu, compile=False)
        print(f"load(source='huggingface', custom_path=cache) -> {ok} in {time.perf_counter() - t0:.1f}s")
        assert ok

        speakers = []
        for _ in range(2):
            torch.manual_seed(0)
            speakers.append(chat.sample_random_speaker())
        assert isinstance(speakers[0], str) and speakers[0] == speakers[1]
        print(f"sample_random_speaker under manual_seed(0) twice: equal, {len(speakers[0])} chars")

        def code(seed=None):
            return ChatTTS.Chat.InferCodeParams(spk_emb=speakers[0], temperature=0.3, top_P=0.7, top_K=20,
                                                manual_seed=seed, show_tqdm=False)

        def refine(seed=None):
            return ChatTTS.Chat.RefineTextParams(prompt="[oral_2][laugh_0][break_6]", manual_seed=seed, show_tqdm=False)

        def show(name, call):
            t0 = time.perf_counter()
            out = call()
            took = time.perf_counter() - t0
            if isinstance(out[0], str):
                print(f"{name}: {took:.1f}s -> {out}")
            else:
                print(f"{name}: {took:.1f}s ->",
                      [f"{w.shape} {w.dtype} {len(w) / 24000:.2f}s peak {np.abs(w).max():.2f}" for w in out])
                assert all(w.dtype == np.float32 and w.ndim == 1 and len(w) > 0 for w in out)
            return out

        short, long = "你好，世界。", "hello world, this is a tiny test."
        show("skip_refine_text=True (first call: numba compiles the normalizer)",
             lambda: chat.infer([short], skip_refine_text=True, params_infer_code=code()))
        show("skip_refine_text=False (GPT refines, then codes)",
             lambda: chat.infer([short], skip_refine_text=False, params_refine_text=refine(), params_infer_code=code()))
        show("two texts, split_text=True (2nd pass uses the 1st as spk_smp prompt)",
             lambda: chat.infer([short, long], skip_refine_text=True, params_infer_code=code()))
        pieces = show("studio style: refine_text_only, manual_seed=0, split_text=False",
                      lambda: chat.infer([short, long], refine_text_only=True, split_text=False,
                                         params_refine_text=refine(0)))
        show("studio style: codes, manual_seed=0, split_text=False (one wav per piece)",
             lambda: chat.infer(pieces, skip_refine_text=True, split_text=False, params_infer_code=code(0)))
    print(f"total: {time.perf_counter() - start:.1f}s")
