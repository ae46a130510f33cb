// Philox4x32-10 counter-based random numbers (Salmon et al., SC'11), shared
// by every kernel that draws random numbers; pulled in with
//     // #include "common/philox"
// (resolved by scripts/embed-wgsl.mjs). Bit-identical to
// src/kernels/photon-mc/philox.ts, which the tests compare against.

const PHILOX_M0: u32 = 0xd2511f53u;
const PHILOX_M1: u32 = 0xcd9e8d57u;
const PHILOX_W0: u32 = 0x9e3779b9u;
const PHILOX_W1: u32 = 0xbb67ae85u;
const PHILOX_ROUNDS: u32 = 10u;
// 2^-24: a uniform built from the top 24 bits of a word is exact in f32.
const TWO_POW_M24: f32 = 0x1p-24f;

// High word of a 32 x 32-bit product from 16-bit halves (no 64-bit integers in WGSL).
fn mulhi32(a: u32, b: u32) -> u32 {
  let a_lo = a & 0xffffu;
  let a_hi = a >> 16u;
  let b_lo = b & 0xffffu;
  let b_hi = b >> 16u;
  let ll = a_lo * b_lo;
  let lh = a_lo * b_hi;
  let hl = a_hi * b_lo;
  let hh = a_hi * b_hi;
  let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
  return hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
}

// Four random words for a 128-bit counter under a 64-bit key.
fn philox(counter: vec4<u32>, key_in: vec2<u32>) -> vec4<u32> {
  var x = counter;
  var key = key_in;
  for (var r = 0u; r < PHILOX_ROUNDS; r++) {
    if (r > 0u) {
      key = key + vec2<u32>(PHILOX_W0, PHILOX_W1);
    }
    let hi0 = mulhi32(PHILOX_M0, x.x);
    let lo0 = PHILOX_M0 * x.x;
    let hi1 = mulhi32(PHILOX_M1, x.z);
    let lo1 = PHILOX_M1 * x.z;
    x = vec4<u32>(hi1 ^ x.y ^ key.x, lo1, hi0 ^ x.w ^ key.y, lo0);
  }
  return x;
}
