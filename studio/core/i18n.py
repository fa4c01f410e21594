"""Messages the studio shows to people, in Chinese and English.

Keys are stable identifiers; `{name}` fields are filled by `t()`. UI labels live in
`tabs/strings.py`; this file holds what `studio` itself says (errors and notices).
"""
from __future__ import annotations


LANGS = ("zh", "en")

MESSAGES: dict[str, tuple[str, str]] = {
    # model registry and manager
    "unknown_model": ("未知模型“{model}”。可用的模型：{choices}；也可以填写模型目录（{dirs}）中的文件夹。",
                      "Unknown model '{model}'. Known models: {choices}; or give a folder inside the model folders ({dirs})."),
    "path_outside_dirs": ("不允许使用路径“{model}”：本地模型只能放在模型目录（{dirs}）中。",
                          "The path '{model}' is not allowed: local models must lie inside the model folders ({dirs})."),
    "not_a_pipeline": ("“{model}”不是可识别的模型文件夹：{reason}",
                       "'{model}' is not a model folder the studio can load: {reason}"),
    "not_built": ("内置迷你模型“{model}”尚未构建：它的权重还没有随项目提供。请先选择其他模型。",
                  "The built-in mini model '{model}' is not built yet: its weights do not ship with the project yet. Choose another model for now."),
    "no_loader": ("“{model}”（{task}）的推理引擎尚未实现，该功能会在对应的标签页完成后提供。",
                  "The engine for '{model}' ({task}) is not built yet; it arrives with its tab."),
    "wrong_task": ("模型“{model}”用于{got}，这里需要{want}模型。",
                   "Model '{model}' is a {got} model; a {want} model is needed here."),
    "load_failed": ("加载模型“{model}”失败：{reason}。其他模型不受影响。",
                    "Loading model '{model}' failed: {reason}. Other models are unaffected."),
    "over_budget": ("模型“{model}”约需 {need}，超出内存预算 {budget}（正在使用中的模型：{busy}）。请卸载其他模型，或用 STUDIO_MEMORY_BUDGET 调大预算。",
                    "Model '{model}' needs about {need}, more than the memory budget of {budget} allows (models in use: {busy}). Unload other models, or raise STUDIO_MEMORY_BUDGET."),
    "oom": ("显存不足：模型“{model}”在释放其他模型并启用 CPU offload 后仍无法运行。请减小尺寸、批量或步数，或换用更小的模型。",
            "Out of GPU memory: model '{model}' still does not fit after freeing other models and enabling CPU offload. Lower the size, batch or steps, or use a smaller model."),
    "unsafe_weights": ("“{model}”只有 pickle 格式的权重（.bin/.ckpt），出于安全原因只加载 safetensors。服务器管理员可用 STUDIO_ALLOW_PICKLE=1 允许。",
                       "'{model}' has only pickle weights (.bin/.ckpt); for safety only safetensors are loaded. The server operator can allow them with STUDIO_ALLOW_PICKLE=1."),
    "remote_code": ("“{model}”需要执行模型自带的代码（trust_remote_code），默认禁止。服务器管理员可用 STUDIO_TRUST_REMOTE_CODE=1 允许。",
                    "'{model}' needs to run code shipped with the model (trust_remote_code), which is off. The server operator can allow it with STUDIO_TRUST_REMOTE_CODE=1."),
    "not_loaded": ("模型“{model}”当前未加载。", "Model '{model}' is not loaded."),
    "in_use": ("模型“{model}”正在使用中，稍后再卸载。", "Model '{model}' is in use; unload it later."),
    # hub
    "hub_offline": ("无法下载模型“{model}”：{where} 在 {seconds} 秒内没有响应（没有网络或被屏蔽）。可以：1) 把模型文件夹放到 {target}；2) 设置 STUDIO_HUB=hf 或 modelscope 换一个来源，或用 HF_ENDPOINT / MODELSCOPE_DOMAIN 指定镜像；3) 设置 HF_HOME / MODELSCOPE_CACHE 指向已下载的缓存。",
                    "Cannot download model '{model}': {where} did not answer within {seconds} s (no network, or blocked). You can: 1) put the model folder at {target}; 2) pick another source with STUDIO_HUB=hf or modelscope, or a mirror with HF_ENDPOINT / MODELSCOPE_DOMAIN; 3) point HF_HOME / MODELSCOPE_CACHE at a cache that already holds it."),
    "hub_local_only": ("模型“{model}”不在本地（查找了 {where}），而下载来源设置为 local。请把模型文件夹放到 {target}，或设置 STUDIO_HUB=modelscope / hf。",
                       "Model '{model}' is not on disk (looked in {where}) and the download source is 'local'. Put the model folder at {target}, or set STUDIO_HUB=modelscope / hf."),
    "hub_no_id": ("模型“{model}”在 {hub} 上没有可下载的 ID。", "Model '{model}' has no id on {hub} to download from."),
    "download_is_operators": ("模型“{model}”还没有下载到服务器上；下载由老师在“模型管理”里进行，请先换用已下载的模型（如内置迷你模型）。",
                              "Model '{model}' is not on the server yet; the teacher downloads models in the Models tab. Pick a model that is there (e.g. a built-in mini model) meanwhile."),
    "download_failed": ("下载模型“{model}”失败（来源 {where}）：{reason}", "Downloading model '{model}' from {where} failed: {reason}"),
    "builtin_delete": ("“{model}”是项目自带的模型，不能删除。", "'{model}' ships with the project and cannot be deleted."),
    "not_downloaded": ("模型“{model}”没有下载到模型目录中，无需删除。", "Model '{model}' is not in the model folders; nothing to delete."),
    # generation inputs
    "bad_number": ("参数“{name}”必须是数字，收到的是“{value}”。", "'{name}' must be a number, got '{value}'."),
    "out_of_range": ("参数“{name}”应在 {low} 到 {high} 之间，收到 {value}。", "'{name}' must be between {low} and {high}, got {value}."),
    "bad_sampler": ("模型“{model}”不支持采样器“{sampler}”。可选：{choices}。", "Sampler '{sampler}' does not apply to model '{model}'. Choices: {choices}."),
    "bad_schedule_type": ("采样器“{sampler}”不支持调度类型“{schedule_type}”。可选：{choices}。", "Sampler '{sampler}' does not take the schedule type '{schedule_type}'. Choices: {choices}."),
    "lcm_only": ("LCM 采样器只用于 LCM 蒸馏模型，模型“{model}”不是。请换用其他采样器（如 Euler a 或 DPM++ 2M）。", "The LCM sampler is for LCM-distilled models only, and '{model}' is not one. Pick another sampler (e.g. Euler a or DPM++ 2M)."),
    "size_too_big": ("尺寸 {width}x{height} 太大：该模型最大 {cap} 像素边长，总像素不超过 {pixels}。", "Size {width}x{height} is too large: this model allows at most {cap} px per side and {pixels} pixels in all."),
    "over_pixel_limit": ("尺寸 {width}x{height}（{pixels} 像素）超过了服务器的上限 {cap} 像素（由管理员设置）。", "Size {width}x{height} ({pixels} pixels) is over this server's limit of {cap} pixels (set by the operator)."),
    "upload_too_big": ("上传的图片太大：{width}x{height}，服务器上限 {cap} 像素。", "The uploaded image is too large: {width}x{height}; this server allows {cap} pixels."),
    "upload_bomb": ("上传的图片有 {pixels} 像素，远超服务器上限 {cap} 像素（可能是“解压炸弹”），已拒绝，没有解码。", "The uploaded image has {pixels} pixels, far over this server's limit of {cap} (a possible decompression bomb); refused without decoding it."),
    "safety_checker_missing": ("管理员开启了安全检查器，但它的权重不在磁盘上（查找了 {where}）。请先在“模型管理”中下载 sd-safety-checker。", "The operator switched the safety checker on, but its weights are not on disk (looked in {where}). Download sd-safety-checker in the Models tab first."),
    "notice_safety_flagged": ("安全检查器拦截了 {count} 张图片（已替换为黑图）。", "The safety checker blocked {count} picture(s) (replaced with black)."),
    "blocked_prompt": ("内容包含本课堂不允许的词语“{phrase}”，请修改后再试。", "The text contains '{phrase}', which this class does not allow; please change it."),
    "blocklist_unreadable": ("管理员设置的屏蔽词文件 {path} 无法读取：{reason}", "The blocklist file {path} set by the operator cannot be read: {reason}"),
    "bad_choice": ("参数“{name}”不能是“{value}”。可选：{choices}。", "'{name}' cannot be '{value}'. Choices: {choices}."),
    "bad_list": ("参数“{name}”应是一个列表，收到的是 {value}。", "'{name}' must be a list, got {value}."),
    "bad_mapping": ("参数“{name}”应是一个字典（名称 → 值），收到的是 {value}。", "'{name}' must be a dict (name -> value), got {value}."),
    "too_many_frames": ("帧数 {frames} 太多：该模型最多 {cap} 帧。", "{frames} frames are too many: this model allows at most {cap}."),
    "prompt_too_long": ("提示词太长（{length} 字符，上限 {cap}）。", "The prompt is too long ({length} characters, limit {cap})."),
    "empty_prompt": ("请输入提示词：内容为空或只有空白。", "Please enter a prompt: it is empty or only whitespace."),
    "chat_needs_instruct": ("“{model}”是续写模型（没有聊天模板），不能多轮对话：请改用“单轮生成”方式，或选 Qwen2.5 等对话模型。",
                            "'{model}' is a completion model (no chat template), so it cannot chat: use single-turn mode, or pick an instruct model such as Qwen2.5."),
    "bad_messages": ("对话格式不对：应是 [{\"role\": \"user\", \"content\": \"...\"}, ...]，角色为 system / user / assistant，最多 200 条。",
                     "The conversation is malformed: it must be [{\"role\": \"user\", \"content\": \"...\"}, ...] with roles system / user / assistant, at most 200 turns."),
    "bad_token_ids": ("词元编号必须是 0 到 {vocab} 之间的整数（不含 {vocab}）。", "Token ids must be whole numbers from 0 to below {vocab}."),
    "bad_template": ("没有名为“{name}”的提示词模板。可选：{choices}。", "No prompt template named '{name}'. Choices: {choices}."),
    "template_field_missing": ("请填写模板的“{field}”一栏。", "Please fill in the template's '{field}' field."),
    "unknown_speech_token": ("不认识的控制标记 {token}。可用的有：{known}。", "Unknown control token {token}. Known ones: {known}."),
    "speech_only_tokens": ("文本里只有控制标记，没有要读的字：请写上句子，再在句中加 [uv_break] 等标记。",
                           "The text has only control tokens and nothing to read: write a sentence, then put tokens such as [uv_break] in it."),
    "empty_text": ("请输入要合成的文本：内容为空或只有空白。", "Please enter the text to speak: it is empty or only whitespace."),
    "bad_speaker": ("粘贴的音色字符串无效：请粘贴从“音色字符串”框复制的完整内容（或清空它，改用音色种子）。",
                    "The pasted voice string is not valid: paste the whole text copied from the voice string box (or clear it and use the voice seed)."),
    "bad_voice": ("eSpeak 没有“{voice}”这个声音。可选：{choices}。", "eSpeak has no voice '{voice}'. Choices: {choices}."),
    "bad_dialogue": ("多角色对话的每一行要以 A: 或 B: 开头（中文冒号也可以），例如“A: 你好”。第 {line} 行不是。",
                     "Each line of a dialogue must start with A: or B:, e.g. 'A: hello'. Line {line} does not."),
    "video_too_big": ("{width}x{height}、{frames} 帧太大：该模型最多 {side} 像素边长、{cap} 帧。按课程的经验，这样的视频约需 {mb} MB 显存（{tokens} 个时空块 token）。请减小尺寸或帧数（“显存推荐”可给出合适的设置）。",
                      "{width}x{height} with {frames} frames is too large: this model allows at most {side} px per side and {cap} frames. By the course's rule of thumb it would need about {mb} MB of GPU memory ({tokens} spacetime-patch tokens). Lower the size or frames (the memory recommendation suggests settings that fit)."),
    "video_interrupted": ("已停止：视频没有生成完（半途的视频不解码）。", "Stopped: the video was not finished (a half-denoised video is not decoded)."),
    "lora_no_images": ("请先上传训练图片（课程建议 5-50 张）。", "Upload the training images first (the course suggests 5-50)."),
    "lora_too_many_images": ("图片太多：{count} 张，最多 {cap} 张。", "Too many images: {count}, at most {cap}."),
    "lora_not_image": ("第 {index} 个文件不是能读取的图片。", "File {index} is not a readable image."),
    "lora_image_too_big": ("第 {index} 张图片太大（{width}x{height}）：最多约 1600 万像素。", "Image {index} is too large ({width}x{height}): at most about 16 million pixels."),
    "lora_captions_mismatch": ("图片有 {images} 张，描述却有 {captions} 条：每张图一条描述，或者只写一条共用的描述。",
                               "There are {images} images but {captions} captions: give one caption per image, or one shared caption."),
    "lora_empty_caption": ("第 {index} 条描述是空的。", "Caption {index} is empty."),
    "lora_bad_targets": ("请至少选一个目标层：{choices}。", "Pick at least one target layer: {choices}."),
    "lora_bad_name": ("LoRA 名称“{name}”不行：用字母、数字、- 或 _，最长 64 个字符。", "The LoRA name '{name}' will not do: use letters, digits, - or _, at most 64 characters."),
    "img2img_needs_image": ("图生图需要先上传一张图片（或从结果“发送到图生图”）。", "Image to image needs a source image first (upload one, or send a result there)."),
    "grid_no_values": ("网格的 {axis} 轴没有值：请用逗号分隔填写，例如 3, 7, 12。", "The {axis} axis of the grid has no values: list them separated by commas, e.g. 3, 7, 12."),
    "grid_bad_size": ("尺寸“{value}”看不懂：请写成 宽x高，例如 512x512。", "Cannot read the size '{value}': write width x height, e.g. 512x512."),
    "grid_bad_lora": ("LoRA 轴的值“{value}”看不懂：写 none（不用 LoRA）、名称，或 名称:权重，例如 none, ink:0.5, ink:1。",
                      "Cannot read the LoRA axis value '{value}': write none (no LoRA), a name, or name:weight, e.g. none, ink:0.5, ink:1."),
    "grid_too_big": ("网格有 {cells} 格，太多了：最多 {cap} 格。", "The grid has {cells} cells, too many: at most {cap}."),
    "grid_stopped": ("网格已停止。", "The grid was stopped."),
    "grid_label_cfg_scale": ("CFG {value}", "CFG {value}"),  # the labels drawn into the grid picture
    "grid_label_steps": ("步数 {value}", "Steps {value}"),
    "grid_label_seed": ("种子 {value}", "Seed {value}"),
    "grid_label_lora": ("LoRA {value}", "LoRA {value}"),
    "grid_label_no_lora": ("不用 LoRA", "LoRA none"),
    "stopped": ("已停止：这次运行没有完成，没有保存结果。", "Stopped: the run did not finish and nothing was saved."),
    "no_helper_model": ("扩写需要一个文本模型（{models}），请先在“模型管理”中下载。", "Expanding needs a text model ({models}); download one in the Models tab first."),
    "experiment_needs_folder": ("优化实验需要一个已下载的 diffusers 模型文件夹（{model} 不是）。", "The optimisation experiment needs a downloaded diffusers pipeline folder ({model} is not one)."),
    "unknown_lora": ("找不到 LoRA “{name}”。可用：{choices}。LoRA 放在：{dirs}", "No LoRA named '{name}'. Available: {choices}. LoRAs live in: {dirs}"),
    "bad_lora": ("LoRA “{name}” 与该模型不匹配或文件已损坏：{reason}", "The LoRA '{name}' does not fit this model or its file is damaged: {reason}"),
    "mask_needs_image": ("局部重绘需要先上传一张图片，再在上面涂抹要重绘的区域。", "Inpainting needs an image first; then paint the area to repaint on it."),
    # ControlNet units (studio.image.control)
    "bad_controls": ("参数“controls”应是控制单元的列表（每个单元是字典或 ControlUnit），收到的是 {got}。",
                     "'controls' must be a list of control units (each a dict or a ControlUnit), got {got}."),
    "too_many_controls": ("最多同时使用 {most} 个控制单元，收到 {count} 个。", "At most {most} control units at once; got {count}."),
    "control_needs_kind": ("每个控制单元都要写明类型 kind（可选：{choices}）。", "Each control unit needs its kind (one of: {choices})."),
    "control_start_end": ("控制开始（{start}）必须早于控制结束（{end}）。", "The control's start ({start}) must come before its end ({end})."),
    "no_controlnet": ("“{model}”没有“{kind}”类型的控制网络。请换一种控制类型，或在 model 中指定一个控制网络。",
                      "'{model}' has no ControlNet for '{kind}'. Pick another control type, or name a ControlNet in model."),
    "control_needs_image": ("控制单元 {number}（{kind}）还没有图片：请上传图片或在画板上画出线稿。",
                            "Control unit {number} ({kind}) has no image: upload one or draw on the canvas."),
    "control_blank": ("控制单元 {number}（{kind}）的控制图是空的：没有找到任何线条。请画得更清楚，或调低边缘检测的阈值。",
                      "Control unit {number} ({kind}) gives an empty control image: no line was found. Draw more clearly, or lower the edge thresholds."),
    "notice_control_resized": ("控制单元 {number} 的图片是 {width}x{height}，已缩放到 {to_width}x{to_height}（与生成尺寸一致）。",
                               "Control unit {number}'s image was {width}x{height}; it was resized to {to_width}x{to_height} (the picture's size)."),
    "empty_mask": ("蒙版是空的：请在图片上涂抹要重绘的区域（白色 = 重绘）。", "The mask is empty: paint the area to repaint on the image (white = repaint)."),
    "not_an_image": ("上传的文件不是可读取的图片。", "The upload is not an image that can be read."),
    "upload_wrong_type": ("“{files}”不能放在这里：这里只接受{allowed}。", "'{files}' cannot go here: this box takes {allowed} only."),
    "bad_png_text": ("这张图片的参数文本（PNG 文本块或 EXIF）损坏、过大或无法解码，读不出生成参数。", "The parameter text of this image (PNG text chunk or EXIF) is damaged, too large or cannot be decoded; no generation parameters can be read."),
    "queue_user_full": ("你已有 {limit} 个任务在排队：请等它们开始（或停止一个）再提交新的。", "You already have {limit} jobs waiting: wait for them to start (or stop one) before adding another."),
    "queue_full": ("队列已满：现在排队的人太多，请稍等片刻再试。", "The queue is full: too many people are waiting right now; please try again in a moment."),
    "no_infotext": ("这张图片里没有生成参数（没有 PNG 的 parameters 文本块，也没有 JPEG / WebP 的 EXIF 注释）。", "This image carries no generation parameters (no 'parameters' text chunk of a PNG, no EXIF comment of a JPEG / WebP)."),
    "no_replica_fits": ("集群里没有能放下模型“{model}”的计算节点：它约需 {need}，最大的设备（{device}）内存预算只有 {budget}。请换用更小的模型；管理员可以加入显存更大的 GPU 节点，或调大 STUDIO_MEMORY_BUDGET。",
                        "No worker in the cluster can hold model '{model}': it needs about {need}, and the largest device ({device}) has a memory budget of {budget}. Use a smaller model; the operator can add a node with a larger GPU, or raise STUDIO_MEMORY_BUDGET."),
    "worker_lost": ("运行这个任务的计算节点中断了（{reason}），重试一次也没有完成：请再提交一次。其他同学的任务不受影响。",
                    "The worker running this job went away ({reason}) and a retry did not finish it: please submit it again. Other learners' jobs are not affected."),
    "internal": ("发生内部错误：{reason}。服务仍在运行，可以重试或换一组参数。", "Internal error: {reason}. The studio keeps running; try again or change the parameters."),
    # notices
    "notice_size_rounded": ("尺寸 {width}x{height} 已调整为 {new_width}x{new_height}（必须是 {multiple} 的倍数）。",
                            "Size {width}x{height} was rounded to {new_width}x{new_height} (must be a multiple of {multiple})."),
    "notice_not_downloaded": ("模型“{model}”还没有下载（约 {size}）：请老师在“模型管理”里下载；下载好之前，实时的图表和计数先不更新。",
                              "The model “{model}” is not downloaded yet (about {size}): the teacher downloads it in the Models tab; until then the live charts and counts do not update."),
    "notice_seed_random": ("种子 -1：本次随机选用种子 {seed}。", "Seed -1: this run used the random seed {seed}."),
    "notice_empty_prompt": ("提示词为空：生成的是无条件图像。", "Empty prompt: the image is unconditional."),
    "notice_prompt_truncated": ("输入过长：已从开头删去 {dropped} 个词元，以便放进 {window} 词元的上下文窗口。",
                                "The input was too long: {dropped} tokens were cut from its start to fit the {window}-token context window."),
    "notice_new_tokens_clamped": ("最大新词元数 {asked} 超出上下文窗口（{window}），已改为 {new}。",
                                  "max_new_tokens {asked} exceeds the context window ({window}); {new} is used instead."),
    "notice_turns_dropped": ("对话太长：最早的 {turns} 轮已不再发送，以便放进 {window} 词元的上下文窗口。",
                             "The conversation was too long: its {turns} earliest turns are no longer sent, to fit the {window}-token context window."),
    "notice_stopped_text": ("已停止：下面是停止前生成的内容。", "Stopped: below is what was generated before the stop."),
    "notice_refine_off": ("文本里有词级标记 {tokens}：它们需要关闭“文本润色”，已自动关闭。",
                          "The text has word-level tokens {tokens}: they need text refinement off, so it was switched off."),
    "notice_espeak_tokens": ("eSpeak 是机器音：{tokens} 只能当作停顿或忽略（笑声、口语词需要 ChatTTS）。",
                             "eSpeak is a robotic voice: {tokens} become pauses or are left out (laughter and fillers need ChatTTS)."),
    "notice_speech_pieces": ("长文本已按句子分成 {pieces} 段依次合成，再拼接成一个文件。", "The long text was spoken in {pieces} sentence pieces, joined into one file."),
    "progress_eta": ("第 {done}/{total} 步 · 每步 {per:.1f} 秒 · 约剩 {left:.0f} 秒", "step {done}/{total} · {per:.1f} s/step · about {left:.0f} s left"),
    "recommend_cpu": ("没有 GPU：按模型默认 {width}x{height}、{frames} 帧（在 CPU 上只推荐内置 mini-motion）。", "No GPU: the model's defaults {width}x{height}, {frames} frames (on a CPU only the built-in mini-motion is practical)."),
    "recommend_native": ("这个模型按 {width}x{height}、{frames} 帧训练，课程的显存规则针对 Wan 这样的模型：用它自己的设置即可。",
                         "This model was trained at {width}x{height} with {frames} frames; the course's memory rule is for Wan-like models, so its own settings are used."),
    "recommend_gpu": ("空闲显存 {free} MB（> {threshold} MB）：课程规则推荐 {width}x{height}、{asked} 帧；Wan 需要 4k+1 帧，所以用 {frames} 帧。",
                      "{free} MB of GPU memory free (> {threshold} MB): the course's rule says {width}x{height} with {asked} frames; Wan needs 4k+1 frames, so {frames}."),
    "notice_lora_few_images": ("只有 {count} 张图片：课程建议至少 {low} 张，否则容易过拟合。", "Only {count} images: the course suggests at least {low}, or the LoRA overfits."),
    # 跨模态创作
    "notice_rules_text": ("“{model}”不写散文：文章由费曼模板的结构按规则拼成（只含你填的内容）。想让模型来写，请选 {models}。",
                          "'{model}' does not write prose: the article is assembled from the Feynman template's fields by rules (only what you wrote). For a model-written article pick {models}."),
    "notice_rules_storyboard": ("“{model}”不写散文：分镜表由规则生成（按句子分配旁白，每个镜头换一种景别）。想让模型来写，请选 {models}。",
                                "'{model}' does not write prose: the shot table is made by rules (sentences shared out as voice-over, a camera move per shot). For a model-written one pick {models}."),
    "notice_storyboard_unparsed": ("没能从“{model}”的回答中读出分镜表，改用规则生成。", "Could not read a shot table from '{model}''s answer; the rules made it instead."),
    "story_no_text": ("没有可用的文字：文章为空，或“{model}”没有写出内容。", "There is no text to use: the article is empty, or '{model}' wrote nothing."),
    "story_empty": ("文章是空的：请先写文章（第一步）或粘贴一段文字。", "The article is empty: write one (step 1) or paste some text first."),
    "story_no_shots": ("分镜表是空的：至少要有一个镜头写了画面或旁白。", "The shot table is empty: at least one shot needs visuals or a voice-over."),
    "bad_story_fields": ("格式不对：字段应是“名称: 文字”成对的字典（JSON 对象）。", "Wrong format: the fields must be a dict (a JSON object) of name: text pairs."),
    "story_counts": ("图片数（{images}）和提示词数（{prompts}）不一致。", "{images} image(s) but {prompts} prompt(s): they must match."),
    "story_ai_label": ("本页文字与图片由 AI 生成（AIGC Studio）", "Text and pictures on this page are AI-generated (AIGC Studio)"),
    "story_credit_rules": ("文字：按费曼模板的结构规则拼成（离线，无模型写作）", "Text: assembled from the Feynman template by rules (offline, no model writing)"),
    "story_credit_model": ("文字：{model}，种子 {seed}", "Text: {model}, seed {seed}"),
    "story_credit_series": ("系列风格后缀“{style}”，种子 {seed} 起，每篇 +{step}", "Series style suffix '{style}', seeds from {seed}, +{step} per part"),
    "story_progress_shot": ("镜头 {shot}/{total}：生成图片和旁白", "Shot {shot}/{total}: picture and voice-over"),
    "story_stopped": ("已停止：分镜视频没有生成。", "Stopped: the storyboard video was not made."),
    "story_not_saved": ("视频写入失败：{reason}", "Could not write the video: {reason}"),
    "notice_lora_stopped": ("训练已停止：完成 {done}/{total} 步，已保存到目前为止学到的内容。", "Training stopped after {done}/{total} steps; what it learnt so far is saved."),
    "notice_frames_rounded": ("帧数 {frames} 已调整为 {new}（该模型要求 帧数 = {step}k + 1）。",
                              "{frames} frames were rounded to {new} (this model needs {step}k + 1 frames)."),
    "notice_no_flow_shift": ("“{model}”不用流偏移（它不是流匹配模型），已忽略 flow_shift。", "'{model}' has no flow shift (it is not a flow-matching model); flow_shift was ignored."),
    "notice_empty_prompt_video": ("提示词为空：生成的是无条件视频。", "Empty prompt: the video is unconditional."),
    "notice_not_saved": ("输出未保存：{reason}", "The output was not saved: {reason}"),
    "notice_hires_txt2img_only": ("高清修复只用于文生图；图生图 / 局部重绘时已忽略。", "Hires fix applies to text to image only; it was ignored for image to image / inpainting."),
    "notice_timeline_euler": ("采样器 {sampler} 不公开每一步的预测图，时间线改用 Euler 展示。", "The {sampler} sampler does not expose its per-step prediction; the timeline uses Euler instead."),
    "notice_dictionary_translation": ("这是词典翻译（课程关键词库，替换了 {count} 个词），不是模型翻译；下载 {models} 后可用模型翻译。", "Dictionary translation (the course's keyword library, {count} term(s) replaced), not a model's; download {models} for a model translation."),
    "notice_experiment_cpu": ("这台机器没有 GPU：B 组在 CPU 上仍用 FP32（CPU 的半精度更慢），只比较注意力实现与 VAE 切片；在 GPU 上 B 组会用 FP16，显存约减半、速度明显更快。", "No GPU here: arm B stays FP32 on the CPU (half precision is slower on a CPU), so only the attention kernel and VAE slicing differ; on a GPU arm B runs FP16, with about half the memory and clearly faster."),
    "notice_interrupted": ("已停止。保留了停止前完成的 {kept} 张图片。", "Stopped. The {kept} image(s) finished before the stop are kept."),
    "notice_sampler_approx": ("“{sampler}”在 diffusers 中没有完全相同的实现，使用最接近的 {cls}。",
                              "'{sampler}' has no exact diffusers equivalent; the closest, {cls}, is used."),
    # music (studio/music): the mini-melody engine, the synthesiser, MusicGen
    "music_bad_label": ("旋律条件 {field} 不能取“{value}”。可选：{choices}。", "The melody's {field} cannot be '{value}'. Choices: {choices}."),
    "music_empty_prompt": ("MusicGen 需要一段文字描述：写下风格、乐器、情绪或速度，例如“轻快的钢琴曲，带鼓点”。",
                           "MusicGen needs a text description: write the style, instruments, mood or tempo, e.g. 'upbeat piano with light drums'."),
    "music_bad_bars": ("小节数 {bars} 不行：请在 1 到 {cap} 之间选择（课程建议 8-16 小节）。",
                       "{bars} bars will not do: choose 1 to {cap} (the course suggests 8-16 bars)."),
    "music_bad_duration": ("时长 {seconds} 秒不行：请在 1 到 {cap} 秒之间选择（MusicGen 按 30 秒的片段训练，课程建议 5-15 秒）。",
                           "A duration of {seconds} s will not do: choose 1 to {cap} s (MusicGen was trained on 30 s clips; the course suggests 5-15 s)."),
    "music_not_symbolic": ("“{model}”直接生成音频，没有音符可看：下一个音的候选只适用于符号模型（mini-melody）。",
                           "'{model}' makes audio directly and has no notes to show: the next-note view is for a symbolic model (mini-melody)."),
    "music_bad_melody": ("读不了旋律引导音频“{name}”：请上传 WAV 文件（至少 0.1 秒），例如迷你旋律生成的那首。",
                         "Cannot read the tune '{name}': upload a WAV file (at least 0.1 s), such as one mini-melody made."),
    "notice_melody_cut": ("旋律引导只用前 {seconds} 秒。", "Only the tune's first {seconds} s steer the music."),
    "notice_music_unused": ("“{model}”不使用这些设置，已忽略：{names}。", "'{model}' does not use these settings; they were ignored: {names}."),
    "music_param_prompt": ("提示词", "prompt"),
    "music_param_duration": ("时长", "duration"),
    "music_param_guidance": ("引导强度", "guidance"),
    "music_param_meter": ("节拍", "meter"),
    "music_param_mode": ("调式", "mode"),
    "music_param_region": ("地区", "region"),
    "music_param_genre": ("流派", "genre"),
    "music_param_bars": ("小节数", "bars"),
    "music_param_tempo": ("速度", "tempo"),
    "music_param_instrument": ("音色", "instrument"),
    "music_param_velocity": ("力度", "velocity"),
    "music_param_melody_audio": ("旋律引导", "melody guide"),
    # status words
    "loaded": ("已加载 {model}（{seconds:.1f} 秒）", "Loaded {model} ({seconds:.1f} s)"),
    "unloaded": ("已卸载 {model}", "Unloaded {model}"),
    "unloaded_all": ("已卸载全部模型（{count} 个）", "Unloaded all models ({count})"),
    "downloaded": ("已下载 {model} 到 {path}", "Downloaded {model} to {path}"),
    "deleted": ("已删除 {model}（{path}）", "Deleted {model} ({path})"),
    # ControlNet models (issue 43): studio.image.controlnets
    "controlnet_wrong_base": ("ControlNet“{net}”是为 {net_base} 训练的，不能控制 {model_base} 模型“{model}”（两者的结构不一致：{reason}）。请换一个为 {model_base} 训练的 ControlNet，或换用 {net_base} 模型。",
                              "ControlNet '{net}' was trained for {net_base}; it cannot steer '{model}', a {model_base} model (their layouts differ: {reason}). Pick a ControlNet made for {model_base}, or a {net_base} model."),
}


# Keys the code builds at run time, as template -> the values it fills in (tests/test_strings.py).
BUILT_KEYS: dict[str, tuple[str, ...]] = {
    "grid_label_{}": ("cfg_scale", "steps", "seed", "lora"),  # studio.image.grid.label
    "music_param_{}": ("prompt", "duration", "guidance", "meter", "mode", "region", "genre", "bars", "tempo",
                       "instrument", "velocity", "melody_audio"),  # studio.music.api.music_job's notice
}


class Words(tuple):
    """A message field that is a word of the studio's own, one per language: Words(("线稿", "scribble"))."""

    def __str__(self) -> str:  # a log line, or a message formatted without `pick`
        return self[1]


def pick(table: dict[str, tuple[str, str]], key: str, lang: str, **params) -> str:
    """table[key] in `lang` ('zh' or 'en'), with its fields filled (a `Words` field in that language too)."""
    zh, en = table[key]
    text = en if lang == "en" else zh
    params = {k: (v[1] if lang == "en" else v[0]) if isinstance(v, Words) else v for k, v in params.items()}
    return text.format(**params) if params else text


def t(key: str, lang: str = "zh", **params) -> str:
    """The studio's message `key` in `lang`."""
    return pick(MESSAGES, key, lang, **params)


def human_bytes(n: float | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"
