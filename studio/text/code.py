"""查看代码 for 文本生成: the plain transformers script that reproduces the page's text.

Same model files, the same prompt wrapping (chat template for instruct models), the same cut from the
left when the prompt outgrows the context, the same seed and generate() options: running it prints the
page's text (on the same kind of device).
"""
from __future__ import annotations

from studio.core.codegen import model_source
from studio.core.specs import ModelSpec
from studio.text.engine import TextJob, sampling_options


TEMPLATE = '''\
# Reproduces the studio's text: {title}
# pip install torch transformers safetensors{extra_pip}
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
{load_source}
device = "cuda" if torch.cuda.is_available() else "cpu"
dtype = torch.bfloat16 if device == "cuda" else torch.float32  # the studio runs fp32 on a CPU
tokenizer = AutoTokenizer.from_pretrained(model_path)
model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype).to(device).eval()

prompt = {prompt!r}
{wrap}
# Too long for the context window? Cut from the left (a leading BOS token stays), as the studio does.
max_new_tokens = {max_new_tokens}
room = model.config.max_position_embeddings - max_new_tokens
if input_ids.shape[1] > room:
    keep_bos = tokenizer.bos_token_id is not None and input_ids[0, 0] == tokenizer.bos_token_id
    head = input_ids[:, :1] if keep_bos else input_ids[:, :0]
    input_ids = torch.cat([head, input_ids[:, input_ids.shape[1] - (room - head.shape[1]):]], dim=1)
input_ids = input_ids.to(device)

torch.manual_seed({seed})  # seed {seed}: the same seed and settings give the same text
output = model.generate(
    input_ids,
    attention_mask=torch.ones_like(input_ids),
    pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
{options}
)
print(tokenizer.decode(output[0, input_ids.shape[1]:], skip_special_tokens=True))
'''

CHAT = '''# An instruct model: the prompt goes through its chat template, as the user's turn
messages = [{"role": "user", "content": prompt}]
text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
input_ids = tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids'''

PLAIN = '''# A base model: it continues the prompt as it is
input_ids = tokenizer(prompt, return_tensors="pt").input_ids'''


def text_script(spec: ModelSpec, prompt: str, job: TextJob, chat: bool, hub: str = "huggingface") -> str:
    load_source, extra_pip = model_source(spec, hub)
    options = {k: v for k, v in sampling_options(job).items() if k != "max_new_tokens"}
    lines = "\n".join(f"    {k}={v!r}," for k, v in options.items()) + "\n    max_new_tokens=max_new_tokens,"
    return TEMPLATE.format(title=spec.title, extra_pip=extra_pip, load_source=load_source, prompt=prompt,
                           wrap=CHAT if chat else PLAIN, max_new_tokens=job.max_new_tokens, seed=job.seed,
                           options=lines)
