// Flash hypothesis PE[d] = Σ_i V[i, d] q_i and the drift shift p + Δ, with
// their backward passes. Semantics: src/kernels/photon/flash.reference.ts.
//
// Binding numbers are unique across the file (reflection keys bindings by number).
// Buffers (f32, row-major):
//   csrc     [rows, stride]: columns 0 … cols−1 are reduced over rows
//   cw       [rows] per-row weight (charges q) when has_w
//   cpart    [tiles, cols]: per-tile column sums (the last pass has one tile)
//   pin      [N, 3] positions (cm); shift [3] (full) or [1] (x only); pout [N, 3]
//   vis      [N, npd]; gpe [npd] dL/dPE; q [N]
//   gvis_out [N, npd] dL/dV; gq_out [N] dL/dq
// Column sums are deterministic: tile t adds rows t·ROWS … t·ROWS + ROWS − 1
// serially in row order, and the host repeats passes over the partials until
// one tile is left, so the order depends only on the shape (no atomics).
// Neighbouring threads handle neighbouring columns (coalesced rows).
// Grids: column_partial (ceil(cols / CWG), tiles); the others one thread per
// element, WG per workgroup, folded into y.

override WG: u32 = 256u;
const CWG: u32 = 64u;
const ROWS: u32 = 256u;

struct ColParams {
  rows: u32,
  cols: u32,
  stride: u32,
  has_w: u32,
}

@group(0) @binding(0) var<storage, read> csrc: array<f32>;
@group(0) @binding(1) var<storage, read> cw: array<f32>;
@group(0) @binding(2) var<storage, read_write> cpart: array<f32>;
@group(0) @binding(3) var<uniform> cp: ColParams;

@compute @workgroup_size(CWG)
fn column_partial(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let c = gid.x;
  if (c >= cp.cols) { return; }
  let r0 = wid.y * ROWS;
  let r1 = min(cp.rows, r0 + ROWS);
  var acc = 0.0;
  for (var r = r0; r < r1; r++) {
    let w = select(1.0, cw[r], cp.has_w != 0u);
    acc = fma(csrc[r * cp.stride + c], w, acc);
  }
  cpart[wid.y * cp.cols + c] = acc;
}

struct ShiftParams {
  n: u32,       // 3N
  x_only: u32,  // shift has one element (drift axis x)
}

@group(0) @binding(10) var<storage, read> pin: array<f32>;
@group(0) @binding(11) var<storage, read> shift: array<f32>;
@group(0) @binding(12) var<storage, read_write> pout: array<f32>;
@group(0) @binding(13) var<uniform> sp: ShiftParams;

@compute @workgroup_size(WG)
fn shift_points(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * WG;
  if (e >= sp.n) { return; }
  let a = e % 3u;
  var s = 0.0;
  if (sp.x_only != 0u) {
    if (a == 0u) { s = shift[0]; }
  } else {
    s = shift[a];
  }
  pout[e] = pin[e] + s;
}

struct FlashParams {
  n: u32,    // points
  npd: u32,
}

@group(0) @binding(20) var<storage, read> vis: array<f32>;
@group(0) @binding(21) var<storage, read> gpe: array<f32>;
@group(0) @binding(22) var<storage, read> q: array<f32>;
@group(0) @binding(23) var<storage, read_write> gvis_out: array<f32>;
@group(0) @binding(24) var<storage, read_write> gq_out: array<f32>;
@group(0) @binding(25) var<uniform> fp: FlashParams;

// dL/dV[i, d] = dL/dPE[d] · q_i; one thread per (i, d).
@compute @workgroup_size(WG)
fn flash_backward_vis(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * WG;
  if (e >= fp.n * fp.npd) { return; }
  gvis_out[e] = gpe[e % fp.npd] * q[e / fp.npd];
}

// dL/dq_i = Σ_d dL/dPE[d] · V[i, d], serially over d; one thread per point.
@compute @workgroup_size(WG)
fn flash_backward_charge(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= fp.n) { return; }
  var acc = 0.0;
  for (var d = 0u; d < fp.npd; d++) { acc = fma(gpe[d], vis[i * fp.npd + d], acc); }
  gq_out[i] = acc;
}
