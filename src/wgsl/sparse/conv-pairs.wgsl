// Sparse convolution as per-offset gather–GEMM–scatter (the 'pairs'
// algorithm of conv.ts; MinkowskiEngine / spconv style), deterministic and
// without float atomics:
//
//   out[o, :] = bias + Σ_k (in ascending k) Σ_{pairs (i, o) of offset k} src[i, :] @ W[k]
//
// conv_gather (conv.wgsl) multiplies, per row tile, every offset any row of
// the tile uses, gathering zeros for the rows that lack it; on LArTPC tracks
// most of those FLOPs are on zeros. Here every offset k has a compacted list
// of its real (input, output) pairs and only those are multiplied.
//
// Forward: src = feats [numIn, Cin], table = outputStationary [numOut, V].
// Input gradient: src = gradOut [numOut, Cout], table = inputStationary
// [numIn, V] and W[k]ᵀ (TRANS_W), exactly as conv_gather.
//
// Buffers (all row-major):
//   table      i32 [rows, V]     source row per (output row, offset), -1 = none
//   pairsOut   i32 [V, rows]     per offset k, the output rows that have a
//                                source at k, ascending; entries ≥ pairCount[k]
//                                are unused (never written, never read)
//   pairsIn    i32 [V, rows]     the matching source rows: table[pairsOut[k, p], k]
//   pairCount  u32 [V]           number of pairs of offset k
//   listOut, listIn, listCount   the same three buffers, bound read-only to
//                                conv_pairs (written by pair_compact only)
//   src        f32 [numSrc, cin] gathered rows (feats, or gradOut for dX)
//   weight     f32 [V, Cin, Cout] ghostgrad layout; for TRANS_W the gathered
//                                channels are Cout and the outputs Cin
//   bias       f32 [cout]        read only when params.hasBias = 1 (conv_init)
//   out        f32 [rows, cout]  set by conv_init, then accumulated by conv_pairs
//
// pair_compact: one workgroup of 256 threads per offset k (grid (V)). Rows
// advance in blocks of 1024, 4 consecutive rows per thread; a workgroup
// inclusive scan (Hillis–Steele) of the per-thread pair counts gives each
// thread its write position, so pairs are stored in ascending row order: the
// lists depend only on the table (deterministic). The table is read with
// stride V (once per map; the lists are cached with the map).
//
// conv_init: out[r, c] = bias[c] (or 0), one invocation per element, grid
// folded into y.
//
// conv_pairs: one dispatch per offset k = params.k, issued by the host in
// ascending k. Same tiling as conv_gather: 256 threads, TX along output
// channels × TY = 256/TX along pairs, BM = 4·TY pairs × BN = 4·TX channels
// per workgroup, a 4×4 micro-tile per thread in four vec4 registers, gathered
// channels in slabs of 8 staged in workgroup memory as vec4 with the matching
// slab of W[k]. The host does not know pairCount[k] (no readback), so it
// dispatches ceil(rows / BM) row tiles; tiles at or beyond the count exit at
// once (the count is a uniform read-only load, so no barrier first). Each
// tile then adds its result to `out` rows pairsOut[k, p] with a plain
// read-add-write.
//
// Determinism and race freedom: within one offset, an output row has at most
// one source row (one table entry per (row, k)), so pairsOut[k, ·] holds
// distinct rows and no two invocations of a dispatch touch the same element
// of `out`. Dispatches are ordered (each sees the previous one's writes), so
// out[o] = bias + t_0 + t_1 + … in ascending k, where t_k = Σ_c src·W[k] in
// ascending channel order with fma: the summation order depends only on the
// map and the shapes, and results are bitwise reproducible. They differ from
// conv_gather's (Σ_k Σ_c in one accumulator, bias added last) by rounding only.
// Grid: (ceil(cout / BN), row tiles folded into y and z).
//
// Staged variant (STAGED = true), the host's choice whenever a group of
// offsets fits its staging budget: one dispatch computes the products of
// params.groupSize consecutive offsets k = params.k + kl and stores them,
// without adding, in a staging buffer bound as `out`:
//   staged [groupSize, rows, cout]: staged[kl, o, :] = src[i] @ W[k] for the
//   pair (i, o) of offset k; rows without a pair at k are left unwritten.
// Grid: (ceil(cout / BN), row tiles in y, groupSize · params.tilesZ in z).
// conv_reduce then folds the group into `out`, one invocation per element:
//   out[o, c] = (k == 0 ? bias[c] or 0 : out[o, c]) + Σ_{kl ascending, table[o, k] ≥ 0} staged[kl, o, c]
// reading the staging buffer through `src` and the table to skip unwritten
// rows. The additions are the same as the per-offset read-add-write's, in
// the same order (bias, then offsets ascending), so both variants give
// bitwise-identical results; the staged one needs 2 dispatches per group of
// offsets instead of one per offset (plus conv_init), and no read of `out`
// between the offsets of a group.
//
// conv_dw_pairs: the weight gradient over the forward table's pair lists,
//   dW[k] = Σ_{p < pairCount[k]} src[pairsIn[k, p]]ᵀ ⊗ grad[pairsOut[k, p]]
// (src = feats [numIn, Cin], grad = gradOut [rows, Cout]). conv_dw_partial
// (conv.wgsl) walks every row of the table for every offset and multiplies
// whole slabs of 8 rows once any of them has a pair; here only real pairs
// are visited, 8 at a time, so the work is ~pairs instead of ~V · rows.
// The pair index is cut into chunks of params.chunkRows (chosen by the host
// from `rows`, the bound of every count, since it does not read the counts
// back); a workgroup of TT × TT threads sums one chunk of one offset into a
// TC × TC tile of the [Cin, Cout] matrix (4×4 per thread, vec4 staging) and
// writes it to `partial` [numChunks, V, Cin, Cout]; chunks past the count
// write zeros. sum_chunks (conv.wgsl) then adds the chunks in order. Pairs
// are summed in list order (ascending output row) within a chunk: the
// result depends only on the map and the shapes.
// Grid: (ceil(Cout / TC), ceil(Cin / TC), V · numChunks).

struct Params {
  rows: u32,       // rows of the table and of `out`
  cin: u32,        // channels of the gathered source
  cout: u32,       // channels of the output
  V: u32,          // kernel volume
  k: u32,          // offset of this conv_pairs dispatch
  hasBias: u32,    // conv_init
  total: u32,      // rows · cout (conv_init)
  chunkRows: u32,  // pairs per chunk (conv_dw_pairs)
  groupSize: u32,  // offsets per staged dispatch (STAGED conv_pairs, conv_reduce)
  tilesZ: u32,     // row-tile workgroups along z per offset (STAGED conv_pairs)
}

override TX: u32 = 16u;
override TY: u32 = 16u;         // = THREADS / TX (set by the host)
override TRANS_W: bool = false;
override STAGED: bool = false;  // conv_pairs: store into the staging buffer (see header)
override TC: u32 = 64u;         // dW tile side (conv_dw_pairs)
override TT: u32 = 16u;         // = TC / 4, threads per side of the dW workgroup

// THREADS, RM, RN, SLAB, MAX_BM, tileA, tileB, gatherRow (here: the source row
// of each pair of the tile), weight_at and gather_tile_mac:
// #include "common/sparse-gather-tile"
// dwA, dwB, dw_stage, dw_slab_mac, dw_store_tile:
// #include "common/sparse-dw-tile"
const COMPACT_ROWS: u32 = 4u;   // rows per thread in pair_compact

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> table: array<i32>;
@group(0) @binding(2) var<storage, read_write> pairsOut: array<i32>;
@group(0) @binding(3) var<storage, read_write> pairsIn: array<i32>;
@group(0) @binding(4) var<storage, read_write> pairCount: array<u32>;
@group(0) @binding(5) var<storage, read> src: array<f32>;
@group(0) @binding(6) var<storage, read> weight: array<f32>;
@group(0) @binding(7) var<storage, read> bias: array<f32>;
@group(0) @binding(8) var<storage, read_write> out: array<f32>;
// conv_pairs reads the lists through read-only bindings: loads of a read-only
// buffer are uniform, so tiles past the count can return without a barrier.
@group(0) @binding(9) var<storage, read> listOut: array<i32>;
@group(0) @binding(10) var<storage, read> listIn: array<i32>;
@group(0) @binding(11) var<storage, read> listCount: array<u32>;
@group(0) @binding(12) var<storage, read> grad: array<f32>;
@group(0) @binding(13) var<storage, read_write> partial: array<f32>;

var<workgroup> scan: array<u32, THREADS>;
var<workgroup> blockTotal: u32;

@compute @workgroup_size(THREADS)
fn pair_compact(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let k = wid.x;
  let V = params.V;
  let rows = params.rows;
  let list = k * rows;
  var base = 0u;
  for (var r0 = 0u; r0 < rows; r0 += COMPACT_ROWS * THREADS) {
    let rb = r0 + COMPACT_ROWS * tid;
    var s = array<i32, 4>(-1, -1, -1, -1);
    var c = 0u;
    for (var j = 0u; j < COMPACT_ROWS; j++) {
      if (rb + j < rows) {
        s[j] = table[(rb + j) * V + k];
        if (s[j] >= 0) { c++; }
      }
    }
    scan[tid] = c;
    workgroupBarrier();
    for (var d = 1u; d < THREADS; d <<= 1u) {
      var add = 0u;
      if (tid >= d) { add = scan[tid - d]; }
      workgroupBarrier();
      scan[tid] += add;
      workgroupBarrier();
    }
    var p = base + scan[tid] - c;
    for (var j = 0u; j < COMPACT_ROWS; j++) {
      if (s[j] >= 0) {
        pairsOut[list + p] = i32(rb + j);
        pairsIn[list + p] = s[j];
        p++;
      }
    }
    if (tid == THREADS - 1u) { blockTotal = scan[tid]; }
    // Also the barrier that keeps `scan` intact until every thread has read it.
    base += workgroupUniformLoad(&blockTotal);
  }
  if (tid == 0u) { pairCount[k] = base; }
}

@compute @workgroup_size(THREADS)
fn conv_init(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * THREADS;
  if (e >= params.total) { return; }
  var v = 0.0;
  if (params.hasBias == 1u) { v = bias[e % params.cout]; }
  out[e] = v;
}

var<workgroup> dstRow: array<i32, MAX_BM>;

@compute @workgroup_size(TX, TY)
fn conv_pairs(
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let BM = TY * RM;
  let BN = TX * RN;
  let tid = lid.y * TX + lid.x;
  var tileZ = wid.z;
  var k = params.k;
  var stageRow = 0u;  // first row of this offset's slice of the staging buffer
  if (STAGED) {
    let kl = wid.z / params.tilesZ;
    tileZ = wid.z % params.tilesZ;
    k += kl;
    stageRow = kl * params.rows;
  }
  let row0 = (wid.y + tileZ * nwg.y) * BM;
  let col0 = wid.x * BN;
  let n = listCount[k];
  if (row0 >= n) { return; }
  if (tid < BM) {
    var s = -1;
    var o = -1;
    let p = row0 + tid;
    if (p < n) {
      s = listIn[k * params.rows + p];
      o = listOut[k * params.rows + p];
    }
    gatherRow[tid] = s;
    dstRow[tid] = o;
  }
  workgroupBarrier();

  var acc = array<vec4<f32>, 4>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
  gather_tile_mac(k, col0, lid, &acc);

  // Constant accumulator indices only (see conv_gather).
  let p0 = lid.y * RM;
  let c0 = col0 + lid.x * RN;
  add_out(dstRow[p0], stageRow, c0, acc[0]);
  add_out(dstRow[p0 + 1u], stageRow, c0, acc[1]);
  add_out(dstRow[p0 + 2u], stageRow, c0, acc[2]);
  add_out(dstRow[p0 + 3u], stageRow, c0, acc[3]);
}

// out[row, col .. col + 3] += v (STAGED: out[stageRow + row, …] = v), clipped at
// the channel edge; row < 0 (past the pair count) writes nothing.
fn add_out(row: i32, stageRow: u32, col: u32, v: vec4<f32>) {
  if (row < 0) { return; }
  let base = (stageRow + u32(row)) * params.cout + col;
  if (STAGED) {
    if (col < params.cout) { out[base] = v.x; }
    if (col + 1u < params.cout) { out[base + 1u] = v.y; }
    if (col + 2u < params.cout) { out[base + 2u] = v.z; }
    if (col + 3u < params.cout) { out[base + 3u] = v.w; }
    return;
  }
  if (col < params.cout) { out[base] = out[base] + v.x; }
  if (col + 1u < params.cout) { out[base + 1u] = out[base + 1u] + v.y; }
  if (col + 2u < params.cout) { out[base + 2u] = out[base + 2u] + v.z; }
  if (col + 3u < params.cout) { out[base + 3u] = out[base + 3u] + v.w; }
}

// Folds one staged group of offsets into out (see header); src = the staging
// buffer. Grid folded into y.
@compute @workgroup_size(THREADS)
fn conv_reduce(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * THREADS;
  if (e >= params.total) { return; }
  let o = e / params.cout;
  let c = e % params.cout;
  var v = 0.0;
  if (params.k == 0u) {
    if (params.hasBias == 1u) { v = bias[c]; }
  } else {
    v = out[e];
  }
  for (var kl = 0u; kl < params.groupSize; kl++) {
    if (table[o * params.V + params.k + kl] >= 0) { v = v + src[(kl * params.rows + o) * params.cout + c]; }
  }
  out[e] = v;
}

@compute @workgroup_size(TT, TT)
fn conv_dw_pairs(
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(workgroup_id) wid: vec3<u32>,
) {
  let NT = TT * TT;
  let tid = lid.y * TT + lid.x;
  let V = params.V;
  let k = wid.z % V;
  let chunk = wid.z / V;
  let a0 = wid.y * TC;
  let b0 = wid.x * TC;
  let list = k * params.rows;
  // listCount is read-only, so the loop bounds are workgroup-uniform.
  let pStart = chunk * params.chunkRows;
  let pEnd = min(pStart + params.chunkRows, listCount[k]);
  var acc = array<vec4<f32>, 4>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
  for (var p0 = pStart; p0 < pEnd; p0 += SLAB) {
    for (var idx = tid; idx < SLAB * TC; idx += NT) {
      let r = idx / TC;
      let a = idx % TC;
      var x = 0.0;
      var g = 0.0;
      if (p0 + r < pEnd) {
        if (a0 + a < params.cin) { x = src[u32(listIn[list + p0 + r]) * params.cin + a0 + a]; }
        if (b0 + a < params.cout) { g = grad[u32(listOut[list + p0 + r]) * params.cout + b0 + a]; }
      }
      dw_stage(r, a, x, g);
    }
    workgroupBarrier();
    dw_slab_mac(lid, &acc);
    workgroupBarrier();
  }
  dw_store_tile((chunk * V + k) * params.cin * params.cout, a0, b0, lid, acc);
}
