// Sparse convolution as one implicit GEMM over all kernel offsets (the
// 'implicit-gemm' algorithm of conv.ts; the sorted implicit GEMM of spconv 2
// and TorchSparse++), deterministic and without atomics on floats:
//
//   out[o, :] = bias + Σ_{k ascending, table[o, k] ≥ 0} t_k,   t_k = Σ_{c ascending} src[table[o, k], c] · W[k][c, :]
//
// Forward: src = feats [numIn, Cin], table = outputStationary [numOut, V].
// Input gradient: src = gradOut [numOut, Cout], table = inputStationary
// [numIn, V] and W[k]ᵀ (TRANS_W). One dispatch each.
//
// Summation order, the same for every tile configuration: t_k is an fma
// chain over the gathered channels in ascending order starting from 0, and
// it is added to the accumulator (bias, or 0) only when the row has a source
// at k, in ascending k. A row's result therefore does not depend on which
// other rows share its tile or on which offsets the tile skips, and it is
// bitwise the result of the 'pairs' algorithm (conv-pairs.wgsl), which adds
// the same t_k in the same order. Tests check both.
//
// Buffers (all row-major):
//   src      f32 [numSrc, CIN]        gathered rows
//   table    i32 [rows, V]            source row per (row, offset), -1 = none
//   perm     i32 [rows]               the table's rows in mask order (row-order.wgsl)
//   rowMask  u32 [rows, words]        mask words of row perm[slot], in slot order
//   weight   f32 [V, Cin, Cout]       ghostgrad layout (TRANS_W: gathered = Cout, outputs = Cin)
//   weight4  the same buffer as vec4 (VEC_W: four consecutive outputs per entry;
//            QUAD_W: four consecutive gathered channels of one output of Wᵀ)
//   bias     f32 [cout]               read only when params.hasBias = 1
//   out      f32 [rows, cout]         fully overwritten
//
// conv_igemm tiling. Threads take rows, not channels: invocation i of a
// workgroup of WG owns R consecutive slots (sorted rows) × 4·NB4 consecutive
// output channels, in registers. Per offset and gathered channel it loads R
// source values and NB4 vec4 of W[k], then makes R·NB4 vec4 FMAs: on a CPU
// adapter (lavapipe, where every load inside a loop is a gather) this is
// the ratio of FMAs to loads that matters; on a GPU, W[k] rows are the same
// address for the whole workgroup (broadcast) and each thread streams its own
// source rows. CIN is an override so the channel loop has a constant trip
// count (unrolled, registers indexed by constants). Offsets are visited in
// ascending order from a mask: the OR of the workgroup's slots' mask words
// (uniform, so W[k] loads are broadcasts), or with LANE_K the OR of the
// invocation's own slots (no barrier; the CPU default, where every load is a
// gather anyway). An invocation skips offsets none of its R rows use.
// Grid: (⌈cout / (4·NB4)⌉, row tiles of WG·R slots folded into y and z).
//
// conv_igemm_dw: the weight gradient over the forward table's pair lists
// (conv-pairs.wgsl pair_compact), bitwise conv_dw_pairs's:
//   partial[chunk, k] = Σ_{p in chunk, list order} src[pairsIn[k, p]]ᵀ ⊗ grad[pairsOut[k, p]]
// an fma chain over the pairs of the chunk from 0; sum_chunks (conv.wgsl)
// adds the chunks in order. Invocation g owns RA consecutive input channels ×
// 4·NB4 output channels of one (chunk, k): g = ((chunk · V + k) · aBlocks +
// aBlock) · nBlocks + nBlock, so neighbouring invocations share a pair loop.
// No workgroup memory and no barriers. Grid: 1-D, folded into y.

struct Params {
  rows: u32,       // rows of the table (conv_igemm) / of gradOut (dw)
  cin: u32,        // gathered channels (dw: Cin)
  cout: u32,       // output channels (dw: Cout)
  V: u32,
  hasBias: u32,
  words: u32,      // mask words per row, ⌈V / 32⌉
  chunkRows: u32,  // dw: pairs per chunk
  numChunks: u32,  // dw
}

override WG: u32 = 32u;
override R: u32 = 4u;           // slots per invocation (≤ MAX_R)
override NB4: u32 = 4u;         // vec4 of output channels per invocation (≤ MAX_NB4)
override CIN: u32 = 16u;        // gathered channels (conv_igemm)
override TRANS_W: bool = false;
override VEC_W: bool = false;   // weight rows load as vec4 (not TRANS_W, cout % 4 = 0)
override QUAD_W: bool = false;  // TRANS_W with CIN % 4 = 0: Wᵀ loads as vec4 along channels
override LANE_K: bool = false;  // each invocation visits its own slots' offsets (see header)
override RA: u32 = 2u;          // dw: input channels per invocation (≤ MAX_R)
override VEC_G: bool = false;   // dw: gradient rows load as vec4 (cout % 4 = 0)

const MAX_R: u32 = 8u;
const MAX_NB4: u32 = 4u;
const MASK_WORDS: u32 = 16u;    // V ≤ 512

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> table: array<i32>;
@group(0) @binding(3) var<storage, read> perm: array<i32>;
@group(0) @binding(4) var<storage, read> rowMask: array<u32>;
@group(0) @binding(5) var<storage, read> weight: array<f32>;
@group(0) @binding(6) var<storage, read> weight4: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read> bias: array<f32>;
@group(0) @binding(8) var<storage, read_write> out: array<f32>;
@group(0) @binding(9) var<storage, read> pairsOut: array<i32>;
@group(0) @binding(10) var<storage, read> pairsIn: array<i32>;
@group(0) @binding(11) var<storage, read> pairCount: array<u32>;
@group(0) @binding(12) var<storage, read> grad: array<f32>;
@group(0) @binding(13) var<storage, read> grad4: array<vec4<f32>>;
@group(0) @binding(14) var<storage, read_write> partial: array<f32>;

var<workgroup> occ: array<atomic<u32>, MASK_WORDS>;
var<workgroup> occPlain: array<u32, MASK_WORDS>;

// Output channels n .. n + 3 of W[k] for gathered channel c (zeros past cout).
fn weight_row(k: u32, c: u32, n: u32) -> vec4<f32> {
  if (VEC_W) { return weight4[((k * CIN + c) * params.cout + n) / 4u]; }
  var w = vec4<f32>(0.0);
  for (var i = 0u; i < 4u; i++) {
    if (n + i < params.cout) {
      if (TRANS_W) { w[i] = weight[(k * params.cout + n + i) * CIN + c]; } else { w[i] = weight[(k * CIN + c) * params.cout + n + i]; }
    }
  }
  return w;
}

@compute @workgroup_size(WG)
fn conv_igemm(
  @builtin(local_invocation_index) tid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let V = params.V;
  let words = params.words;
  let slot0 = ((wid.y + wid.z * nwg.y) * WG + tid) * R;
  let n0 = wid.x * NB4 * 4u;

  // The offsets to visit: those any slot of the workgroup uses (uniform), or
  // with LANE_K those of this invocation's own slots.
  var row = array<i32, MAX_R>(-1, -1, -1, -1, -1, -1, -1, -1);
  var visit = array<u32, MASK_WORDS>();
  if (!LANE_K && tid < MASK_WORDS) { atomicStore(&occ[tid], 0u); }
  if (!LANE_K) { workgroupBarrier(); }
  for (var i = 0u; i < R; i++) {
    let slot = slot0 + i;
    if (slot < params.rows) {
      row[i] = perm[slot];
      for (var w = 0u; w < words; w++) {
        let bits = rowMask[slot * words + w];
        visit[w] |= bits;
        if (!LANE_K && bits != 0u) { atomicOr(&occ[w], bits); }
      }
    }
  }
  if (!LANE_K) {
    workgroupBarrier();
    if (tid < MASK_WORDS) { occPlain[tid] = atomicLoad(&occ[tid]); }
    for (var w = 0u; w < words; w++) { visit[w] = workgroupUniformLoad(&occPlain[w]); }
  }

  var acc = array<array<vec4<f32>, MAX_NB4>, MAX_R>();
  if (params.hasBias == 1u) {
    for (var j = 0u; j < NB4; j++) {
      var b = vec4<f32>(0.0);
      for (var q = 0u; q < 4u; q++) { if (n0 + 4u * j + q < params.cout) { b[q] = bias[n0 + 4u * j + q]; } }
      for (var i = 0u; i < R; i++) { acc[i][j] = b; }
    }
  }
  // Ascending k: words in order, bits in order within a word.
  for (var w = 0u; w < words; w++) {
    var pending = visit[w];
    loop {
      if (pending == 0u) { break; }
      let k = 32u * w + firstTrailingBit(pending);
      pending &= pending - 1u;
      var s = array<i32, MAX_R>(-1, -1, -1, -1, -1, -1, -1, -1);
      var anyRow = false;
      for (var i = 0u; i < R; i++) {
        if (row[i] >= 0) { s[i] = table[u32(row[i]) * V + k]; }
        anyRow = anyRow || s[i] >= 0;
      }
      if (!anyRow) { continue; }
      // Explicit zero initialisers: a `var` without one, declared inside a
      // loop, was found not to be re-zeroed on every iteration by Dawn/lavapipe.
      var t = array<array<vec4<f32>, MAX_NB4>, MAX_R>();
      if (QUAD_W) {
        // Wᵀ[k][c][n] = weight[k, n, c] is contiguous in c: one vec4 holds four
        // gathered channels of one output, transposed in registers. The FMAs
        // still run in ascending channel order (what the results depend on).
        for (var c4 = 0u; c4 < CIN; c4 += 4u) {
          var wq = array<array<vec4<f32>, MAX_NB4>, 4>();
          for (var j = 0u; j < NB4; j++) {
            for (var q = 0u; q < 4u; q++) {
              let n = n0 + 4u * j + q;
              if (n < params.cout) {
                let v = weight4[((k * params.cout + n) * CIN + c4) / 4u];
                wq[0][j][q] = v.x;
                wq[1][j][q] = v.y;
                wq[2][j][q] = v.z;
                wq[3][j][q] = v.w;
              }
            }
          }
          for (var cc = 0u; cc < 4u; cc++) {
            for (var i = 0u; i < R; i++) {
              let a = vec4<f32>(src[u32(max(s[i], 0)) * CIN + c4 + cc]);
              for (var j = 0u; j < NB4; j++) { t[i][j] = fma(a, wq[cc][j], t[i][j]); }
            }
          }
        }
      } else {
        for (var c = 0u; c < CIN; c++) {
          var w = array<vec4<f32>, MAX_NB4>();
          for (var j = 0u; j < NB4; j++) { w[j] = weight_row(k, c, n0 + 4u * j); }
          for (var i = 0u; i < R; i++) {
            // Rows without a source read row 0 and are discarded below.
            let a = vec4<f32>(src[u32(max(s[i], 0)) * CIN + c]);
            for (var j = 0u; j < NB4; j++) { t[i][j] = fma(a, w[j], t[i][j]); }
          }
        }
      }
      for (var i = 0u; i < R; i++) {
        let has = s[i] >= 0;
        for (var j = 0u; j < NB4; j++) { acc[i][j] = select(acc[i][j], acc[i][j] + t[i][j], has); }
      }
    }
  }

  for (var i = 0u; i < R; i++) {
    if (row[i] < 0) { continue; }
    let base = u32(row[i]) * params.cout;
    for (var j = 0u; j < NB4; j++) {
      let n = n0 + 4u * j;
      for (var q = 0u; q < 4u; q++) { if (n + q < params.cout) { out[base + n + q] = acc[i][j][q]; } }
    }
  }
}

@compute @workgroup_size(WG)
fn conv_igemm_dw(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let V = params.V;
  let cin = params.cin;
  let cout = params.cout;
  let aBlocks = (cin + RA - 1u) / RA;
  let nBlocks = (cout + 4u * NB4 - 1u) / (4u * NB4);
  let g = gid.x + gid.y * nwg.x * WG;
  if (g >= params.numChunks * V * aBlocks * nBlocks) { return; }
  let nBlock = g % nBlocks;
  let aBlock = (g / nBlocks) % aBlocks;
  let k = (g / (nBlocks * aBlocks)) % V;
  let chunk = g / (nBlocks * aBlocks * V);
  let a0 = aBlock * RA;
  let n0 = nBlock * NB4 * 4u;
  let list = k * params.rows;
  let pStart = chunk * params.chunkRows;
  let pEnd = min(pStart + params.chunkRows, pairCount[k]);

  var acc = array<array<vec4<f32>, MAX_NB4>, MAX_R>();
  for (var p = pStart; p < pEnd; p++) {
    let i = u32(pairsIn[list + p]);
    let o = u32(pairsOut[list + p]);
    var gv = array<vec4<f32>, MAX_NB4>();
    for (var j = 0u; j < NB4; j++) {
      let n = n0 + 4u * j;
      if (VEC_G) {
        if (n < cout) { gv[j] = grad4[(o * cout + n) / 4u]; }
      } else {
        for (var q = 0u; q < 4u; q++) { if (n + q < cout) { gv[j][q] = grad[o * cout + n + q]; } }
      }
    }
    for (var r = 0u; r < RA; r++) {
      var x = 0.0;
      if (a0 + r < cin) { x = src[i * cin + a0 + r]; }
      for (var j = 0u; j < NB4; j++) { acc[r][j] = fma(vec4<f32>(x), gv[j], acc[r][j]); }
    }
  }
  let base = (chunk * V + k) * cin * cout;
  for (var r = 0u; r < RA; r++) {
    if (a0 + r >= cin) { continue; }
    for (var j = 0u; j < NB4; j++) {
      let n = n0 + 4u * j;
      for (var q = 0u; q < 4u; q++) { if (n + q < cout) { partial[base + (a0 + r) * cout + n + q] = acc[r][j][q]; } }
    }
  }
}
