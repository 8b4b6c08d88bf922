// The stroke pad's behaviour: the body of gr.HTML's js_on_load, run once when the pad is mounted with
// `element` (the pad's root), `props` (its props; setting props.value sends the value) and `watch`.
//
// The canvas keeps a fixed resolution (props.canvas_width x props.canvas_height) and CSS scales it to
// fit, so pointer positions are mapped through its on-screen box: this works at any zoom, on a phone,
// and after a resize. Strokes are kept as lists of [x, y] canvas pixels; the canvas is only their picture.
//
// The template is a function of the props: this script changes props (blank, picked, the canvas's size)
// and never the elements, which Gradio re-renders in place from the template.
const canvas = element.querySelector("canvas");
const ctx = canvas.getContext("2d");
const WIDE = [props.canvas_width, props.canvas_height];
const narrowScreen = window.matchMedia(props.narrow_screen);
let W = WIDE[0];
let H = WIDE[1];

let strokes = [];  // finished strokes
let current = null;  // the stroke being drawn, or null
let pointerId = null;  // the pointer drawing it
let box = null;  // the canvas's box on the page while a stroke is drawn
let strokeStartedAt = 0;
let lastSentAt = 0;
let sendTimer = null;
let lastValueJson = JSON.stringify(props.value ?? null);

function paper() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, W, H);
  ctx.strokeStyle = "#000";
  ctx.fillStyle = "#000";
  ctx.lineWidth = props.pen_width;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
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

// Resizing a canvas wipes it: draw again whenever the template gives it another size.
new MutationObserver(redraw).observe(canvas, { attributes: true, attributeFilter: ["width", "height"] });

// What the template shows: the hint and disabled tools on a blank pad, and which example is on it
// untouched (-1: none). A prop set to the value it has changes nothing.
function show(picked = -1) {
  props.blank = !strokes.length && !current;
  props.picked = picked;
}

// A narrow screen gets a squarer canvas, chosen while the pad is blank (strokes keep their canvas).
function fitScreen() {
  if (strokes.length || current) return;
  [W, H] = narrowScreen.matches ? props.narrow_canvas : WIDE;
  props.canvas_width = W;
  props.canvas_height = H;
}
narrowScreen.addEventListener("change", fitScreen);

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
  show();
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

// A drawing made on a canvas of another size (an example), scaled to fit this one and centred.
function fitted(value) {
  const scale = Math.min(W / value.width, H / value.height);
  const dx = (W - value.width * scale) / 2;
  const dy = (H - value.height * scale) / 2;
  return value.strokes.map((points) => points.map(([x, y]) => [x * scale + dx, y * scale + dy]));
}

function undo() {
  if (current || !strokes.length) return;
  strokes.pop();
  redraw();
  show();
  send();
}

function clear() {
  if (current || !strokes.length) return;
  strokes = [];
  redraw();
  show();
  send();
}

// An example replaces the drawing, and is read; the visitor can undo it like their own strokes.
function pick(index) {
  if (current) return;
  strokes = fitted(JSON.parse(props.examples[index].value));
  redraw();
  show(index);
  send();
}

// One listener on the root for the template's buttons.
element.addEventListener("click", (event) => {
  const example = event.target.closest(".pad-example");
  if (event.target.closest(".pad-undo")) undo();
  else if (event.target.closest(".pad-clear")) clear();
  else if (example) pick(Number(example.dataset.index));
});

document.addEventListener("keydown", (event) => {
  const editing = event.target.closest?.("input, textarea, select, [contenteditable='true']");
  if ((event.ctrlKey || event.metaKey) && !event.shiftKey && event.key.toLowerCase() === "z" && !editing) {
    event.preventDefault();
    undo();
  }
});

// A value set by the server is drawn as it is, and the visitor can undo it or draw on.
function adopt(value) {
  current = null;
  pointerId = null;
  strokes = [];
  fitScreen();
  strokes = value ? fitted(value) : [];
  redraw();
  show();
}

watch("value", () => {
  const json = JSON.stringify(props.value ?? null);
  if (json === lastValueJson) return;
  lastValueJson = json;
  adopt(props.value);
});

adopt(props.value);
