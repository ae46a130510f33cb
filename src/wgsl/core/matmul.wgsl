// Dense matrix multiply C = op(A) · op(B), f32, row-major.
//
// Buffers:
//   a  f32  [M, K], or [K, M] when TRANS_A (then op(A) = Aᵀ)
//   b  f32  [K, N], or [N, K] when TRANS_B
//   c  f32  [M, N], fully overwritten
// The transposed variants serve the backward pass, dA = dC·Bᵀ and dB = Aᵀ·dC,
// without materialising a transpose.
//
// Tiling, for real GPUs: a workgroup of 16×16 threads computes a 128×128
// block of C, each thread an 8×8 micro-tile held in sixteen vec4 registers.
// K advances in slabs of 8 staged in workgroup memory. A thread owns rows
// ty + 16 i (i < 8; one value of A in workgroup memory is broadcast to a row
// of threads) and two groups of four contiguous columns, 4 tx + (0..3) and
// 64 + 4 tx + (0..3) (each read from workgroup memory as one vec4, so that
// neighbouring threads read neighbouring 16-byte words). Every value read
// from workgroup memory feeds 8 FMAs, the arithmetic intensity that SGEMM
// needs to approach peak. Accumulators are named variables rather than an
// indexed array so that they stay in registers on every compiler. Global
// loads walk the contiguous axis of each stored layout, plain or transposed,
// so consecutive threads read consecutive addresses. The summation order
// over K is fixed, so results are bitwise reproducible.
// Grid: (ceil(N / 128), R, ceil(ceil(M / 128) / R)) workgroups, the row
// tiles folded into z (R ≤ the per-dimension limit) so that tall matrices
// fit the grid; row tile = wid.y + wid.z · R, and tiles past M return at once.

struct Params {
  M: u32,
  N: u32,
  K: u32,
}

override TRANS_A: bool = false;
override TRANS_B: bool = false;

const THREADS: u32 = 16u;       // per side of the workgroup
const TILE: u32 = 128u;         // C block side
const SLAB: u32 = 8u;           // K depth staged per step
const LOADS: u32 = 4u;          // (TILE * SLAB) / (THREADS * THREADS) elements loaded per thread per operand

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

var<workgroup> tileA: array<f32, 1024>;        // [SLAB][TILE]: tileA[k * TILE + m]
var<workgroup> tileB: array<vec4<f32>, 256>;   // [SLAB][TILE / 4]: tileB[k * 32 + n / 4][n % 4]

fn loadA(m: u32, k: u32) -> f32 {
  if (m >= params.M || k >= params.K) { return 0.0; }
  if (TRANS_A) { return a[k * params.M + m]; }
  return a[m * params.K + k];
}

fn loadB(k: u32, n: u32) -> f32 {
  if (k >= params.K || n >= params.N) { return 0.0; }
  if (TRANS_B) { return b[n * params.K + k]; }
  return b[k * params.N + n];
}

fn store(row: u32, col: u32, v: vec4<f32>) {
  if (row >= params.M) { return; }
  let base = row * params.N;
  if (col + 3u < params.N) {
    c[base + col] = v.x; c[base + col + 1u] = v.y; c[base + col + 2u] = v.z; c[base + col + 3u] = v.w;
    return;
  }
  if (col < params.N) { c[base + col] = v.x; }
  if (col + 1u < params.N) { c[base + col + 1u] = v.y; }
  if (col + 2u < params.N) { c[base + col + 2u] = v.z; }
}

@compute @workgroup_size(16, 16)
fn matmul(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  // Uniform per workgroup, so returning here keeps the barriers below uniform.
  let row0 = (wid.y + wid.z * nwg.y) * TILE;
  if (row0 >= params.M) { return; }
  let col0 = wid.x * TILE;
  let tid = lid.y * THREADS + lid.x;
  var acc0l = vec4<f32>(0.0);
  var acc0r = vec4<f32>(0.0);
  var acc1l = vec4<f32>(0.0);
  var acc1r = vec4<f32>(0.0);
  var acc2l = vec4<f32>(0.0);
  var acc2r = vec4<f32>(0.0);
  var acc3l = vec4<f32>(0.0);
  var acc3r = vec4<f32>(0.0);
  var acc4l = vec4<f32>(0.0);
  var acc4r = vec4<f32>(0.0);
  var acc5l = vec4<f32>(0.0);
  var acc5r = vec4<f32>(0.0);
  var acc6l = vec4<f32>(0.0);
  var acc6r = vec4<f32>(0.0);
  var acc7l = vec4<f32>(0.0);
  var acc7r = vec4<f32>(0.0);

  for (var k0 = 0u; k0 < params.K; k0 += SLAB) {
    for (var l = 0u; l < LOADS; l++) {
      let e = tid + l * THREADS * THREADS;
      var m: u32; var ka: u32;
      if (TRANS_A) { m = e % TILE; ka = e / TILE; } else { ka = e % SLAB; m = e / SLAB; }
      tileA[ka * TILE + m] = loadA(row0 + m, k0 + ka);
      var n: u32; var kb: u32;
      if (TRANS_B) { kb = e % SLAB; n = e / SLAB; } else { n = e % TILE; kb = e / TILE; }
      tileB[kb * 32u + n / 4u][n % 4u] = loadB(k0 + kb, col0 + n);
    }
    workgroupBarrier();
    for (var k = 0u; k < SLAB; k++) {
      let bl = tileB[k * 32u + lid.x];
      let br = tileB[k * 32u + 16u + lid.x];
      let ak = k * TILE + lid.y;
      let a0 = vec4<f32>(tileA[ak + 0u]);
      acc0l = fma(a0, bl, acc0l);
      acc0r = fma(a0, br, acc0r);
      let a1 = vec4<f32>(tileA[ak + 16u]);
      acc1l = fma(a1, bl, acc1l);
      acc1r = fma(a1, br, acc1r);
      let a2 = vec4<f32>(tileA[ak + 32u]);
      acc2l = fma(a2, bl, acc2l);
      acc2r = fma(a2, br, acc2r);
      let a3 = vec4<f32>(tileA[ak + 48u]);
      acc3l = fma(a3, bl, acc3l);
      acc3r = fma(a3, br, acc3r);
      let a4 = vec4<f32>(tileA[ak + 64u]);
      acc4l = fma(a4, bl, acc4l);
      acc4r = fma(a4, br, acc4r);
      let a5 = vec4<f32>(tileA[ak + 80u]);
      acc5l = fma(a5, bl, acc5l);
      acc5r = fma(a5, br, acc5r);
      let a6 = vec4<f32>(tileA[ak + 96u]);
      acc6l = fma(a6, bl, acc6l);
      acc6r = fma(a6, br, acc6r);
      let a7 = vec4<f32>(tileA[ak + 112u]);
      acc7l = fma(a7, bl, acc7l);
      acc7r = fma(a7, br, acc7r);
    }
    workgroupBarrier();
  }

  let col = col0 + 4u * lid.x;
  let row = row0 + lid.y;
  store(row + 0u, col, acc0l);
  store(row + 0u, col + 64u, acc0r);
  store(row + 16u, col, acc1l);
  store(row + 16u, col + 64u, acc1r);
  store(row + 32u, col, acc2l);
  store(row + 32u, col + 64u, acc2r);
  store(row + 48u, col, acc3l);
  store(row + 48u, col + 64u, acc3r);
  store(row + 64u, col, acc4l);
  store(row + 64u, col + 64u, acc4r);
  store(row + 80u, col, acc5l);
  store(row + 80u, col + 64u, acc5r);
  store(row + 96u, col, acc6l);
  store(row + 96u, col + 64u, acc6r);
  store(row + 112u, col, acc7l);
  store(row + 112u, col + 64u, acc7r);
}
