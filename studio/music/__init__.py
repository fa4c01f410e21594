"""Music generation (the course's 模块七 7.2): symbolic melodies from the built-in mini-melody, audio from MusicGen."""
