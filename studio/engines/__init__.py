"""One engine per modality: the code that drives a loaded pipeline, with no Gradio and no validation."""
