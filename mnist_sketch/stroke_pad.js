// The stroke pad's behaviour: the body of gr.HTML's js_on_load, run once when the pad is mounted with
// `element` (the pad's root), `props` (its props; setting props.value sends the value) and `watch`.
//
// The canvas keeps a fixed resolution (props.canvas_width x props.canvas_height) and CSS scales it to
// fit, so pointer positions are mapped through its on-screen box: this works at any zoom, on a phone,
// and after a resize. Strokes are kept as lists of [x, y] canvas pixels; the canvas is only their picture.
const canvas = element.querySelector("canvas");
const ctx = canvas.getContext("2d");
const W = canvas.width;
const H = canvas.height;

let strokes = [];  // finished strokes
let current = null;  // the stroke being drawn, or null
let pointerId = null;  // the pointer drawing it
let box = null;  // the canvas's box on the page while a stroke is drawn
let strokeStartedAt = 0;
let lastSentAt = 0;
let sendTimer = null;
let lastValueJson = JSON.stringify(props.value ?? null);

ctx.lineCap = "round";
ctx.lineJoin = "round";

function paper() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, W, H);
  ctx.strokeStyle = "#000";
  ctx.fillStyle = "#000";
  ctx.lineWidth = props.pen_width;
}

function dot([x, y]) {
  ctx.beginPath();
  ctx.arc(x, y, props.pen_width / 2, 0, 2 * Math.PI);
  ctx.fill();
}

function segment([x0, y0], [x1, y1]) {
  ctx.beginPath();
  ctx.moveTo(x0, y0);
  ctx.lineTo(x1, y1);
  ctx.stroke();
}

function drawStroke(points) {
  dot(points[0]);
  for (let i = 1; i < points.length; i++) segment(points[i - 1], points[i]);
}

function redraw() {
  paper();
  for (const points of strokes) drawStroke(points);
  if (current) drawStroke(current);
}

// Send the drawing: strokes so far, and the one being drawn. Gradio sends a changed value to the
// server (the pad's change event); a newer value replaces one still waiting there.
function send() {
  clearTimeout(sendTimer);
  sendTimer = null;
  lastSentAt = performance.now();
  const value = { width: W, height: H, strokes: current ? [...strokes, current] : [...strokes] };
  lastValueJson = JSON.stringify(value);
  props.value = value;
}

// Once a stroke has lasted props.live_after_ms, send at most every props.send_every_ms, so the reading
// follows the pen along a long stroke.
function sendSoon() {
  if (sendTimer !== null) return;
  const wait = Math.max(0, lastSentAt + props.send_every_ms - performance.now());
  sendTimer = setTimeout(send, wait);
}

function toCanvas(event) {
  const x = ((event.clientX - box.left) * W) / box.width;
  const y = ((event.clientY - box.top) * H) / box.height;
  return [Math.round(Math.min(Math.max(x, 0), W)), Math.round(Math.min(Math.max(y, 0), H))];
}

function addPoint(point) {
  const last = current[current.length - 1];
  if (point[0] === last[0] && point[1] === last[1]) return;
  if (current.length >= props.max_points) {  // a very long stroke goes on as a new one
    strokes.push(current);
    current = [last];
  }
  current.push(point);
  segment(last, point);
}

canvas.addEventListener("pointerdown", (event) => {
  if (pointerId !== null || event.button > 0) return;  // one pen at a time; not the right button
  event.preventDefault();
  if (strokes.length >= props.max_strokes) return;
  pointerId = event.pointerId;
  canvas.setPointerCapture(pointerId);
  box = canvas.getBoundingClientRect();  // read once per stroke: the page cannot scroll under the pen
  strokeStartedAt = performance.now();
  current = [toCanvas(event)];
  dot(current[0]);
});

canvas.addEventListener("pointermove", (event) => {
  if (event.pointerId !== pointerId) return;
  const coalesced = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
  for (const e of coalesced.length ? coalesced : [event]) addPoint(toCanvas(e));
  if (performance.now() - strokeStartedAt >= props.live_after_ms) sendSoon();
});

function endStroke(event) {
  if (event.pointerId !== pointerId) return;
  pointerId = null;
  strokes.push(current);
  current = null;
  send();
}
canvas.addEventListener("pointerup", endStroke);
canvas.addEventListener("pointercancel", endStroke);
canvas.addEventListener("contextmenu", (event) => event.preventDefault());  // a long press on a phone

function undo() {
  if (current || !strokes.length) return;
  strokes.pop();
  redraw();
  send();
}

function clear() {
  if (current) return;
  strokes = [];
  redraw();
  send();
}

// The buttons are re-rendered from the template when the value changes, so listen on the root.
element.addEventListener("click", (event) => {
  if (event.target.closest(".pad-undo")) undo();
  else if (event.target.closest(".pad-clear")) clear();
});

document.addEventListener("keydown", (event) => {
  const editing = event.target.closest?.("input, textarea, select, [contenteditable='true']");
  if ((event.ctrlKey || event.metaKey) && !event.shiftKey && event.key.toLowerCase() === "z" && !editing) {
    event.preventDefault();
    undo();
  }
});

// A value set by the server (an example clicked, or the app clearing the pad) is drawn as it is,
// and the visitor can undo it or draw on.
function adopt(value) {
  strokes = (value?.strokes ?? []).map((points) => points.map(([x, y]) => [x, y]));
  current = null;
  pointerId = null;
  redraw();
}

watch("value", () => {
  const json = JSON.stringify(props.value ?? null);
  if (json === lastValueJson) return;
  lastValueJson = json;
  adopt(props.value);
});

adopt(props.value);
