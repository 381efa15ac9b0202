"""The listening page: written by predict, checked as a person uses it, in headless Chromium."""

import json
import time
from pathlib import Path

import numpy as np
from browser import Browser
from conftest import keep_artefact, tone, write

from quadpred.labels import QUADRANTS
from quadpred.listen import PAGE_NAME, write_page
from quadpred.predict import Predictor, predict_files


def fake_result(name: str, steps: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    quadrant = rng.dirichlet(np.ones(4), size=steps)
    arousal, valence = rng.uniform(size=steps), rng.uniform(size=steps)
    return {"file": name, "duration": float(steps), "top_quadrant": "Q2", "model": "m",
            "labels": {"quadrant": list(QUADRANTS), "arousal": ["negative", "positive"],
                       "valence": ["negative", "positive"]},
            "means": {"quadrant": dict(zip(QUADRANTS, quadrant.mean(0).tolist())),
                      "arousal": {"negative": 1 - arousal.mean(), "positive": arousal.mean()},
                      "valence": {"negative": 1 - valence.mean(), "positive": valence.mean()}},
            "start": np.arange(steps).tolist(), "end": (np.arange(steps) + 1).tolist(),
            "probabilities": {"quadrant": quadrant.tolist(),
                              "arousal": np.stack([1 - arousal, arousal], 1).tolist(),
                              "valence": np.stack([1 - valence, valence], 1).tolist()}}


def test_the_page_is_self_contained_and_escapes_names(tmp_path: Path):
    song = write(tmp_path / "music" / "a </script> b.wav", tone(3.0))
    (tmp_path / "out").mkdir()
    text = write_page(tmp_path / "out", [fake_result(str(song), 3)]).read_text()
    assert "http://" not in text and "https://" not in text and "<link" not in text and "src=\"" not in text
    assert "a </script> b.wav" not in text and "a <\\/script> b.wav" in text
    data = json.loads(text.split('id="data">')[1].split("</script>")[0].replace("<\\/", "</"))
    assert data["files"][0]["audio"] == "../music/a </script> b.wav"
    assert len(data["files"][0]["quadrant"]) == 3 and len(data["files"][0]["quadrant"][0]) == 4


def test_predict_writes_a_page_that_plays_follows_and_seeks(tiny_model: Path, chromium: str, tmp_path: Path):
    for index, seconds in enumerate((6.0, 9.0)):
        write(tmp_path / "songs" / f"song {index}.wav", tone(seconds, 22050, freq=220.0 * (index + 1), seed=index), 22050)
    predictor = Predictor.from_dir(tiny_model, device="cpu")
    assert predict_files(predictor, [tmp_path / "songs"], tmp_path / "none", progress=False, page=False).page is None
    assert not (tmp_path / "none" / PAGE_NAME).exists()
    result = predict_files(predictor, [tmp_path / "songs"], tmp_path / "out", progress=False)
    assert result.page == tmp_path / "out" / PAGE_NAME
    with Browser(chromium) as browser:
        browser.open(result.page)
        assert browser.evaluate("document.querySelectorAll('#summary tbody tr').length") == 2
        for index in range(2):  # scrolled into view, each file gets its player, plot and plane
            browser.evaluate(f"document.getElementById('file-{index}').scrollIntoView()")
            time.sleep(0.3)
            assert browser.evaluate(f"""(() => {{ const s = document.getElementById('file-{index}');
                return [!!s.querySelector('audio'), !!s.querySelector('canvas.plot'), !!s.querySelector('canvas.plane')];
            }})()""") == [True, True, True]
        browser.evaluate("document.getElementById('file-1').scrollIntoView()")
        played = browser.evaluate("""(async () => {
            const audio = document.querySelector('#file-1 audio');
            await audio.play();
            await new Promise(done => setTimeout(done, 1200));
            audio.pause();
            return [audio.currentTime, parseFloat(document.querySelector('#file-1 .cursor').style.left)];
        })()""")
        assert played[0] > 0.3 and played[1] > 0, played  # playback runs and the cursor follows it
        left, top, width, height = browser.evaluate("""(() => {
            const box = document.querySelector('#file-1 canvas.plot').getBoundingClientRect();
            return [box.left, box.top, box.width, box.height]; })()""")
        browser.click(left + 0.75 * width, top + height / 2)
        time.sleep(0.3)
        seeked, cursor = browser.evaluate("[document.querySelector('#file-1 audio').currentTime, "
                                          "parseFloat(document.querySelector('#file-1 .cursor').style.left)]")
        span = browser.evaluate("(() => { const t = DATA.files[1].time; return [t[0], t[t.length - 1]]; })()")
        assert 0.6 * 9.0 < seeked < 0.9 * 9.0 and abs(cursor - 0.75 * width) < 3, (seeked, cursor, span)
        # sorting: by duration (longest last), then reversed
        browser.evaluate("window.scrollTo(0, 0)")
        header = browser.evaluate("""(() => { const r = [...document.querySelectorAll('#summary th')]
            .find(th => th.textContent.startsWith('duration')).getBoundingClientRect(); return [r.left + 4, r.top + 4]; })()""")
        names = "[...document.querySelectorAll('#summary tbody td:first-child')].map(td => td.textContent)"
        assert browser.evaluate(names) == ["song 0.wav", "song 1.wav"]  # the batch's order
        browser.click(*header)
        assert browser.evaluate(names) == ["song 0.wav", "song 1.wav"]
        assert browser.evaluate("document.querySelector('#summary th.sorted').textContent").startswith("duration")
        browser.click(*header)
        assert browser.evaluate(names) == ["song 1.wav", "song 0.wav"]
        shot = keep_artefact(browser.screenshot(tmp_path / "listening_page.png"))
    assert shot.read_bytes()[:4] == b"\x89PNG"


def test_a_page_of_a_thousand_files_draws_only_what_is_in_view(chromium: str, tmp_path: Path):
    results = [fake_result(f"/music/song{i:04d}.mp3", 240, seed=i) for i in range(1000)]
    page = write_page(tmp_path, results)
    with Browser(chromium) as browser:
        browser.open(page)
        time.sleep(0.5)
        assert browser.evaluate("document.querySelectorAll('#summary tbody tr').length") == 1000
        drawn = "document.querySelectorAll('section.file[data-drawn]').length"
        assert browser.evaluate(drawn) == 0  # the files sit below the 1,000-row table, out of view
        for index in (0, 999):
            browser.evaluate(f"document.getElementById('file-{index}').scrollIntoView()")
            time.sleep(0.3)
            assert browser.evaluate(f"!!document.querySelector('#file-{index} canvas.plot')")
        assert 2 <= browser.evaluate(drawn) <= 20
