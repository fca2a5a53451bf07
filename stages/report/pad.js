// The report's drawing pad: draw a digit, and every architecture's model reads it in the browser.
// The steps are stages/common/handwriting.py's, line for line (its test holds the two to the same
// pixels): a picture becomes a 28x28 MNIST digit, then the model file's input contract scales it
// and the network's forward pass gives the ten probabilities. Weights come from window.PAD_MODELS,
// which the publish stage writes (reports/pad/models.js, a DVC-cached file). No network is used.
"use strict";
(() => {
  const SIDE = 28, BOX = 20, INK = 32, MIN_CONTRAST = 40, SPECK = 0.05, LEAKY_SLOPE = 0.01;
  const canvas = document.getElementById("pad-canvas");
  const status = document.getElementById("pad-status");
  const table = document.getElementById("pad-table");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  const seen = document.getElementById("pad-seen").getContext("2d");

  const floats = (text) => {
    const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
    return new Float32Array(bytes.buffer);
  };
  const models = (window.PAD_MODELS || []).map((m) => ({
    ...m,
    mean: floats(m.mean),
    std: floats(m.std),
    layers: m.layers.map((l) => ({ ...l, W: floats(l.W), b: floats(l.b) })),
  }));

  // --- a picture (gray, 0..255, row by row) -> 28x28 MNIST pixels, as handwriting.to_mnist ---
  function background(gray, h, w) {
    const border = [];
    for (let x = 0; x < w; x++) border.push(gray[x]);
    for (let x = 0; x < w; x++) border.push(gray[(h - 1) * w + x]);
    for (let y = 0; y < h; y++) border.push(gray[y * w]);
    for (let y = 0; y < h; y++) border.push(gray[y * w + w - 1]);
    border.sort((a, b) => a - b);
    return border[Math.floor(border.length / 2)];
  }
  function areaWeights(old, size) {
    const step = old / size, weights = new Float64Array(size * old);
    for (let i = 0; i < size; i++) {
      for (let j = 0; j < old; j++) {
        const overlap = Math.min(i * step + step, j + 1) - Math.max(i * step, j);
        weights[i * old + j] = Math.max(overlap, 0) / step;
      }
    }
    return weights;
  }
  function areaResize(image, h, w, height, width) {
    const rows = areaWeights(h, height), columns = areaWeights(w, width);
    const half = new Float64Array(height * w); // rows @ image
    for (let i = 0; i < height; i++)
      for (let k = 0; k < h; k++) {
        const weight = rows[i * h + k];
        if (weight) for (let j = 0; j < w; j++) half[i * w + j] += weight * image[k * w + j];
      }
    const out = new Float64Array(height * width); // half @ columns.T
    for (let i = 0; i < height; i++)
      for (let j = 0; j < width; j++) {
        let sum = 0;
        for (let k = 0; k < w; k++) sum += half[i * w + k] * columns[j * w + k];
        out[i * width + j] = sum;
      }
    return out;
  }
  function centreByMass(field) {
    let total = 0;
    const rows = new Float64Array(SIDE), columns = new Float64Array(SIDE);
    for (let y = 0; y < SIDE; y++)
      for (let x = 0; x < SIDE; x++) {
        const v = field[y * SIDE + x];
        rows[y] += v; columns[x] += v; total += v;
      }
    const shift = (mass) => {
      let moment = 0;
      for (let i = 0; i < SIDE; i++) moment += mass[i] * i;
      return Math.floor(SIDE / 2 - (moment / total + 0.5) + 0.5);
    };
    const dy = shift(rows), dx = shift(columns), moved = new Float64Array(SIDE * SIDE);
    for (let y = 0; y < SIDE; y++)
      for (let x = 0; x < SIDE; x++) {
        const ty = y + dy, tx = x + dx;
        if (ty >= 0 && ty < SIDE && tx >= 0 && tx < SIDE) moved[ty * SIDE + tx] = field[y * SIDE + x];
      }
    return moved;
  }
  function strokes(ink, h, w) { // ink pixels in 8-connected groups with at least SPECK of the largest's ink
    const labels = new Int32Array(h * w), masses = [0];
    for (let start = 0; start < h * w; start++) {
      if (labels[start] || ink[start] < INK) continue;
      const label = masses.length, stack = [start];
      let mass = 0;
      labels[start] = label;
      while (stack.length) {
        const at = stack.pop(), y = Math.floor(at / w), x = at % w;
        mass += ink[at];
        for (let dy = -1; dy <= 1; dy++)
          for (let dx = -1; dx <= 1; dx++) {
            const ny = y + dy, nx = x + dx, next = ny * w + nx;
            if (ny >= 0 && ny < h && nx >= 0 && nx < w && !labels[next] && ink[next] >= INK) {
              labels[next] = label;
              stack.push(next);
            }
          }
      }
      masses.push(mass);
    }
    const largest = masses.reduce((a, b) => Math.max(a, b), 0);
    return ink.map((v, i) => (labels[i] && masses[labels[i]] >= SPECK * largest ? v : 0));
  }
  const toPixels = (gray) => Uint8Array.from(gray, (v) => Math.min(255, Math.max(0, Math.floor(v + 0.5))));

  function toMnist(picture, h, w) {
    let gray = Float64Array.from(picture);
    if (background(gray, h, w) > 127.5) gray = gray.map((v) => 255 - v);
    const level = background(gray, h, w);
    let peak = -Infinity;
    for (const v of gray) peak = Math.max(peak, v);
    if (peak - level < MIN_CONTRAST) return null;
    if (h === SIDE && w === SIDE) return toPixels(gray);
    const ink = strokes(gray.map((v) => Math.min(Math.max((v - level) / (peak - level), 0), 1) * 255), h, w);
    let top = h, bottom = -1, left = w, right = -1;
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        if (ink[y * w + x] > 0) {
          top = Math.min(top, y); bottom = Math.max(bottom, y);
          left = Math.min(left, x); right = Math.max(right, x);
        }
    const ch = bottom - top + 1, cw = right - left + 1, crop = new Float64Array(ch * cw);
    for (let y = 0; y < ch; y++) for (let x = 0; x < cw; x++) crop[y * cw + x] = ink[(top + y) * w + left + x];
    const scale = BOX / Math.max(ch, cw);
    const height = Math.max(1, Math.floor(ch * scale + 0.5)), width = Math.max(1, Math.floor(cw * scale + 0.5));
    const resized = areaResize(crop, ch, cw, height, width);
    let brightest = 0;
    for (const v of resized) brightest = Math.max(brightest, v);
    const field = new Float64Array(SIDE * SIDE);
    const y0 = Math.floor((SIDE - height) / 2), x0 = Math.floor((SIDE - width) / 2);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) field[(y0 + y) * SIDE + x0 + x] = resized[y * width + x] * (255 / brightest);
    return toPixels(centreByMass(field));
  }

  // --- the forward pass of one model on raw pixels, scaled by its input contract ---
  const ACTIVATIONS = {
    relu: (z) => Math.max(z, 0),
    leaky_relu: (z) => (z > 0 ? z : LEAKY_SLOPE * z),
    tanh: Math.tanh,
    sigmoid: (z) => 1 / (1 + Math.exp(-z)),
  };
  function probabilities(model, pixels) {
    let a = Float64Array.from(pixels, (p, i) => (p / 255 - model.mean[i]) / model.std[i]);
    model.layers.forEach((layer, index) => {
      const z = Float64Array.from(layer.b);
      for (let i = 0; i < layer.fan_in; i++) {
        const x = a[i];
        if (x) for (let j = 0, row = i * layer.fan_out; j < layer.fan_out; j++) z[j] += x * layer.W[row + j];
      }
      a = index < model.layers.length - 1 ? z.map(ACTIVATIONS[model.activation]) : z;
    });
    const top = Math.max(...a), exp = a.map((z) => Math.exp(z - top)), sum = exp.reduce((s, v) => s + v, 0);
    return Array.from(exp, (v) => v / sum);
  }

  function show(pixels) {
    const results = pixels ? models.map((m) => ({ run: m.run, labels: m.labels, p: probabilities(m, pixels) })) : [];
    window.pad.input = pixels;
    window.pad.results = results;
    const rows = results.map(({ run, labels, p }) => {
      const best = p.indexOf(Math.max(...p));
      const cells = p.map((q) => {
        const ink = q > 0.5 ? "color: white; " : "";
        return `<td class="number" style="${ink}background: rgba(9, 105, 218, ${q.toFixed(3)})">${q.toFixed(2)}</td>`;
      });
      return `<tr><td>${run}</td><td class="pad-digit" data-run="${run}">${labels[best]}</td>${cells.join("")}</tr>`;
    });
    table.tBodies[0].innerHTML = rows.join("");
    const view = seen.createImageData(SIDE, SIDE);
    if (pixels) pixels.forEach((v, i) => view.data.set([v, v, v, 255], 4 * i));
    seen.putImageData(view, 0, 0);
    if (models.length) status.textContent = pixels ? "" : "Draw a digit in the box (mouse, pen or finger).";
  }

  // --- drawing ---
  function clear() {
    context.save();
    context.fillStyle = "black";
    context.fillRect(0, 0, canvas.width, canvas.height);
    context.restore();
    show(null);
  }
  function readCanvas() {
    const { data } = context.getImageData(0, 0, canvas.width, canvas.height);
    const gray = new Float64Array(canvas.width * canvas.height);
    for (let i = 0; i < gray.length; i++) gray[i] = 0.299 * data[4 * i] + 0.587 * data[4 * i + 1] + 0.114 * data[4 * i + 2];
    show(toMnist(gray, canvas.height, canvas.width));
  }
  let last = null, pending = false;
  const point = (event) => {
    const box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * (canvas.width / box.width), (event.clientY - box.top) * (canvas.height / box.height)];
  };
  canvas.addEventListener("pointerdown", (event) => {
    canvas.setPointerCapture(event.pointerId);
    last = point(event);
    context.beginPath(); context.arc(...last, context.lineWidth / 2, 0, 2 * Math.PI); context.fill();
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!last) return;
    const next = point(event);
    context.beginPath(); context.moveTo(...last); context.lineTo(...next); context.stroke();
    last = next;
    if (!pending) {
      pending = true;
      requestAnimationFrame(() => { pending = false; readCanvas(); });
    }
  });
  const end = () => { if (last) { last = null; readCanvas(); } };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  document.getElementById("pad-clear").addEventListener("click", clear);

  // For tests and curious readers: show a 28x28 digit (784 raw pixels) as if it had been drawn.
  window.pad = {
    toMnist,
    load(pixels) {
      const digit = toMnist(Float64Array.from(pixels), SIDE, SIDE);
      const image = context.createImageData(SIDE, SIDE);
      digit.forEach((v, i) => image.data.set([v, v, v, 255], 4 * i));
      createImageBitmap(image).then((bitmap) => {
        context.imageSmoothingEnabled = false;
        context.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      });
      show(digit);
      return window.pad.results;
    },
  };
  context.strokeStyle = context.fillStyle = "white";
  context.lineWidth = canvas.width / 12;
  context.lineCap = context.lineJoin = "round";
  clear();
  if (!models.length) {
    status.textContent =
      "The pad's weights are not here: reports/pad/models.js is a DVC-cached output of the publish stage. " +
      "Run `dvc pull reports/pad/models.js` (or `dvc repro`), then reload this page.";
  }
})();
