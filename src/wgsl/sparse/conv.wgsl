// Sparse convolution: output-stationary gather forward / input gradient, and
// a deterministic two-pass weight and bias gradient.
//
//   out[o, :] = bias + Σ_k src[table[o, k], :] @ W[k]           (conv_gather)
//
// Forward: src = feats [numIn, Cin], table = outputStationary [numOut, V].
// Input gradient: src = gradOut [numOut, Cout], table = inputStationary
// [numIn, V] and W[k]ᵀ (TRANS_W), so dX is the same gather with the roles of
// the two tables swapped: no scatter, no atomics, one writer per output.
//
// Buffers (all row-major):
//   src      f32 [numSrc, cin]       gathered rows (feats, or gradOut for dX)
//   table    i32 [rows, V]           source row per (output row, offset), -1 = none
//   weight   f32 [V, Cin, Cout]      ghostgrad weight layout; for TRANS_W the
//                                    gathered channels are Cout and the outputs Cin
//   bias     f32 [cout]              read only when params.hasBias = 1
//   out      f32 [rows, cout]        fully overwritten
//   offsets  i32 [V, 3]              tap displacements (DENSE only; otherwise unused)
//   feats    f32 [numIn, Cin], grad f32 [numOut, Cout]   conv_dw_partial / bias_partial
//   partial  f32 [numChunks, M]      per-chunk partial sums (M = V·Cin·Cout or Cout)
//   dst      f32 [M]                 Σ over chunks, in chunk order (sum_chunks)
//
// conv_gather tiling, for real GPUs: a workgroup of 256 threads, TX along
// output channels × 256/TX along rows, computes a BM × BN block of `out`
// (BM = 4·256/TX rows, BN = 4·TX channels; TX = 4, 8, 16 gives 256×16,
// 128×32, 64×64, chosen by the host from cout so that narrow layers do not
// idle threads). Each thread holds a 4×4 micro-tile (4 consecutive rows × 4
// consecutive channels) in four vec4 registers. Per offset k, the tile's
// neighbour rows are read once into workgroup memory; gathered input
// channels advance in slabs of 8, staged in workgroup memory together with
// the matching slab of W[k], both as vec4 (4 rows, resp. 4 output channels,
// per entry), so per staged channel a thread makes two 16-byte workgroup
// reads for 16 FMAs. Neighbouring threads load neighbouring addresses from
// global memory (8 consecutive channels of one gathered row; consecutive
// output channels of W[k]).
// Offsets that no row of the tile uses are skipped: the tile's slice of the
// table (contiguous, coalesced) is scanned once into a bit mask (on the
// benchmark's tracks a 64-row tile still uses ~18 of 27 offsets, a 256-row
// tile ~24: rows without a neighbour at a used offset are gathered as zeros,
// which is the kernel's main waste; see docs/sparse.md).
// Summation order (k ascending, channel ascending) depends only on shapes:
// results are bitwise reproducible.
// Grid: (ceil(cout / BN), row tiles folded into y and z).
//
// DENSE (bench baseline): the same kernel over a dense grid [ex, ey, ez] of
// voxels, neighbours computed from `offsets` instead of read from `table`.
//
// conv_dw_partial: dW[k] = Σ_o src_feats[table[o, k]]ᵀ ⊗ grad[o]. Rows are
// cut into numChunks chunks of chunkRows; a workgroup of (TC/4)² threads
// sums one chunk of one offset into a TC × TC tile of the [Cin, Cout]
// matrix (4×4 per thread, vec4 staging as above), rows in slabs of 8,
// skipping slabs with no pair.
// Grid: (ceil(Cout / TC), ceil(Cin / TC), V · numChunks).
// sum_chunks then adds the chunk partials in chunk order (one invocation per
// element; grid folded into y). bias_partial sums gradOut rows per chunk
// (grid (ceil(Cout / 256), numChunks)); its sum_chunks gives db.

struct Params {
  rows: u32,       // rows of `out` (conv_gather) or of `grad` / table (dW, db)
  cin: u32,        // channels of the gathered source (Cin for dW)
  cout: u32,       // channels of the output (Cout for dW)
  V: u32,          // kernel volume
  hasBias: u32,
  chunkRows: u32,
  numChunks: u32,
  total: u32,      // elements per chunk (sum_chunks)
  ex: u32,         // dense grid extent (DENSE)
  ey: u32,
  ez: u32,
}

override TX: u32 = 16u;
override TY: u32 = 16u;         // = THREADS / TX (set by the host; attribute expressions are avoided)
override TRANS_W: bool = false;
override DENSE: bool = false;
override TC: u32 = 64u;
override TT: u32 = 16u;         // = TC / 4, threads per side of the dW workgroup

const MAX_BN: u32 = 64u;        // RN · max TX
const MASK_WORDS: u32 = 16u;    // offset bit mask: V ≤ 512

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> table: array<i32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read> offsets: array<i32>;
@group(0) @binding(7) var<storage, read> feats: array<f32>;
@group(0) @binding(8) var<storage, read> grad: array<f32>;
@group(0) @binding(9) var<storage, read_write> partial: array<f32>;
@group(0) @binding(10) var<storage, read_write> dst: array<f32>;

// THREADS, RM, RN, SLAB (also the dW row slab), MAX_BM, tileA, tileB, gatherRow,
// weight_at and gather_tile_mac:
// #include "common/sparse-gather-tile"
// dwA, dwB, dw_stage, dw_slab_mac, dw_store_tile:
// #include "common/sparse-dw-tile"
var<workgroup> occ: array<atomic<u32>, MASK_WORDS>;
var<workgroup> occPlain: array<u32, MASK_WORDS>;

// Source row feeding output row `row` through offset k, or -1.
fn neighbour(row: u32, k: u32) -> i32 {
  if (DENSE) {
    let z = row % params.ez;
    let y = (row / params.ez) % params.ey;
    let x = row / (params.ez * params.ey);
    let q = vec3<i32>(i32(x), i32(y), i32(z)) + vec3<i32>(offsets[3u * k], offsets[3u * k + 1u], offsets[3u * k + 2u]);
    let e = vec3<i32>(i32(params.ex), i32(params.ey), i32(params.ez));
    if (any(q < vec3<i32>(0)) || any(q >= e)) { return -1; }
    return (q.x * e.y + q.y) * e.z + q.z;
  }
  return table[row * params.V + k];
}


@compute @workgroup_size(TX, TY)
fn conv_gather(
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let BM = TY * RM;
  let BN = TX * RN;
  let tid = lid.y * TX + lid.x;
  let row0 = (wid.y + wid.z * nwg.y) * BM;
  let col0 = wid.x * BN;
  let V = params.V;

  // Which offsets does any row of this tile use?
  if (tid < MASK_WORDS) { atomicStore(&occ[tid], 0u); }
  workgroupBarrier();
  if (DENSE) {
    if (tid < MASK_WORDS) {
      let lo = tid * 32u;
      var bits = 0u;
      if (V >= lo + 32u) { bits = 0xffffffffu; } else if (V > lo) { bits = (1u << (V - lo)) - 1u; }
      atomicStore(&occ[tid], bits);
    }
  } else {
    let last = min(row0 + BM, params.rows);
    if (row0 < last) {
      for (var e = row0 * V + tid; e < last * V; e += THREADS) {
        if (table[e] >= 0) {
          let k = e % V;
          atomicOr(&occ[k / 32u], 1u << (k % 32u));
        }
      }
    }
  }
  workgroupBarrier();
  if (tid < MASK_WORDS) { occPlain[tid] = atomicLoad(&occ[tid]); }

  var acc = array<vec4<f32>, 4>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
  for (var k = 0u; k < V; k++) {
    let word = workgroupUniformLoad(&occPlain[k / 32u]);
    if (((word >> (k % 32u)) & 1u) == 0u) { continue; }
    if (tid < BM) {
      var s = -1;
      let row = row0 + tid;
      if (row < params.rows) { s = neighbour(row, k); }
      gatherRow[tid] = s;
    }
    workgroupBarrier();
    gather_tile_mac(k, col0, lid, &acc);
  }

  // Constant indices only: a dynamically indexed accumulator array would be
  // demoted from registers to private memory by most compilers.
  let r0 = row0 + lid.y * RM;
  let c0 = col0 + lid.x * RN;
  store_out(r0, c0, acc[0]);
  store_out(r0 + 1u, c0, acc[1]);
  store_out(r0 + 2u, c0, acc[2]);
  store_out(r0 + 3u, c0, acc[3]);
}

// Writes four consecutive channels of one output row (plus bias), clipped at the edges.
fn store_out(row: u32, col: u32, v: vec4<f32>) {
  if (row >= params.rows) { return; }
  var b = vec4<f32>(0.0);
  if (params.hasBias == 1u) {
    if (col < params.cout) { b.x = bias[col]; }
    if (col + 1u < params.cout) { b.y = bias[col + 1u]; }
    if (col + 2u < params.cout) { b.z = bias[col + 2u]; }
    if (col + 3u < params.cout) { b.w = bias[col + 3u]; }
  }
  let o = v + b;
  let base = row * params.cout + col;
  if (col < params.cout) { out[base] = o.x; }
  if (col + 1u < params.cout) { out[base + 1u] = o.y; }
  if (col + 2u < params.cout) { out[base + 2u] = o.z; }
  if (col + 3u < params.cout) { out[base + 3u] = o.w; }
}

var<workgroup> slabRows: array<i32, SLAB>;
var<workgroup> slabAny: u32;

@compute @workgroup_size(TT, TT)
fn conv_dw_partial(
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(workgroup_id) wid: vec3<u32>,
) {
  let T = TT;
  let NT = T * T;
  let tid = lid.y * T + lid.x;
  let V = params.V;
  let k = wid.z % V;
  let chunk = wid.z / V;
  let a0 = wid.y * TC;
  let b0 = wid.x * TC;
  let rStart = chunk * params.chunkRows;
  let rEnd = min(rStart + params.chunkRows, params.rows);
  var acc = array<vec4<f32>, 4>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
  for (var r0 = rStart; r0 < rEnd; r0 += SLAB) {
    if (tid < SLAB) {
      var s = -1;
      if (r0 + tid < rEnd) { s = table[(r0 + tid) * V + k]; }
      slabRows[tid] = s;
    }
    workgroupBarrier();
    if (tid == 0u) {
      var found = 0u;
      for (var t = 0u; t < SLAB; t++) { if (slabRows[t] >= 0) { found = 1u; } }
      slabAny = found;
    }
    // Sparse offsets leave most slabs empty; skip them as a workgroup.
    if (workgroupUniformLoad(&slabAny) == 0u) { continue; }
    for (var idx = tid; idx < SLAB * TC; idx += NT) {
      let r = idx / TC;
      let a = idx % TC;
      let s = slabRows[r];
      var x = 0.0;
      var g = 0.0;
      if (s >= 0) {
        if (a0 + a < params.cin) { x = feats[u32(s) * params.cin + a0 + a]; }
        if (b0 + a < params.cout) { g = grad[(r0 + r) * params.cout + b0 + a]; }
      }
      dw_stage(r, a, x, g);
    }
    workgroupBarrier();
    dw_slab_mac(lid, &acc);
    workgroupBarrier();
  }
  dw_store_tile((chunk * V + k) * params.cin * params.cout, a0, b0, lid, acc);
}

@compute @workgroup_size(THREADS)
fn bias_partial(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let b = gid.x;
  let chunk = wid.y;
  if (b >= params.cout) { return; }
  let rStart = chunk * params.chunkRows;
  let rEnd = min(rStart + params.chunkRows, params.rows);
  var s = 0.0;
  for (var r = rStart; r < rEnd; r++) { s += grad[r * params.cout + b]; }
  partial[chunk * params.cout + b] = s;
}

@compute @workgroup_size(THREADS)
fn sum_chunks(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * THREADS;
  if (e >= params.total) { return; }
  var s = 0.0;
  for (var c = 0u; c < params.numChunks; c++) { s += partial[c * params.total + e]; }
  dst[e] = s;
}
