// Physics-parameter assembly for fits: phys[k] = nominal[k] · θ[slot[k]] where
// slot[k] ≥ 0, else nominal[k]; fitting θ (≈ 1) normalises every parameter
// by its nominal value. Backward: ∂L/∂θ[j] = ∂L/∂phys[k_j] · nominal[k_j].
//
// Buffers:
//   theta    f32[K]   normalised fit parameters
//   nominal  f32[15]  nominal physics parameters
//   slot     i32[15]  index into theta, or −1 for a fixed parameter
//   which    u32[K]   physics index of each θ (inverse of slot)
//   phys     f32[15]  forward output
//   g        f32[15]  backward input ∂L/∂phys
//   gtheta   f32[K]   backward output
// Grid: one workgroup of NPARAM invocations.

struct Params {
  k: u32,
}

const NPARAM: u32 = 15u;

@group(0) @binding(0) var<storage, read> theta: array<f32>;
@group(0) @binding(1) var<storage, read> nominal: array<f32>;
@group(0) @binding(2) var<storage, read> slot: array<i32>;
@group(0) @binding(3) var<storage, read> which: array<u32>;
@group(0) @binding(4) var<storage, read_write> phys: array<f32>;
@group(0) @binding(5) var<storage, read> g: array<f32>;
@group(0) @binding(6) var<storage, read_write> gtheta: array<f32>;
@group(0) @binding(7) var<uniform> params: Params;

@compute @workgroup_size(16)
fn params_assemble(@builtin(local_invocation_id) lid: vec3<u32>) {
  let k = lid.x;
  if (k >= NPARAM) { return; }
  let s = slot[k];
  phys[k] = select(nominal[k], nominal[k] * theta[u32(max(s, 0))], s >= 0);
}

@compute @workgroup_size(16)
fn params_backward(@builtin(local_invocation_id) lid: vec3<u32>) {
  let j = lid.x;
  if (j >= params.k) { return; }
  let k = which[j];
  gtheta[j] = g[k] * nominal[k];
}
