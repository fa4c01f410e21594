"""文生图: pipelines, samplers, prompt weighting, metadata, the 查看代码 script and the image tools."""
