"""A slider's number box keeps what the learner typed.

Gradio's slider pulls a typed value back into its range when its box loses focus (5000 -> 2048), after the
release event is sent and before the events that follow read the box: a click on 生成 straight out of the box
ran at 2048, a value nobody typed, and the studio could only name 2048 (or, inside the pixel budget, run it
silently). Here the box keeps 5000, so every event reads what was typed and the studio's refusal names it and
the range (tabs/refusals.Slider), in the page's language; the learner corrects the number in place.

Leaving the box still sends the slider's release (实时 redraws on it, the text tab names a refused number on it),
unclamped, unless the box was left by pressing a button: that click is the learner's next step, and a run
button reads the same box, so one run and one message, not two.
"""
from __future__ import annotations

import gradio as gr


# Capture listeners on window run before the box's own: stopping the blur there keeps Gradio's clamp from running,
# and a bubbling pointerup on the box is the event Gradio's slider sends its release on (without a clamp).
JS = """() => {
  if (window.studioSliderBox) return [];
  window.studioSliderBox = true;
  let down = null;  // what the pointer last went down on, until focus lands: the cause of a blur
  window.addEventListener('pointerdown', (e) => { down = e.target; }, true);
  window.addEventListener('focusin', () => { down = null; }, true);
  window.addEventListener('blur', (e) => {
    const box = e.target;
    const slider = box instanceof HTMLInputElement && box.type === 'number' &&
      box.closest('.head')?.nextElementSibling?.classList.contains('slider_input_container');
    if (!slider) return;
    e.stopPropagation();
    const button = down instanceof Element && down.closest('button');
    if (!button) box.dispatchEvent(new PointerEvent('pointerup', {bubbles: true}));
  }, true);
  return [];
}"""


def install(demo: gr.Blocks) -> None:
    """Call inside `with demo:`: every slider of the page keeps its typed value."""
    demo.load(None, None, None, js=JS, api_visibility="private", queue=False)
