// arkor_rx web dashboard: the smoother and the uPlot charts (loaded before app.js).
"use strict";

function css(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

// ------------------------------------------------------------------ the smoother

// TensorBoard's debiased EMA, as aop.tensorboard_smooth: for each finite y,
// last = last * w + (1 - w) * y; n += 1; out = last / (1 - w ** n); a missing or
// non-finite y is a gap (null). The one smoother of the page: the run page's and the
// compare chart's smoothed loss both come from here. It is kept with the run's history
// and extended as points arrive (once per point, not once per redraw); past the series
// limit the server thins a run to every other point, and the smoothing then runs over
// the thinned points (see docs/web-dashboard.md).
function smoothedOf(h, w) {
  let c = h.smoothCache;
  if (!c || c.w !== w || c.len > h.loss.length) {
    c = h.smoothCache = { w, len: 0, last: 0, n: 0, out: [] };
  }
  for (let i = c.len; i < h.loss.length; i++) {
    const y = h.loss[i];
    if (y === null || !isFinite(y)) { c.out.push(null); continue; }
    c.last = c.last * w + (1 - w) * y; c.n += 1;
    c.out.push(c.last / (1 - Math.pow(w, c.n)));
  }
  c.len = h.loss.length;
  return c.out;
}

// ------------------------------------------------------------------ charts

function tick(v) {
  if (v === null) return "";
  if (v !== 0 && (Math.abs(v) < 1e-2 || Math.abs(v) >= 1e5)) return v.toExponential(1);
  return String(+v.toPrecision(4));
}

const STEP_INCRS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1e3, 2e3, 2500, 5e3, 1e4, 2e4, 5e4, 1e5, 1e6];

function axisStyle(y) {
  const ink = css("--muted"), grid = css("--grid");
  const axis = { stroke: ink, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
  if (y) { axis.values = (u, ticks) => ticks.map(tick); axis.size = 56; }
  else axis.incrs = STEP_INCRS;  // steps are whole numbers
  return axis;
}

function stopMarker(getRuns) {
  return (u) => {
    const ctx = u.ctx;
    let row = 0;  // labels at the same place stack instead of overlapping
    for (const run of getRuns()) {
      if (!run || !run.stop || run.stop.step === null) continue;
      row += 1;
      const x = u.valToPos(run.stop.step, "x", true);
      ctx.save();
      ctx.strokeStyle = css("--warn"); ctx.setLineDash([6, 4]); ctx.lineWidth = 2;
      ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
      ctx.fillStyle = css("--warn"); ctx.font = `${12 * devicePixelRatio}px system-ui, sans-serif`;
      const label = run.state === "pruned" ? "✂ pruned" : "■ stopped";
      const width = ctx.measureText(label).width, pad = 4 * devicePixelRatio;
      const right = x + pad + width <= u.bbox.left + u.bbox.width;  // else on the line's left
      const y = u.bbox.top + (14 + 16 * (row - 1)) * devicePixelRatio;
      ctx.fillText(label, right ? x + pad : x - pad - width, y);
      ctx.restore();
    }
  };
}

function makeChart(node, series, getRuns, height, log) {
  const width = Math.max(240, node.clientWidth || 600);
  const y = log ? { distr: 3 } : {};
  const opts = {
    width, height, scales: { x: { time: false }, y }, legend: { live: true },
    axes: [axisStyle(false), axisStyle(true)], series: [{ label: "step" }, ...series],
    hooks: { draw: [stopMarker(getRuns), markDrawn] },
  };
  const chart = new uPlot(opts, [[], ...series.map(() => [])], node);
  new ResizeObserver(() => chart.setSize({ width: Math.max(240, node.clientWidth), height })).observe(node);
  return chart;
}

function markDrawn(u) {
  // What was drawn when (the bench's event -> drawn latency): [last step, Date.now()].
  const xs = u.data[0];
  if (xs.length) DRAWN.push([xs[xs.length - 1], Date.now()]);
  if (DRAWN.length > 10000) DRAWN.splice(0, DRAWN.length - 10000);
}
const DRAWN = [];
window.arkorDrawn = DRAWN;

// Many long runs on one chart: one value per step bucket (the mean of the smoothed loss
// in it), on x values shared by every run, at most `buckets` of them (the page asks for
// one per two pixel columns); a run of fewer steps is drawn point for point. Every point
// is read at each redraw (a new point moves the buckets), in one tight loop per run.
function bucketed(hists, w, buckets) {
  let lo = Infinity, hi = -Infinity;
  for (const h of hists) {
    if (h.step.length) { lo = Math.min(lo, h.step[0]); hi = Math.max(hi, h.step[h.step.length - 1]); }
  }
  if (!isFinite(lo)) return [[], ...hists.map(() => [])];
  const n = Math.max(1, Math.min(buckets, Math.floor(hi - lo) + 1)), width = (hi - lo + 1) / n;
  const xs = Array.from({ length: n }, (_, i) => lo + i * width);
  const out = [xs], last = n - 1;
  const sums = new Float64Array(n), counts = new Uint32Array(n);
  for (const h of hists) {
    const sm = smoothedOf(h, w), st = h.step, len = sm.length;
    sums.fill(0); counts.fill(0);
    for (let i = 0; i < len; i++) {
      const v = sm[i];
      if (v === null) continue;
      const b = Math.floor((st[i] - lo) / width);
      const at = b < last ? b : last;
      sums[at] += v; counts[at] += 1;
    }
    const col = new Array(n);
    for (let b = 0; b < n; b++) col[b] = counts[b] ? sums[b] / counts[b] : null;
    out.push(col);
  }
  return out;
}
