"""文生视频: pipelines, the frame plan, the motion analysis and the 查看代码 script."""
