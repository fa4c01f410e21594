"""语音合成: eSpeak and ChatTTS, speech tokens and the 查看代码 script."""
