// The register-blocked outer-product step of the sparse-conv weight gradient,
// shared by conv_dw_partial (sparse/conv.wgsl, rows of the table) and
// conv_dw_pairs (sparse/conv-pairs.wgsl, per-offset pair lists); pulled in
// after common/sparse-gather-tile (for SLAB, RM, RN) with
//     // #include "common/sparse-dw-tile"
//
// The including file declares `params` (a uniform with `cin` and `cout`),
// the storage buffer `partial` (f32, one [Cin, Cout] matrix per (chunk, k))
// and the overrides TC (tile side) and TT (= TC / 4).
//
// A workgroup of TT × TT threads owns a TC × TC tile of dW[k] (input channels
// a0 …, output channels b0 …), 4×4 per thread in four vec4 registers. Per
// step it stages SLAB (source row, gradient row) pairs in dwA / dwB, then
// each thread makes two 16-byte workgroup reads per pair for 16 FMAs. Pairs
// are added in staging order, so the result depends only on what is staged.

var<workgroup> dwA: array<vec4<f32>, 128>;  // [SLAB pairs][TC / 4], four input channels per entry
var<workgroup> dwB: array<vec4<f32>, 128>;  // [SLAB pairs][TC / 4], four output channels per entry

// Stages x = src[·, a0 + a] and g = grad[·, b0 + a] of pair r of the slab.
fn dw_stage(r: u32, a: u32, x: f32, g: f32) {
  dwA[(r * TC + a) / RM][a % RM] = x;
  dwB[(r * TC + a) / RN][a % RN] = g;
}

// acc += Σ_{r < SLAB} dwA[r]ᵀ ⊗ dwB[r] for this thread's 4×4 block; staging
// must be complete (and a barrier passed) before the call.
fn dw_slab_mac(lid: vec3<u32>, acc: ptr<function, array<vec4<f32>, 4>>) {
  for (var r = 0u; r < SLAB; r++) {
    let b = dwB[(r * TC) / RN + lid.x];
    let a = dwA[(r * TC) / RM + lid.y];
    (*acc)[0] = fma(vec4<f32>(a.x), b, (*acc)[0]);
    (*acc)[1] = fma(vec4<f32>(a.y), b, (*acc)[1]);
    (*acc)[2] = fma(vec4<f32>(a.z), b, (*acc)[2]);
    (*acc)[3] = fma(vec4<f32>(a.w), b, (*acc)[3]);
  }
}

// Writes this thread's 4×4 block of the tile at (a0, b0) into the partial
// matrix starting at `base`, clipped at the channel edges.
fn dw_store_tile(base: u32, a0: u32, b0: u32, lid: vec3<u32>, acc: array<vec4<f32>, 4>) {
  let a = a0 + lid.y * RM;
  let b = b0 + lid.x * RN;
  store_partial(base, a, b, acc[0]);
  store_partial(base, a + 1u, b, acc[1]);
  store_partial(base, a + 2u, b, acc[2]);
  store_partial(base, a + 3u, b, acc[3]);
}

// Writes four consecutive output channels of input channel a of one partial dW[k].
fn store_partial(base: u32, a: u32, b: u32, v: vec4<f32>) {
  if (a >= params.cin) { return; }
  let o = base + a * params.cout + b;
  if (b < params.cout) { partial[o] = v.x; }
  if (b + 1u < params.cout) { partial[o + 1u] = v.y; }
  if (b + 2u < params.cout) { partial[o + 2u] = v.z; }
  if (b + 3u < params.cout) { partial[o + 3u] = v.w; }
}
