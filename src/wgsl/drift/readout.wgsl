// Pixel–tick readout of drifted points: each point's charge is spread over the
// pixels and ticks of its ±nσ window by erf differences (exact Gaussian
// integrals over each cell), the window's outer edges taken at ±∞ so that the
// tail is lumped, not lost (pixel-plane edges stay hard). No Monte Carlo and
// no dense tensor: every (point, window cell) pair is one *entry*; entries are
// sorted by cell key and merged. Semantics: src/kernels/drift/readout.reference.ts.
// Needs drift/special.wgsl prepended.
//
// Plan (integer work, no gradients):
//   ro_count  per point: window descriptor and number of window cells
//   scan (sort.wgsl) of the counts → cstart
//   ro_keys   per entry: sort keys (hi = pixel, lo = tick + 2^20, idx = entry), the
//             entry's point, and the bounds (the cells are the distinct entry keys, so
//             the entries' bounds are the cells'). A point's entries are already in key
//             order (its window is walked pixelX, pixelY, tick), so the entries form one
//             sorted run per point
//   merge sort (sort.wgsl merge_pass, ⌈log₂ m⌉ passes) of the runs by (hi, lo), stable:
//             contributions to one cell stay in entry order = (segment, point) order
//   ro_flags  per sorted entry: 1 where a new cell starts; scan → cell ids
//   ro_cells  per sorted entry: cell first positions, cell coordinates, entry → cell
// Differentiable op:
//   ro_values per entry: charge q·f_u·f_v·f_t;  ro_merge per cell: Σ in sorted (entry) order
//   ro_backward per point: serial loop over its entries (fixed order)
//
// Buffers:
//   pts        f32[m·6]  drifted points [u, v, arrival, σ_T, σ_t, charge] (drift.wgsl out)
//   desc       i32[m·8]  per point [u_first, u_count, v_first, v_count, t_first, t_count, flags, 0];
//                        flags bit 0/1: the u window is clamped at the plane's low/high edge,
//                        bit 2/3: same for v (a clamped end keeps its finite cell boundary)
//   counts     u32[m]    window cells per point
//   cstart     u32[m+1]  exclusive scan of counts; cstart[m] = C entries
//   key_hi, key_lo, key_idx u32[C]  sort keys (ro_keys writes them unsorted, in entry order)
//   entry_pt   u32[C]    point of each entry (also the merge sort's run unit)
//   flags      u32[C]    new-cell flags in sorted order
//   cell_excl  u32[C+1]  exclusive scan of flags; E = cell_excl[C] cells
//   cell_first u32[E+1]  first sorted position of each cell; cell_first[E] = C
//   cells      i32[E·3]  (pixelX, pixelY, tick) of each cell, sorted lexicographically
//   entry_cell u32[C]    cell of each entry
//   bounds     atomic i32[6]  [pxMin, pxMax, pyMin, pyMax, tickMin, tickMax] (integer atomics)
//   errors     atomic u32[2]  [points with ticks beyond ±2^20, points whose window exceeds MAX_WINDOW_CELLS]
//   values     f32[C]    per-entry charge
//   charge     f32[E]    merged cell charge (electrons)
//   gcell      f32[E]    backward input ∂L/∂charge
//   gpts       f32[m·6]  backward output ∂L/∂pts
// Grids: one invocation per point, entry, sorted entry or cell, 1-D folded into y.

struct Params {
  m: u32,
  c: u32,
  e: u32,
  n_u: u32,
  n_v: u32,
  u0: f32,
  v0: f32,
  pitch: f32,
  tick: f32,
  nsigma: f32,
}

const PTS_STRIDE: u32 = 6u;
const DESC_STRIDE: u32 = 8u;
const TICK_OFFSET: i32 = 1048576; // 2^20: keys hold tick + 2^20 as u32
const CLAMP_U_LO: i32 = 1;
const CLAMP_U_HI: i32 = 2;
const CLAMP_V_LO: i32 = 4;
const CLAMP_V_HI: i32 = 8;
// A window of more cells than this is an unphysically large σ for the grid.
const MAX_WINDOW_CELLS: u32 = 1048576u;

override WG: u32 = 256;

@group(0) @binding(0) var<storage, read> pts: array<f32>;
@group(0) @binding(1) var<storage, read_write> desc: array<i32>;
@group(0) @binding(2) var<storage, read_write> counts: array<u32>;
@group(0) @binding(3) var<storage, read> cstart: array<u32>;
@group(0) @binding(4) var<storage, read_write> key_hi: array<u32>;
@group(0) @binding(5) var<storage, read_write> key_lo: array<u32>;
@group(0) @binding(6) var<storage, read_write> key_idx: array<u32>;
@group(0) @binding(7) var<storage, read_write> entry_pt: array<u32>;
@group(0) @binding(8) var<storage, read_write> flags: array<u32>;
@group(0) @binding(9) var<storage, read> cell_excl: array<u32>;
@group(0) @binding(10) var<storage, read_write> cell_first: array<u32>;
@group(0) @binding(11) var<storage, read_write> cells: array<i32>;
@group(0) @binding(12) var<storage, read_write> entry_cell: array<u32>;
@group(0) @binding(13) var<storage, read_write> bounds: array<atomic<i32>, 6>;
@group(0) @binding(14) var<storage, read_write> errors: array<atomic<u32>, 2>;
@group(0) @binding(15) var<storage, read_write> values: array<f32>;
@group(0) @binding(16) var<storage, read_write> charge: array<f32>;
@group(0) @binding(17) var<storage, read> gcell: array<f32>;
@group(0) @binding(18) var<storage, read_write> gpts: array<f32>;
@group(0) @binding(19) var<storage, read> desc_in: array<i32>;
@group(0) @binding(20) var<storage, read> entry_pt_in: array<u32>;
@group(0) @binding(21) var<storage, read> key_idx_in: array<u32>;
@group(0) @binding(22) var<storage, read> cell_first_in: array<u32>;
@group(0) @binding(23) var<storage, read> entry_cell_in: array<u32>;
@group(0) @binding(24) var<uniform> params: Params;

var<workgroup> wb: array<atomic<i32>, 6>;

// Cells [first, last] met by c ± kσ (or the cell of c when σ = 0) on a grid of
// n cells (n = 0: unbounded). Returns (first, count, clamp_lo, clamp_hi); count 0 = none.
fn window(c: f32, sigma: f32, o: f32, p: f32, n: u32) -> vec4<i32> {
  var lo_f: f32;
  var hi_f: f32;
  if (sigma > 0.0) {
    lo_f = floor((c - params.nsigma * sigma - o) / p);
    hi_f = floor((c + params.nsigma * sigma - o) / p);
  } else {
    lo_f = floor((c - o) / p);
    hi_f = lo_f;
  }
  // Saturate before converting: far-away points become an empty or clamped window.
  let big = 2.0e9;
  var a = i32(clamp(lo_f, -big, big));
  var b = i32(clamp(hi_f, -big, big));
  var clo = 0;
  var chi = 0;
  if (n > 0u) {
    let last = i32(n) - 1;
    if (b < 0 || a > last) { return vec4<i32>(0, 0, 0, 0); }
    if (a < 0) { a = 0; clo = 1; }
    if (b > last) { b = last; chi = 1; }
  }
  return vec4<i32>(a, b - a + 1, clo, chi);
}

@compute @workgroup_size(WG)
fn ro_count(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let p = gid.x + gid.y * nwg.x * WG;
  if (p >= params.m) { return; }
  let b = p * PTS_STRIDE;
  let d = p * DESC_STRIDE;
  for (var k = 0u; k < DESC_STRIDE; k++) { desc[d + k] = 0; }
  counts[p] = 0u;
  let wu = window(pts[b], pts[b + 3u], params.u0, params.pitch, params.n_u);
  let wv = window(pts[b + 1u], pts[b + 3u], params.v0, params.pitch, params.n_v);
  if (wu.y == 0 || wv.y == 0) { return; }
  let wt = window(pts[b + 2u], pts[b + 4u], 0.0, params.tick, 0u);
  if (wt.x <= -TICK_OFFSET || wt.x + wt.y - 1 >= TICK_OFFSET) {
    atomicAdd(&errors[0], 1u);
    return;
  }
  // Compared in f32 first: the u32 product could wrap for absurd σ.
  if (f32(wu.y) * f32(wv.y) * f32(wt.y) > f32(MAX_WINDOW_CELLS)) {
    atomicAdd(&errors[1], 1u);
    return;
  }
  desc[d] = wu.x;
  desc[d + 1u] = wu.y;
  desc[d + 2u] = wv.x;
  desc[d + 3u] = wv.y;
  desc[d + 4u] = wt.x;
  desc[d + 5u] = wt.y;
  desc[d + 6u] = wu.z * CLAMP_U_LO + wu.w * CLAMP_U_HI + wv.z * CLAMP_V_LO + wv.w * CLAMP_V_HI;
  counts[p] = u32(wu.y) * u32(wv.y) * u32(wt.y);
}

// Largest point p with cstart[p] ≤ e.
fn point_of(e: u32) -> u32 {
  var lo = 0u;
  var hi = params.m;
  while (hi - lo > 1u) {
    let mid = (lo + hi) / 2u;
    if (cstart[mid] <= e) { lo = mid; } else { hi = mid; }
  }
  return lo;
}

// (i, j, k) window offsets of entry e of point p; k (tick) innermost, as the reference.
fn decode(e: u32, p: u32, dd: u32) -> vec3<u32> {
  let l = e - cstart[p];
  let vc = u32(desc_in[dd + 3u]);
  let tc = u32(desc_in[dd + 5u]);
  return vec3<u32>(l / (tc * vc), (l / tc) % vc, l % tc);
}

@compute @workgroup_size(WG)
fn ro_keys(
  @builtin(global_invocation_id) gid: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let e = gid.x + gid.y * nwg.x * WG;
  if (lid.x == 0u) {
    for (var k = 0u; k < 6u; k += 2u) {
      atomicStore(&wb[k], 2147483647);
      atomicStore(&wb[k + 1u], -2147483647 - 1);
    }
  }
  workgroupBarrier();
  if (e < params.c) {
    let p = point_of(e);
    let dd = p * DESC_STRIDE;
    let ijk = decode(e, p, dd);
    let px = desc_in[dd] + i32(ijk.x);
    let py = desc_in[dd + 2u] + i32(ijk.y);
    let t = desc_in[dd + 4u] + i32(ijk.z);
    key_hi[e] = u32(px) * params.n_v + u32(py);
    key_lo[e] = u32(t + TICK_OFFSET);
    key_idx[e] = e;
    entry_pt[e] = p;
    atomicMin(&wb[0], px);
    atomicMax(&wb[1], px);
    atomicMin(&wb[2], py);
    atomicMax(&wb[3], py);
    atomicMin(&wb[4], t);
    atomicMax(&wb[5], t);
  }
  workgroupBarrier();
  if (lid.x == 0u) {
    for (var k = 0u; k < 6u; k += 2u) {
      atomicMin(&bounds[k], atomicLoad(&wb[k]));
      atomicMax(&bounds[k + 1u], atomicLoad(&wb[k + 1u]));
    }
  }
}

@compute @workgroup_size(WG)
fn ro_flags(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let s = gid.x + gid.y * nwg.x * WG;
  if (s >= params.c) { return; }
  var f = 1u;
  if (s > 0u && key_hi[s] == key_hi[s - 1u] && key_lo[s] == key_lo[s - 1u]) { f = 0u; }
  flags[s] = f;
}

@compute @workgroup_size(WG)
fn ro_cells(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let s = gid.x + gid.y * nwg.x * WG;
  if (s < params.c) {
    let f = flags[s];
    let c = cell_excl[s] + f - 1u;
    entry_cell[key_idx_in[s]] = c;
    if (f == 1u) {
      cell_first[c] = s;
      let hi = key_hi[s];
      let px = i32(hi / params.n_v);
      let py = i32(hi % params.n_v);
      let t = i32(key_lo[s]) - TICK_OFFSET;
      cells[c * 3u] = px;
      cells[c * 3u + 1u] = py;
      cells[c * 3u + 2u] = t;
    }
    if (s == params.c - 1u) { cell_first[c + 1u] = params.c; }
  }
}

// (fraction, ∂/∂centre, ∂/∂σ) of N(c, σ²) in window cell idx of a window
// starting at cell `first` with `count` cells; ends are ±∞ unless clamped.
fn axis_factor(c: f32, sigma: f32, o: f32, p: f32, first: i32, count: i32, idx: i32, clamp_lo: bool, clamp_hi: bool) -> vec3<f32> {
  if (!(sigma > 0.0)) { return vec3<f32>(1.0, 0.0, 0.0); }
  let i = first + idx;
  let lo_inf = idx == 0 && !clamp_lo;
  let hi_inf = idx == count - 1 && !clamp_hi;
  let zl = (o + f32(i) * p - c) / sigma;
  let zu = (o + f32(i + 1) * p - c) / sigma;
  let f = cdf_diff(zl, zu, lo_inf, hi_inf);
  let pu = select(norm_pdf(zu), 0.0, hi_inf);
  let pl = select(norm_pdf(zl), 0.0, lo_inf);
  let zpu = select(zu * pu, 0.0, hi_inf);
  let zpl = select(zl * pl, 0.0, lo_inf);
  return vec3<f32>(f, -(pu - pl) / sigma, -(zpu - zpl) / sigma);
}

// The three axis factors of entry (i, j, k) of the point at pts row b, descriptor dd.
struct Factors {
  u: vec3<f32>,
  v: vec3<f32>,
  t: vec3<f32>,
}

fn factors(b: u32, dd: u32, ijk: vec3<u32>) -> Factors {
  let fl = desc_in[dd + 6u];
  let sT = pts[b + 3u];
  var o: Factors;
  o.u = axis_factor(pts[b], sT, params.u0, params.pitch, desc_in[dd], desc_in[dd + 1u], i32(ijk.x),
    (fl & CLAMP_U_LO) != 0, (fl & CLAMP_U_HI) != 0);
  o.v = axis_factor(pts[b + 1u], sT, params.v0, params.pitch, desc_in[dd + 2u], desc_in[dd + 3u], i32(ijk.y),
    (fl & CLAMP_V_LO) != 0, (fl & CLAMP_V_HI) != 0);
  o.t = axis_factor(pts[b + 2u], pts[b + 4u], 0.0, params.tick, desc_in[dd + 4u], desc_in[dd + 5u], i32(ijk.z), false, false);
  return o;
}

@compute @workgroup_size(WG)
fn ro_values(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * WG;
  if (e >= params.c) { return; }
  let p = entry_pt_in[e];
  let dd = p * DESC_STRIDE;
  let b = p * PTS_STRIDE;
  let f = factors(b, dd, decode(e, p, dd));
  values[e] = pts[b + 5u] * (f.u.x * f.v.x * f.t.x);
}

@compute @workgroup_size(WG)
fn ro_merge(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = gid.x + gid.y * nwg.x * WG;
  if (c >= params.e) { return; }
  var acc = 0.0;
  for (var s = cell_first_in[c]; s < cell_first_in[c + 1u]; s++) { acc += values[key_idx_in[s]]; }
  charge[c] = acc;
}

@compute @workgroup_size(WG)
fn ro_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let p = gid.x + gid.y * nwg.x * WG;
  if (p >= params.m) { return; }
  let b = p * PTS_STRIDE;
  let dd = p * DESC_STRIDE;
  var S = 0.0;
  var Su = 0.0;
  var Ssu = 0.0;
  var Sv = 0.0;
  var Ssv = 0.0;
  var St = 0.0;
  var Sst = 0.0;
  for (var e = cstart[p]; e < cstart[p + 1u]; e++) {
    let gv = gcell[entry_cell_in[e]];
    let f = factors(b, dd, decode(e, p, dd));
    let uv = f.u.x * f.v.x;
    S += gv * uv * f.t.x;
    Su += gv * f.u.y * f.v.x * f.t.x;
    Ssu += gv * f.u.z * f.v.x * f.t.x;
    Sv += gv * f.u.x * f.v.y * f.t.x;
    Ssv += gv * f.u.x * f.v.z * f.t.x;
    St += gv * uv * f.t.y;
    Sst += gv * uv * f.t.z;
  }
  let q = pts[b + 5u];
  gpts[b] = q * Su;
  gpts[b + 1u] = q * Sv;
  gpts[b + 2u] = q * St;
  gpts[b + 3u] = q * (Ssu + Ssv);
  gpts[b + 4u] = q * Sst;
  gpts[b + 5u] = S;
}
