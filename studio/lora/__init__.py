"""模型微调 (LoRA): training a LoRA (applying one to a pipeline is studio.image.lora)."""
