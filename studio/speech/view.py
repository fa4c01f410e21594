"""原理 for speech: the waveform and its mel spectrogram (what ChatTTS's decoder makes before Vocos turns
it into a waveform), drawn as one picture."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image


N_MELS = 80  # as ChatTTS / Vocos


def mel_spectrogram(audio: np.ndarray, rate: int) -> np.ndarray:
    """log-mel power [N_MELS, frames] through torchaudio (the transform the speech models use)."""
    import torch
    import torchaudio
    transform = torchaudio.transforms.MelSpectrogram(sample_rate=rate, n_fft=1024, hop_length=256, n_mels=N_MELS)
    mel = transform(torch.from_numpy(np.asarray(audio, np.float32)))
    return torch.log10(mel.clamp(min=1e-6)).numpy()


def picture(audio: np.ndarray, rate: int, title: str = "") -> Image.Image:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    seconds = np.arange(len(audio)) / rate
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 4.2), sharex=True, gridspec_kw={"height_ratios": [1, 1.4]})
    top.plot(seconds, audio, linewidth=0.5, color="#f97316")
    top.set_ylabel("amplitude")
    top.set_ylim(-1, 1)
    if title:
        top.set_title(title, fontsize=10)
    mel = mel_spectrogram(audio, rate) if len(audio) > 1024 else np.zeros((N_MELS, 1))
    bottom.imshow(mel, origin="lower", aspect="auto", cmap="magma", extent=[0, len(audio) / rate, 0, N_MELS])
    bottom.set_ylabel("mel bin")
    bottom.set_xlabel("seconds")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
