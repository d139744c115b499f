"""The audio players of report.html and compare.html: next to each listed utterance an
``<audio controls preload="none">`` whose source is the audio file relative to the page's folder
(the page works where it sits beside the data), or, with ``embed``, the audio itself as a
``data:`` URI, 16 kHz mono Opus in Ogg at about 25 kbps (FLAC where libsndfile has no Opus), so
the page needs nothing else. The hypothesis words of the aligned diff carry their times
(``data-s``/``data-e``, seconds: `asr.evaluation` stores them, by CTC forced alignment); the
page's one inline script (`SCRIPT`) marks the word being played (class ``now``) and plays from a
word clicked."""

from __future__ import annotations

import base64
import io
import logging
import os
from html import escape
from pathlib import Path
from urllib.parse import quote

import soundfile as sf

from asr.audio import AudioError, load_audio

log = logging.getLogger("asr")

SAMPLE_RATE = 16000  # embedded audio: enough for speech, and what the models hear
OPUS_LEVEL = 0.92  # libsndfile's compression level for Opus: about 25 kbps at 16 kHz mono
SCRIPT = """(function(){
document.querySelectorAll("audio.utt").forEach(function(a){
var ws=a.closest("tr").querySelectorAll(".w[data-s]");
function mark(){var t=a.currentTime;ws.forEach(function(w){
w.classList.toggle("now",t>=+w.dataset.s&&t<+w.dataset.e)})}
function tick(){mark();if(!a.paused)requestAnimationFrame(tick)}
a.addEventListener("play",tick);a.addEventListener("timeupdate",mark);
ws.forEach(function(w){w.addEventListener("click",function(){
a.currentTime=+w.dataset.s;var p=a.play();if(p)p.catch(function(){})})})})})();"""


def encode_audio(path: str | Path) -> str:
    """The audio of `path` as a ``data:`` URI: 16 kHz mono, Opus in Ogg (or FLAC)."""
    wave, buf = load_audio(path, SAMPLE_RATE), io.BytesIO()
    if "OPUS" in sf.available_subtypes("OGG"):
        sf.write(buf, wave, SAMPLE_RATE, format="OGG", subtype="OPUS",
                 compression_level=OPUS_LEVEL)
        mime = "audio/ogg"
    else:
        sf.write(buf, wave, SAMPLE_RATE, format="FLAC")
        mime = "audio/flac"
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


class Players:
    """Makes the players of one page written into `out_dir`; `script` is the page's script
    (empty while no player was made)."""

    def __init__(self, out_dir: str | Path, embed: bool = False) -> None:
        self.out_dir, self.embed, self.count = os.path.abspath(out_dir), embed, 0

    def __call__(self, audio: str | None) -> str:
        """The player of an utterance's audio file ("" without one, or when it cannot be
        read for embedding)."""
        if not audio:
            return ""
        if self.embed:
            try:
                src = encode_audio(audio)
            except (AudioError, OSError) as err:
                log.warning("no player for %s: %s", audio, err)
                return ""
        else:
            src = quote(Path(os.path.relpath(os.path.abspath(audio), self.out_dir)).as_posix())
        self.count += 1
        return f'<audio class="utt" controls preload="none" src="{escape(src)}"></audio>'

    @property
    def script(self) -> str:
        return f"<script>{SCRIPT}</script>" if self.count else ""
