"""文本生成: generation, templates and the 查看代码 script."""
