// SIREN multilayer perceptron: fused whole-network forward and backward, the
// fused forward-mode input Jacobian (JAC) and its second-order backward,
// split-K weight gradients, and the per-layer (unfused) fallback kernels.
//
// Network (see src/kernels/photon/siren.reference.ts): z_l = W_l h_l + b_l,
// h_{l+1} = sin(ω_l z_l) (or z_l for a linear output layer).
//
// Binding numbers are unique across the file (reflection keys bindings by number).
// Buffers (all f32 unless stated, row-major):
//   x       [B, in_dim]                 input points (normalised coordinates)
//   wt      packed W_lᵀ: layer l at wt_off_l, [in_l, out_l] (so that
//           neighbouring output neurons read neighbouring addresses)
//   wmat    packed W_l in PyTorch layout: layer l at wt_off_l, [out_l, in_l]
//           (neighbouring input neurons read neighbouring addresses in backward)
//   bias    packed b_l: layer l at b_off_l, [out_l]
//   layers  u32 [L, 8]: in_l, out_l, wt_off_l, b_off_l, z_col_l, h_col_l,
//           bitcast(ω_l), sine_l (1 = sin, 0 = linear)
//   y       [B, out_dim]                network output
//   jac     [B, out_dim, in_dim]        ∂y/∂x (JAC only)
//   zs      saved pre-activations, chunk-local: [C, z_stride] (plain) or
//           [C, z_stride, 4] holding (z, ∂z/∂x0..2) (JAC); layer l at column z_col_l
//   hs      saved layer inputs, chunk-local: [C, h_stride] or [C, h_stride, 4] (h, ∂h/∂x)
//   ds      adjoints of the pre-activations, same layout as zs:
//           plain: dL/dz_l; JAC: (ẑ_l, T̂_l) of the reference derivation
//   gy      dL/dy [B, out_dim]; gj dL/dJ [B, out_dim, in_dim] (JAC)
//   dx      dL/dx [B, in_dim]
//   partial [S, out, in + 1]            per-slice weight/bias gradient partials
//   gw, gb  [out, in], [out]            reduced gradients of one layer
//
// Fused kernels. One workgroup evaluates the whole network for a tile of
// TILE_P points; the activations of the current layer live in workgroup
// memory (two halves, ping-pong, ACT_HALF vec4 each), never in global memory.
// Each activation slot is a vec4: four points of one neuron (plain), or
// (value, three input derivatives) of one point (JAC), so the same code
// serves both. A thread owns NB = 4 output neurons (j, j + WG, …) and keeps
// NB × PV vec4 accumulators in named registers. Per input neuron it reads
// NB weights from global memory (coalesced across the workgroup through the
// transposed layout; the weights are shared by every tile and stay in L2)
// and PV vec4s from workgroup memory (a broadcast: every thread reads the
// same address); each weight then feeds 4·PV FMAs and each activation vec4
// NB vec4 FMAs. Workgroup-memory loads, not arithmetic, bound the version
// with one neuron per thread. Sums run over input neurons in index order,
// so results are bitwise reproducible.
// Grid: one workgroup per tile, folded into y: ceil(count / TILE_P) tiles.
//
// Backward: weight gradients are sums over points, so the fused backward
// only propagates adjoints through all layers (writing ds and dx), and
// weight_grad_partial forms per-slice partial sums Σ_r A[r,i] B[r,k] that
// weight_grad_reduce adds in slice order (no float atomics).

struct NetParams {
  count: u32,       // points in this chunk
  point0: u32,      // first global point of the chunk (x, y, jac, gy, gj, dx)
  num_layers: u32,
  in_dim: u32,
  out_dim: u32,
  z_stride: u32,
  h_stride: u32,
  save: u32,        // forward: write zs and hs
  has_gy: u32,      // backward: gy is given
  has_gj: u32,      // backward (JAC): gj is given
}

const LAYER_FIELDS: u32 = 8u;

override TILE_P: u32 = 8u;     // points per workgroup
override PV: u32 = 2u;         // vec4 slots per neuron: TILE_P / 4 (plain) or TILE_P (JAC)
override ACT_HALF: u32 = 512u; // widest layer × PV
override ACT_TOTAL: u32 = 1024u;
override WG: u32 = 64u;
override JAC: bool = false;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> wt: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read> layers: array<u32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> jac: array<f32>;
@group(0) @binding(6) var<storage, read_write> zs: array<f32>;
@group(0) @binding(7) var<storage, read_write> hs: array<f32>;
@group(0) @binding(8) var<uniform> net: NetParams;

@group(0) @binding(9) var<storage, read> gy: array<f32>;
@group(0) @binding(10) var<storage, read> gj: array<f32>;
@group(0) @binding(11) var<storage, read> wmat: array<f32>;
@group(0) @binding(12) var<storage, read> zsaved: array<f32>;
@group(0) @binding(13) var<storage, read_write> ds: array<f32>;
@group(0) @binding(14) var<storage, read_write> dx: array<f32>;

var<workgroup> act: array<vec4<f32>, ACT_TOTAL>;

// ω z reaches tens of radians; GPU sin/cos are only specified (2⁻¹¹ absolute)
// on [−π, π], so reduce first: u − 2π·round(u / 2π) with 2π split into a
// high part exact in f32 and a low correction (Cody–Waite).
const INV_TWO_PI: f32 = 0.15915494309189535;
const TWO_PI_HI: f32 = 6.28125;
const TWO_PI_LO: f32 = 0.001935307179586232;

fn reduce_angle(u: f32) -> f32 {
  let k = round(u * INV_TWO_PI);
  return fma(-k, TWO_PI_LO, fma(-k, TWO_PI_HI, u));
}

fn reduce_angle4(u: vec4<f32>) -> vec4<f32> {
  let k = round(u * INV_TWO_PI);
  return fma(-k, vec4<f32>(TWO_PI_LO), fma(-k, vec4<f32>(TWO_PI_HI), u));
}

fn tile_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.x + wid.y * nwg.x;
}

// Local point of slot pv, component c (plain: 4 points per slot).
fn slot_point(p0: u32, pv: u32, c: u32) -> u32 {
  if (JAC) { return p0 + pv; }
  return p0 + pv * 4u + c;
}

// Index of (local point, column, component) in a saved buffer of row stride `stride`.
fn saved_index(p: u32, stride: u32, col: u32, c: u32) -> u32 {
  if (JAC) { return (p * stride + col) * 4u + c; }
  return p * stride + col;
}

// Neurons per thread in the fused matrix-vector loops (register blocking:
// each activation vec4 read from workgroup memory feeds NB FMAs).
const NB: u32 = 4u;

fn bias_init(b_off: u32, j: u32, n_out: u32) -> vec4<f32> {
  var b = 0.0;
  if (j < n_out) { b = bias[b_off + j]; }
  return select(vec4<f32>(b), vec4<f32>(b, 0.0, 0.0, 0.0), JAC);
}

fn weight_t(row: u32, j: u32, n_out: u32) -> f32 {
  if (j < n_out) { return wt[row + j]; }
  return 0.0;
}

fn weight_m(row: u32, k: u32, n_in: u32) -> f32 {
  if (k < n_in) { return wmat[row + k]; }
  return 0.0;
}

// Activation of neuron j, slot pv, and its stores: next layer's input in
// workgroup memory, saved z/h when net.save, and the outputs after the last layer.
fn forward_emit(j: u32, pv: u32, z: vec4<f32>, p0: u32, dst: u32, z_col: u32, next_h_col: u32, omega: f32, sine: bool, last: bool) {
  var h = z;
  if (sine) {
    if (JAC) {
      let u = omega * z.x;
      let r = reduce_angle(u);
      h = vec4<f32>(sin(r), (omega * cos(r)) * z.yzw);
    } else {
      h = sin(reduce_angle4(omega * z));
    }
  }
  if (!last) { act[dst + j * PV + pv] = h; }
  let save = net.save != 0u;
  for (var c = 0u; c < 4u; c++) {
    let p = slot_point(p0, pv, c);
    if (p >= net.count) { continue; }
    if (save) {
      zs[saved_index(p, net.z_stride, z_col + j, c)] = z[c];
      if (!last) { hs[saved_index(p, net.h_stride, next_h_col + j, c)] = h[c]; }
    }
    if (last) {
      let gp = net.point0 + p;
      if (JAC) {
        if (c == 0u) { y[gp * net.out_dim + j] = h[0]; }
        else if (c - 1u < net.in_dim) { jac[(gp * net.out_dim + j) * net.in_dim + c - 1u] = h[c]; }
      } else {
        y[gp * net.out_dim + j] = h[c];
      }
    }
  }
}

// Adjoint of input neuron k, slot pv: kept in workgroup memory for the next
// (earlier) layer, or written to dx after layer 0.
fn backward_emit(k: u32, pv: u32, acc: vec4<f32>, l: u32, adj: u32, p0: u32) {
  if (l > 0u) {
    act[adj + k * PV + pv] = acc;
    return;
  }
  // J_0 = I does not depend on x, so dL/dx is the value component.
  for (var c = 0u; c < 4u; c++) {
    let p = slot_point(p0, pv, c);
    if (p < net.count && (!JAC || c == 0u)) { dx[(net.point0 + p) * net.in_dim + k] = acc[c]; }
  }
}

@compute @workgroup_size(WG)
fn siren_forward(
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let p0 = tile_index(wid, nwg) * TILE_P;
  let save = net.save != 0u;
  // Stage the inputs (and, for JAC, the identity Jacobian) in half 0.
  for (var e = lid.x; e < net.in_dim * PV * 4u; e += WG) {
    let k = e / (PV * 4u);
    let pv = (e / 4u) % PV;
    let c = e % 4u;
    let p = slot_point(p0, pv, c);
    var v = 0.0;
    if (p < net.count) {
      if (JAC && c > 0u) {
        v = select(0.0, 1.0, c - 1u == k);
      } else {
        v = x[(net.point0 + p) * net.in_dim + k];
      }
      if (save) { hs[saved_index(p, net.h_stride, k, c)] = v; }
    }
    act[k * PV + pv][c] = v;
  }
  workgroupBarrier();

  var src = 0u;
  var dst = ACT_HALF;
  for (var l = 0u; l < net.num_layers; l++) {
    let base = l * LAYER_FIELDS;
    let n_in = layers[base];
    let n_out = layers[base + 1u];
    let w_off = layers[base + 2u];
    let b_off = layers[base + 3u];
    let z_col = layers[base + 4u];
    let omega = bitcast<f32>(layers[base + 6u]);
    let sine = layers[base + 7u] != 0u;
    let last = l + 1u == net.num_layers;
    var next_h_col = 0u;
    if (!last) { next_h_col = layers[base + LAYER_FIELDS + 5u]; }
    for (var j0 = 0u; j0 < n_out; j0 += WG * NB) {
      let j = j0 + lid.x;
      let init0 = bias_init(b_off, j + 0u * WG, n_out);
      let init1 = bias_init(b_off, j + 1u * WG, n_out);
      let init2 = bias_init(b_off, j + 2u * WG, n_out);
      let init3 = bias_init(b_off, j + 3u * WG, n_out);
      var acc00 = init0; var acc01 = init0; var acc02 = init0; var acc03 = init0;
      var acc10 = init1; var acc11 = init1; var acc12 = init1; var acc13 = init1;
      var acc20 = init2; var acc21 = init2; var acc22 = init2; var acc23 = init2;
      var acc30 = init3; var acc31 = init3; var acc32 = init3; var acc33 = init3;
      for (var k = 0u; k < n_in; k++) {
        let a = src + k * PV;
        let h0 = act[a];
        var h1 = vec4<f32>(0.0); var h2 = vec4<f32>(0.0); var h3 = vec4<f32>(0.0);
        if (PV > 1u) { h1 = act[a + 1u]; }
        if (PV > 2u) { h2 = act[a + 2u]; h3 = act[a + 3u]; }
        let row = w_off + k * n_out;
        let w0 = vec4<f32>(weight_t(row, j + 0u * WG, n_out));
        let w1 = vec4<f32>(weight_t(row, j + 1u * WG, n_out));
        let w2 = vec4<f32>(weight_t(row, j + 2u * WG, n_out));
        let w3 = vec4<f32>(weight_t(row, j + 3u * WG, n_out));
        acc00 = fma(w0, h0, acc00);
        if (PV > 1u) { acc01 = fma(w0, h1, acc01); }
        if (PV > 2u) { acc02 = fma(w0, h2, acc02); acc03 = fma(w0, h3, acc03); }
        acc10 = fma(w1, h0, acc10);
        if (PV > 1u) { acc11 = fma(w1, h1, acc11); }
        if (PV > 2u) { acc12 = fma(w1, h2, acc12); acc13 = fma(w1, h3, acc13); }
        acc20 = fma(w2, h0, acc20);
        if (PV > 1u) { acc21 = fma(w2, h1, acc21); }
        if (PV > 2u) { acc22 = fma(w2, h2, acc22); acc23 = fma(w2, h3, acc23); }
        acc30 = fma(w3, h0, acc30);
        if (PV > 1u) { acc31 = fma(w3, h1, acc31); }
        if (PV > 2u) { acc32 = fma(w3, h2, acc32); acc33 = fma(w3, h3, acc33); }
      }
      if (j + 0u * WG < n_out) { forward_emit(j + 0u * WG, 0u, acc00, p0, dst, z_col, next_h_col, omega, sine, last); }
      if (j + 0u * WG < n_out && PV > 1u) { forward_emit(j + 0u * WG, 1u, acc01, p0, dst, z_col, next_h_col, omega, sine, last); }
      if (j + 0u * WG < n_out && PV > 2u) { forward_emit(j + 0u * WG, 2u, acc02, p0, dst, z_col, next_h_col, omega, sine, last); }
      if (j + 0u * WG < n_out && PV > 2u) { forward_emit(j + 0u * WG, 3u, acc03, p0, dst, z_col, next_h_col, omega, sine, last); }
      if (j + 1u * WG < n_out) { forward_emit(j + 1u * WG, 0u, acc10, p0, dst, z_col, next_h_col, omega, sine, last); }
      if (j + 1u * WG < n_out && PV > 1u) { forward_emit(j + 1u * WG, 1u, acc11, p0, dst, z_col, next_h_col, omega, sine, last); }
      if (j + 1u * WG < n_out && PV > 2u) { forward_emit(j + 1u * WG, 2u, acc12, p0, dst, z_col, next_h_col, omega, sine, last); }
      if (j + 1u * WG < n_out && PV > 2u) { forward_emit(j + 1u * WG, 3u, acc13, p0, dst, z_col, next_h_col, omega, sine, last); }
      if (j + 2u * WG < n_out) { forward_emit(j + 2u * WG, 0u, acc20, p0, dst, z_col, next_h_col, omega, sine, last); }
      if (j + 2u * WG < n_out && PV > 1u) { forward_emit(j + 2u * WG, 1u, acc21, p0, dst, z_col, next_h_col, omega, sine, last); }
      if (j + 2u * WG < n_out && PV > 2u) { forward_emit(j + 2u * WG, 2u, acc22, p0, dst, z_col, next_h_col, omega, sine, last); }
      if (j + 2u * WG < n_out && PV > 2u) { forward_emit(j + 2u * WG, 3u, acc23, p0, dst, z_col, next_h_col, omega, sine, last); }
      if (j + 3u * WG < n_out) { forward_emit(j + 3u * WG, 0u, acc30, p0, dst, z_col, next_h_col, omega, sine, last); }
      if (j + 3u * WG < n_out && PV > 1u) { forward_emit(j + 3u * WG, 1u, acc31, p0, dst, z_col, next_h_col, omega, sine, last); }
      if (j + 3u * WG < n_out && PV > 2u) { forward_emit(j + 3u * WG, 2u, acc32, p0, dst, z_col, next_h_col, omega, sine, last); }
      if (j + 3u * WG < n_out && PV > 2u) { forward_emit(j + 3u * WG, 3u, acc33, p0, dst, z_col, next_h_col, omega, sine, last); }
    }
    workgroupBarrier();
    let t = src;
    src = dst;
    dst = t;
  }
}

// Adjoint propagation through every layer for a tile of points. Half 0 of
// `act` holds the adjoint of the current layer's output, half 1 the adjoint
// of its pre-activation (what weight_grad_partial consumes).
@compute @workgroup_size(WG)
fn siren_backward(
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let p0 = tile_index(wid, nwg) * TILE_P;
  let adj = 0u;
  let dsh = ACT_HALF;
  for (var e = lid.x; e < net.out_dim * PV * 4u; e += WG) {
    let j = e / (PV * 4u);
    let pv = (e / 4u) % PV;
    let c = e % 4u;
    let p = slot_point(p0, pv, c);
    var v = 0.0;
    if (p < net.count) {
      let gp = net.point0 + p;
      if (JAC && c > 0u) {
        if (net.has_gj != 0u && c - 1u < net.in_dim) { v = gj[(gp * net.out_dim + j) * net.in_dim + c - 1u]; }
      } else if (net.has_gy != 0u) {
        v = gy[gp * net.out_dim + j];
      }
    }
    act[adj + j * PV + pv][c] = v;
  }
  workgroupBarrier();

  for (var li = net.num_layers; li > 0u; li--) {
    let l = li - 1u;
    let base = l * LAYER_FIELDS;
    let n_in = layers[base];
    let n_out = layers[base + 1u];
    let w_off = layers[base + 2u];
    let z_col = layers[base + 4u];
    let omega = bitcast<f32>(layers[base + 6u]);
    let sine = layers[base + 7u] != 0u;
    // (a) through the activation: dL/dz (plain) or (ẑ, T̂) (JAC).
    for (var j0 = 0u; j0 < n_out; j0 += WG) {
      let j = j0 + lid.x;
      if (j < n_out) {
        for (var pv = 0u; pv < PV; pv++) {
          let a = act[adj + j * PV + pv];
          var z = vec4<f32>(0.0);
          for (var c = 0u; c < 4u; c++) {
            let p = slot_point(p0, pv, c);
            if (p < net.count) { z[c] = zsaved[saved_index(p, net.z_stride, z_col + j, c)]; }
          }
          var d = a;
          if (sine) {
            if (JAC) {
              let u = omega * z.x;
              let r = reduce_angle(u);
              let cs = omega * cos(r);
              let chat = dot(a.yzw, z.yzw);
              d = vec4<f32>(cs * a.x - omega * omega * sin(r) * chat, cs * a.yzw);
            } else {
              d = a * (omega * cos(reduce_angle4(omega * z)));
            }
          }
          act[dsh + j * PV + pv] = d;
          for (var c = 0u; c < 4u; c++) {
            let p = slot_point(p0, pv, c);
            if (p < net.count) { ds[saved_index(p, net.z_stride, z_col + j, c)] = d[c]; }
          }
        }
      }
    }
    workgroupBarrier();
    // (b) adjoint of the layer input: Wᵀ · d.
    for (var k0 = 0u; k0 < n_in; k0 += WG * NB) {
      let k = k0 + lid.x;
      var acc00 = vec4<f32>(0.0); var acc01 = vec4<f32>(0.0); var acc02 = vec4<f32>(0.0); var acc03 = vec4<f32>(0.0);
      var acc10 = vec4<f32>(0.0); var acc11 = vec4<f32>(0.0); var acc12 = vec4<f32>(0.0); var acc13 = vec4<f32>(0.0);
      var acc20 = vec4<f32>(0.0); var acc21 = vec4<f32>(0.0); var acc22 = vec4<f32>(0.0); var acc23 = vec4<f32>(0.0);
      var acc30 = vec4<f32>(0.0); var acc31 = vec4<f32>(0.0); var acc32 = vec4<f32>(0.0); var acc33 = vec4<f32>(0.0);
      for (var i = 0u; i < n_out; i++) {
        let a = dsh + i * PV;
        let d0 = act[a];
        var d1 = vec4<f32>(0.0); var d2 = vec4<f32>(0.0); var d3 = vec4<f32>(0.0);
        if (PV > 1u) { d1 = act[a + 1u]; }
        if (PV > 2u) { d2 = act[a + 2u]; d3 = act[a + 3u]; }
        let row = w_off + i * n_in;
        let w0 = vec4<f32>(weight_m(row, k + 0u * WG, n_in));
        let w1 = vec4<f32>(weight_m(row, k + 1u * WG, n_in));
        let w2 = vec4<f32>(weight_m(row, k + 2u * WG, n_in));
        let w3 = vec4<f32>(weight_m(row, k + 3u * WG, n_in));
        acc00 = fma(w0, d0, acc00);
        if (PV > 1u) { acc01 = fma(w0, d1, acc01); }
        if (PV > 2u) { acc02 = fma(w0, d2, acc02); acc03 = fma(w0, d3, acc03); }
        acc10 = fma(w1, d0, acc10);
        if (PV > 1u) { acc11 = fma(w1, d1, acc11); }
        if (PV > 2u) { acc12 = fma(w1, d2, acc12); acc13 = fma(w1, d3, acc13); }
        acc20 = fma(w2, d0, acc20);
        if (PV > 1u) { acc21 = fma(w2, d1, acc21); }
        if (PV > 2u) { acc22 = fma(w2, d2, acc22); acc23 = fma(w2, d3, acc23); }
        acc30 = fma(w3, d0, acc30);
        if (PV > 1u) { acc31 = fma(w3, d1, acc31); }
        if (PV > 2u) { acc32 = fma(w3, d2, acc32); acc33 = fma(w3, d3, acc33); }
      }
      if (k + 0u * WG < n_in) { backward_emit(k + 0u * WG, 0u, acc00, l, adj, p0); }
      if (k + 0u * WG < n_in && PV > 1u) { backward_emit(k + 0u * WG, 1u, acc01, l, adj, p0); }
      if (k + 0u * WG < n_in && PV > 2u) { backward_emit(k + 0u * WG, 2u, acc02, l, adj, p0); }
      if (k + 0u * WG < n_in && PV > 2u) { backward_emit(k + 0u * WG, 3u, acc03, l, adj, p0); }
      if (k + 1u * WG < n_in) { backward_emit(k + 1u * WG, 0u, acc10, l, adj, p0); }
      if (k + 1u * WG < n_in && PV > 1u) { backward_emit(k + 1u * WG, 1u, acc11, l, adj, p0); }
      if (k + 1u * WG < n_in && PV > 2u) { backward_emit(k + 1u * WG, 2u, acc12, l, adj, p0); }
      if (k + 1u * WG < n_in && PV > 2u) { backward_emit(k + 1u * WG, 3u, acc13, l, adj, p0); }
      if (k + 2u * WG < n_in) { backward_emit(k + 2u * WG, 0u, acc20, l, adj, p0); }
      if (k + 2u * WG < n_in && PV > 1u) { backward_emit(k + 2u * WG, 1u, acc21, l, adj, p0); }
      if (k + 2u * WG < n_in && PV > 2u) { backward_emit(k + 2u * WG, 2u, acc22, l, adj, p0); }
      if (k + 2u * WG < n_in && PV > 2u) { backward_emit(k + 2u * WG, 3u, acc23, l, adj, p0); }
      if (k + 3u * WG < n_in) { backward_emit(k + 3u * WG, 0u, acc30, l, adj, p0); }
      if (k + 3u * WG < n_in && PV > 1u) { backward_emit(k + 3u * WG, 1u, acc31, l, adj, p0); }
      if (k + 3u * WG < n_in && PV > 2u) { backward_emit(k + 3u * WG, 2u, acc32, l, adj, p0); }
      if (k + 3u * WG < n_in && PV > 2u) { backward_emit(k + 3u * WG, 3u, acc33, l, adj, p0); }
    }
    workgroupBarrier();
  }
}

// ---------------------------------------------------------------- weight gradients

struct WgParams {
  rows: u32,          // rows r of A and B in this chunk (points × group)
  slice_rows: u32,    // rows per slice (multiple of SLAB)
  n_out: u32,
  n_in: u32,
  a_stride: u32,
  a_col: u32,
  b_stride: u32,
  b_col: u32,
}

const BT: u32 = 64u;     // output block side (out × in)
const SLAB: u32 = 16u;   // rows staged per step
override GROUP: u32 = 1u; // rows per point: 1 (plain) or 4 (JAC); a pipeline constant so r / GROUP is a shift

@group(0) @binding(20) var<storage, read> a_src: array<f32>;
@group(0) @binding(21) var<storage, read> b_src: array<f32>;
@group(0) @binding(22) var<storage, read_write> partial: array<f32>;
@group(0) @binding(23) var<uniform> wg: WgParams;

// [SLAB][BT / 4] vec4: tile_a[rr * 16 + q] holds rows i0 + 4q … 4q + 3 of slab row rr.
var<workgroup> tile_a: array<vec4<f32>, 256>;
var<workgroup> tile_b: array<vec4<f32>, 256>;

fn grouped_index(r: u32, stride: u32, col: u32) -> u32 {
  return ((r / GROUP) * stride + col) * GROUP + r % GROUP;
}

// Σ_r A[r, i] · B[r, k] over one row slice for a 64 × 64 block of (i, k).
// Grid: (ceil(n_in / BT), ceil(n_out / BT), slices); 8×8 threads, each an
// 8×8 register block: rows i0 + 4ty + (0…3) and i0 + 32 + 4ty + (0…3),
// columns k0 + 4tx + (0…3) and k0 + 32 + 4tx + (0…3). Each vec4 read from
// workgroup memory feeds 16 FMAs (the split halves keep neighbouring threads
// on neighbouring 16-byte words). The bias column (k = n_in) is
// bias_grad_partial's, so no block is spent on a single column.
@compute @workgroup_size(8, 8)
fn weight_grad_partial(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let i0 = wid.y * BT;
  let k0 = wid.x * BT;
  let r_begin = wid.z * wg.slice_rows;
  let r_end = min(wg.rows, r_begin + wg.slice_rows);
  let tid = lid.y * 8u + lid.x;
  var a0l = vec4<f32>(0.0); var a0h = vec4<f32>(0.0); var a1l = vec4<f32>(0.0); var a1h = vec4<f32>(0.0);
  var a2l = vec4<f32>(0.0); var a2h = vec4<f32>(0.0); var a3l = vec4<f32>(0.0); var a3h = vec4<f32>(0.0);
  var a4l = vec4<f32>(0.0); var a4h = vec4<f32>(0.0); var a5l = vec4<f32>(0.0); var a5h = vec4<f32>(0.0);
  var a6l = vec4<f32>(0.0); var a6h = vec4<f32>(0.0); var a7l = vec4<f32>(0.0); var a7h = vec4<f32>(0.0);
  let i_in = i0 + tid < wg.n_out;
  let k_in = k0 + tid < wg.n_in;
  for (var r0 = r_begin; r0 < r_end; r0 += SLAB) {
    // Thread tid stages column tid of every slab row: consecutive threads read consecutive addresses.
    for (var rr = 0u; rr < SLAB; rr++) {
      let r = r0 + rr;
      var va = 0.0;
      var vb = 0.0;
      if (r < r_end) {
        if (i_in) { va = a_src[grouped_index(r, wg.a_stride, wg.a_col + i0 + tid)]; }
        if (k_in) { vb = b_src[grouped_index(r, wg.b_stride, wg.b_col + k0 + tid)]; }
      }
      tile_a[rr * 16u + tid / 4u][tid % 4u] = va;
      tile_b[rr * 16u + tid / 4u][tid % 4u] = vb;
    }
    workgroupBarrier();
    for (var rr = 0u; rr < SLAB; rr++) {
      let al = tile_a[rr * 16u + lid.y];
      let ah = tile_a[rr * 16u + 8u + lid.y];
      let bl = tile_b[rr * 16u + lid.x];
      let bh = tile_b[rr * 16u + 8u + lid.x];
      a0l = fma(vec4<f32>(al.x), bl, a0l); a0h = fma(vec4<f32>(al.x), bh, a0h);
      a1l = fma(vec4<f32>(al.y), bl, a1l); a1h = fma(vec4<f32>(al.y), bh, a1h);
      a2l = fma(vec4<f32>(al.z), bl, a2l); a2h = fma(vec4<f32>(al.z), bh, a2h);
      a3l = fma(vec4<f32>(al.w), bl, a3l); a3h = fma(vec4<f32>(al.w), bh, a3h);
      a4l = fma(vec4<f32>(ah.x), bl, a4l); a4h = fma(vec4<f32>(ah.x), bh, a4h);
      a5l = fma(vec4<f32>(ah.y), bl, a5l); a5h = fma(vec4<f32>(ah.y), bh, a5h);
      a6l = fma(vec4<f32>(ah.z), bl, a6l); a6h = fma(vec4<f32>(ah.z), bh, a6h);
      a7l = fma(vec4<f32>(ah.w), bl, a7l); a7h = fma(vec4<f32>(ah.w), bh, a7h);
    }
    workgroupBarrier();
  }
  let cols = wg.n_in + 1u;
  let base = wid.z * wg.n_out * cols;
  let il = i0 + lid.y * 4u;
  let ih = il + 32u;
  let kl = k0 + lid.x * 4u;
  let kh = kl + 32u;
  store_partial(base, il, kl, cols, a0l); store_partial(base, il, kh, cols, a0h);
  store_partial(base, il + 1u, kl, cols, a1l); store_partial(base, il + 1u, kh, cols, a1h);
  store_partial(base, il + 2u, kl, cols, a2l); store_partial(base, il + 2u, kh, cols, a2h);
  store_partial(base, il + 3u, kl, cols, a3l); store_partial(base, il + 3u, kh, cols, a3h);
  store_partial(base, ih, kl, cols, a4l); store_partial(base, ih, kh, cols, a4h);
  store_partial(base, ih + 1u, kl, cols, a5l); store_partial(base, ih + 1u, kh, cols, a5h);
  store_partial(base, ih + 2u, kl, cols, a6l); store_partial(base, ih + 2u, kh, cols, a6h);
  store_partial(base, ih + 3u, kl, cols, a7l); store_partial(base, ih + 3u, kh, cols, a7h);
}

// Columns k ≥ n_in belong to bias_grad_partial.
fn store_partial(base: u32, i: u32, k: u32, cols: u32, v: vec4<f32>) {
  if (i >= wg.n_out) { return; }
  for (var c = 0u; c < 4u; c++) {
    if (k + c < wg.n_in) { partial[base + i * cols + k + c] = v[c]; }
  }
}

const BIAS_WG: u32 = 64u;

// Bias column of the partials: Σ_r A[r, i] over the value rows (r % GROUP == 0)
// of one slice, in row order. Grid: (ceil(n_out / BIAS_WG), 1, slices).
@compute @workgroup_size(BIAS_WG)
fn bias_grad_partial(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let i = wid.x * BIAS_WG + lid.x;
  if (i >= wg.n_out) { return; }
  let r_begin = wid.z * wg.slice_rows;
  let r_end = min(wg.rows, r_begin + wg.slice_rows);
  var s = 0.0;
  for (var r = r_begin; r < r_end; r += GROUP) { s += a_src[grouped_index(r, wg.a_stride, wg.a_col + i)]; }
  let cols = wg.n_in + 1u;
  partial[wid.z * wg.n_out * cols + i * cols + wg.n_in] = s;
}

struct ReduceParams {
  n: u32,           // n_out · (n_in + 1)
  n_in: u32,
  slices: u32,
  accumulate: u32,  // add to gw/gb (later chunks) instead of overwriting
}

@group(0) @binding(30) var<storage, read> parts: array<f32>;
@group(0) @binding(31) var<storage, read_write> gw: array<f32>;
@group(0) @binding(32) var<storage, read_write> gb: array<f32>;
@group(0) @binding(33) var<uniform> rp: ReduceParams;

const RWG: u32 = 256u;

// Grid: ceil(n / RWG) workgroups folded into y; slices are added in index order.
@compute @workgroup_size(RWG)
fn weight_grad_reduce(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * RWG;
  if (e >= rp.n) { return; }
  var s = 0.0;
  for (var t = 0u; t < rp.slices; t++) { s += parts[t * rp.n + e]; }
  let cols = rp.n_in + 1u;
  let i = e / cols;
  let k = e % cols;
  if (k < rp.n_in) {
    let o = i * rp.n_in + k;
    gw[o] = select(0.0, gw[o], rp.accumulate != 0u) + s;
  } else {
    gb[i] = select(0.0, gb[i], rp.accumulate != 0u) + s;
  }
}

// ---------------------------------------------------------------- packing and per-layer path

struct PackParams {
  rows: u32,
  cols: u32,
  offset: u32,
}

@group(0) @binding(40) var<storage, read> pack_src: array<f32>;
@group(0) @binding(41) var<storage, read_write> pack_dst: array<f32>;
@group(0) @binding(42) var<uniform> pk: PackParams;

// W [rows, cols] → dst[offset + c * rows + r]. Grid: rows·cols threads of RWG, folded into y.
@compute @workgroup_size(RWG)
fn pack_transpose(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * RWG;
  if (e >= pk.rows * pk.cols) { return; }
  let r = e / pk.cols;
  let c = e % pk.cols;
  pack_dst[pk.offset + c * pk.rows + r] = pack_src[e];
}

struct ActParams {
  n: u32,        // elements B · out
  n_out: u32,
  omega: f32,
  sine: u32,
}

@group(0) @binding(50) var<storage, read_write> pre: array<f32>;   // [B, out]: W h on entry, W h + b on exit
@group(0) @binding(51) var<storage, read> layer_bias: array<f32>;  // [out]
@group(0) @binding(52) var<storage, read_write> act_out: array<f32>; // [B, out]
@group(0) @binding(53) var<uniform> ap: ActParams;

// Per-layer path: adds the bias and applies the activation. Grid: n threads.
@compute @workgroup_size(RWG)
fn bias_activation(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * RWG;
  if (e >= ap.n) { return; }
  let z = pre[e] + layer_bias[e % ap.n_out];
  pre[e] = z;
  act_out[e] = select(z, sin(reduce_angle(ap.omega * z)), ap.sine != 0u);
}

@group(0) @binding(60) var<storage, read> act_grad: array<f32>;    // dL/dh_{l+1} [B, out]
@group(0) @binding(61) var<storage, read> act_pre: array<f32>;     // z [B, out]
@group(0) @binding(62) var<storage, read_write> act_delta: array<f32>; // dL/dz [B, out]
@group(0) @binding(63) var<uniform> abp: ActParams;

@compute @workgroup_size(RWG)
fn activation_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * RWG;
  if (e >= abp.n) { return; }
  let g = act_grad[e];
  act_delta[e] = select(g, g * abp.omega * cos(reduce_angle(abp.omega * act_pre[e])), abp.sine != 0u);
}
