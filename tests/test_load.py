"""Many learners at once through gradio_client: 8 clients generating images and 4 writing text at the same time.
Every one finishes with results for its own parameters (its seed in its infotext), and the server keeps answering
a health request while the queue is full."""
from __future__ import annotations

import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from gradio_client import Client

from studio import api
from tests.serving import served


@pytest.fixture
def server(studio_env):
    with served() as (url, _demo):
        yield url


def test_twelve_clients_at_once_each_get_their_own_results(server):
    api.load("tiny-sd15")  # loaded once up front: the test is about the queue, not the first load
    api.load("tiny-qwen2")
    health: list[int] = []
    done = threading.Event()

    def poll():
        while not done.is_set():
            with urllib.request.urlopen(server + "gradio_api/info", timeout=60) as response:
                health.append(response.status)
            done.wait(0.5)

    def image(seed: int):
        client = Client(server, verbose=False)
        gallery, seeds, infotext, _ = client.predict(f"a red circle {seed}", "", "tiny-sd15", "Euler a", 2, 7, seed,
                                                     64, 64, 1, api_name="/generate_image")
        return seed, seeds, infotext, len(gallery)

    def text(seed: int):
        client = Client(server, verbose=False)
        out, used, _ = client.predict("床前", "tiny-qwen2", 1.0, 0, 1.0, 4, 1.0, seed, api_name="/generate_text")
        return seed, used, out

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    with ThreadPoolExecutor(max_workers=12) as pool:
        images = [pool.submit(image, 100 + i) for i in range(8)]
        texts = [pool.submit(text, 200 + i) for i in range(4)]
        image_results = [f.result(timeout=600) for f in images]
        text_results = [f.result(timeout=600) for f in texts]
    done.set()
    watcher.join(timeout=60)
    for seed, seeds, infotext, count in image_results:
        assert seeds == str(seed) and f"Seed: {seed}," in infotext and f"a red circle {seed}" in infotext
        assert count == 1
    for seed, used, out in text_results:
        assert used == str(seed) and out == api.generate_text("床前", "tiny-qwen2", 1.0, 0, 1.0, 4, 1.0, seed).text
    assert len(health) >= 2 and set(health) == {200}
