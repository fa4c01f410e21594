"""AIGC Studio's logic: engines, model manager, hub access, samplers, metadata and the public `api`.

Nothing here imports Gradio; the pages in `tabs/` are thin views over `studio.api`.
"""
