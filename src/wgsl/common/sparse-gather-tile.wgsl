// The register-blocked gather-GEMM step shared by conv_gather (sparse/conv.wgsl,
// output-stationary tiles) and conv_pairs (sparse/conv-pairs.wgsl, per-offset
// pair lists); pulled in with
//     // #include "common/sparse-gather-tile"
//
// The including file declares: `params` (a uniform with `cin` and `cout`),
// the storage buffers `src` (f32 [numSrc, cin]) and `weight` (f32
// [V, Cin, Cout]), and the overrides TX, TY (= THREADS / TX) and TRANS_W.
//
// Tiling, for real GPUs: a workgroup of THREADS threads, TX along output
// channels × TY along rows, owns a BM × BN block (BM = RM·TY rows, BN = RN·TX
// channels). `gatherRow[r]` names the source row of the block's row r (−1 =
// none, gathered as zeros). Gathered channels advance in slabs of SLAB,
// staged in workgroup memory with the matching slab of W[k], both as vec4
// (4 rows, resp. 4 output channels, per entry): per staged channel a thread
// makes two 16-byte workgroup reads for 16 FMAs. Neighbouring threads load
// neighbouring addresses from global memory. Channels are summed in
// ascending order, so the result depends only on the shapes.

const THREADS: u32 = 256u;
const RM: u32 = 4u;             // rows per thread
const RN: u32 = 4u;             // output channels per thread
const SLAB: u32 = 8u;           // gathered channels staged per step
const MAX_BM: u32 = 256u;       // RM · THREADS / min TX

var<workgroup> tileA: array<vec4<f32>, 512>;     // [SLAB][BM / 4], four consecutive rows per entry
var<workgroup> tileB: array<vec4<f32>, 128>;     // [SLAB][BN / 4], four output channels per entry
var<workgroup> gatherRow: array<i32, MAX_BM>;

fn weight_at(k: u32, c: u32, n: u32) -> f32 {
  // c: gathered channel, n: output channel.
  if (TRANS_W) { return weight[(k * params.cout + n) * params.cin + c]; }
  return weight[(k * params.cin + c) * params.cout + n];
}

// acc[i] += (row RM·lid.y + i of the block) · W[k][:, col0 + RN·lid.x …]; gatherRow
// must be filled (and a barrier passed) before the call. Every thread of the
// workgroup must call it (it contains barriers).
fn gather_tile_mac(k: u32, col0: u32, lid: vec3<u32>, acc: ptr<function, array<vec4<f32>, 4>>) {
  let BM = TY * RM;
  let BN = TX * RN;
  let tid = lid.y * TX + lid.x;
  for (var c0 = 0u; c0 < params.cin; c0 += SLAB) {
    for (var idx = tid; idx < SLAB * BM; idx += THREADS) {
      let r = idx / SLAB;
      let c = idx % SLAB;
      let s = gatherRow[r];
      var v = 0.0;
      if (s >= 0 && c0 + c < params.cin) { v = src[u32(s) * params.cin + c0 + c]; }
      tileA[(c * BM + r) / RM][r % RM] = v;
    }
    for (var idx = tid; idx < SLAB * BN; idx += THREADS) {
      var c: u32;
      var n: u32;
      // Walk the contiguous axis of the stored layout across threads.
      if (TRANS_W) { n = idx / SLAB; c = idx % SLAB; } else { c = idx / BN; n = idx % BN; }
      var v = 0.0;
      if (c0 + c < params.cin && col0 + n < params.cout) { v = weight_at(k, c0 + c, col0 + n); }
      tileB[(c * BN + n) / RN][n % RN] = v;
    }
    workgroupBarrier();
    for (var c = 0u; c < SLAB; c++) {
      // One 16-byte workgroup read feeds 16 FMAs with the four rows below.
      let b = tileB[(c * BN) / RN + lid.x];
      let a = tileA[(c * BM) / RM + lid.y];
      (*acc)[0] = fma(vec4<f32>(a.x), b, (*acc)[0]);
      (*acc)[1] = fma(vec4<f32>(a.y), b, (*acc)[1]);
      (*acc)[2] = fma(vec4<f32>(a.z), b, (*acc)[2]);
      (*acc)[3] = fma(vec4<f32>(a.w), b, (*acc)[3]);
    }
    workgroupBarrier();
  }
}
