// Dense matrix multiply C = op(A) · op(B), f32, row-major.
//
// Buffers:
//   a  f32  [M, K], or [K, M] when TRANS_A (then op(A) = Aᵀ)
//   b  f32  [K, N], or [N, K] when TRANS_B
//   c  f32  [M, N], fully overwritten
// The transposed variants serve the backward pass, dA = dC·Bᵀ and dB = Aᵀ·dC,
// without materialising a transpose.
//
// Tiling, for real GPUs: a workgroup of 16×16 threads computes a 64×64 block
// of C. K advances in slabs of 16 staged in workgroup memory; each thread
// keeps a 4×4 micro-tile of accumulators in registers, so every value read
// from workgroup memory feeds four FMAs. A thread owns rows ty + 16 i and
// columns tx + 16 j (not a contiguous 4×4), so that neighbouring threads
// touch neighbouring addresses in workgroup memory and in C. Loads from A and
// B are arranged so consecutive threads read consecutive global addresses in
// both the plain and the transposed layout. The summation order over K is
// fixed, so results are bitwise reproducible.
// Grid: (ceil(N / 64), ceil(M / 64)) workgroups.

struct Params {
  M: u32,
  N: u32,
  K: u32,
}

override TRANS_A: bool = false;
override TRANS_B: bool = false;

const THREADS: u32 = 16u;       // per side of the workgroup
const TILE: u32 = 64u;          // C block side = THREADS * MICRO
const MICRO: u32 = 4u;          // accumulators per thread per side
const SLAB: u32 = 16u;          // K depth staged per step
const LOADS: u32 = 4u;          // (TILE * SLAB) / (THREADS * THREADS)

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

var<workgroup> tileA: array<f32, 1024>;  // [SLAB][TILE]: tileA[k * TILE + m]
var<workgroup> tileB: array<f32, 1024>;  // [SLAB][TILE]: tileB[k * TILE + n]

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

@compute @workgroup_size(16, 16)
fn matmul(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let row0 = wid.y * TILE;
  let col0 = wid.x * TILE;
  let tid = lid.y * THREADS + lid.x;
  var acc: array<f32, 16>;
  for (var i = 0u; i < 16u; i++) { acc[i] = 0.0; }

  for (var k0 = 0u; k0 < params.K; k0 += SLAB) {
    for (var l = 0u; l < LOADS; l++) {
      let e = tid + l * THREADS * THREADS;
      // Walk the contiguous axis of each stored layout with the thread index.
      var m: u32; var ka: u32;
      if (TRANS_A) { m = e % TILE; ka = e / TILE; } else { ka = e % SLAB; m = e / SLAB; }
      tileA[ka * TILE + m] = loadA(row0 + m, k0 + ka);
      var n: u32; var kb: u32;
      if (TRANS_B) { kb = e % SLAB; n = e / SLAB; } else { n = e % TILE; kb = e / TILE; }
      tileB[kb * TILE + n] = loadB(k0 + kb, col0 + n);
    }
    workgroupBarrier();
    for (var k = 0u; k < SLAB; k++) {
      var av: array<f32, 4>;
      var bv: array<f32, 4>;
      for (var i = 0u; i < MICRO; i++) {
        av[i] = tileA[k * TILE + lid.y + i * THREADS];
        bv[i] = tileB[k * TILE + lid.x + i * THREADS];
      }
      for (var i = 0u; i < MICRO; i++) {
        for (var j = 0u; j < MICRO; j++) {
          acc[i * MICRO + j] = fma(av[i], bv[j], acc[i * MICRO + j]);
        }
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < MICRO; i++) {
    let row = row0 + lid.y + i * THREADS;
    if (row >= params.M) { continue; }
    for (var j = 0u; j < MICRO; j++) {
      let col = col0 + lid.x + j * THREADS;
      if (col < params.N) { c[row * params.N + col] = acc[i * MICRO + j]; }
    }
  }
}
