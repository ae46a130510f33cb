// Photon library (voxel visibility table): trilinear lookup, its positional
// adjoint, and the full positional gradient. Semantics (voxel-centre values,
// clamped margins, right-derivative convention) are those of
// src/kernels/photon/photon-library.reference.ts.
//
// Binding numbers are unique across the file (reflection keys bindings by number).
// Buffers:
//   table  f32 [planes, ny, nz, npd]: one slab of the table, x-planes
//          plane0 … plane0 + planes − 1 (x slowest, photodetector fastest)
//   pts    f32 [N, 3] positions in cm
//   vis    f32 [N, npd] visibilities (forward output)
//   gvis   f32 [N, npd] dL/dvis (backward input)
//   gpos   f32 [N, 3] dL/dp (backward output)
//   grad   f32 [N, npd, 3] ∂vis/∂p (gradient output)
// A table larger than one storage binding is split along x into slabs that
// overlap by one plane; slab s owns the cells (x-stencils i0) in
// [cell_begin, cell_end). The host dispatches once per slab and only owners
// write, so every output element is written by exactly one dispatch (no
// accumulation, no atomics).
// Grids: forward/gradient one thread per (point, photodetector), d fastest so
// that neighbouring threads read neighbouring table entries; backward one
// thread per point. Workgroups of WG folded into y.

override WG: u32 = 256u;

struct LibParams {
  n: u32,            // points
  npd: u32,
  nx: u32,
  ny: u32,
  nz: u32,
  cell_begin: u32,
  cell_end: u32,
  plane0: u32,
  lo: vec4<f32>,
  hi: vec4<f32>,
}

struct Stencil {
  i0: u32,
  i1: u32,
  f: f32,      // weight of i1
  dfdp: f32,   // ∂f/∂p, cm⁻¹ (right derivative; 0 in clamped margins)
}

@group(0) @binding(0) var<storage, read> table: array<f32>;
@group(0) @binding(1) var<storage, read> pts: array<f32>;
@group(0) @binding(2) var<storage, read_write> vis: array<f32>;
@group(0) @binding(3) var<uniform> lib: LibParams;
@group(0) @binding(4) var<storage, read> gvis: array<f32>;
@group(0) @binding(5) var<storage, read_write> gpos: array<f32>;
@group(0) @binding(6) var<storage, read_write> grad: array<f32>;

fn stencil(p: f32, lo: f32, hi: f32, n: u32) -> Stencil {
  if (n == 1u) { return Stencil(0u, 0u, 0.0, 0.0); }
  let delta = (hi - lo) / f32(n);
  let t = (p - lo) / delta - 0.5;
  let last = f32(n - 1u);
  let tc = clamp(t, 0.0, last);
  let i0 = min(u32(floor(tc)), n - 2u);
  let inside = p >= lo && p <= hi && t >= 0.0 && t < last;
  return Stencil(i0, i0 + 1u, tc - f32(i0), select(0.0, 1.0 / delta, inside));
}

fn voxel(ix: u32, iy: u32, iz: u32) -> u32 {
  return (((ix - lib.plane0) * lib.ny + iy) * lib.nz + iz) * lib.npd;
}

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

@compute @workgroup_size(WG)
fn trilinear_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat(gid, nwg);
  if (e >= lib.n * lib.npd) { return; }
  let i = e / lib.npd;
  let d = e % lib.npd;
  let sx = stencil(pts[3u * i], lib.lo.x, lib.hi.x, lib.nx);
  if (sx.i0 < lib.cell_begin || sx.i0 >= lib.cell_end) { return; }
  let sy = stencil(pts[3u * i + 1u], lib.lo.y, lib.hi.y, lib.ny);
  let sz = stencil(pts[3u * i + 2u], lib.lo.z, lib.hi.z, lib.nz);
  var acc = 0.0;
  for (var cx = 0u; cx < 2u; cx++) {
    let ix = select(sx.i0, sx.i1, cx == 1u);
    let wx = select(1.0 - sx.f, sx.f, cx == 1u);
    for (var cy = 0u; cy < 2u; cy++) {
      let iy = select(sy.i0, sy.i1, cy == 1u);
      let wy = select(1.0 - sy.f, sy.f, cy == 1u);
      for (var cz = 0u; cz < 2u; cz++) {
        let iz = select(sz.i0, sz.i1, cz == 1u);
        let wz = select(1.0 - sz.f, sz.f, cz == 1u);
        acc += wx * wy * wz * table[voxel(ix, iy, iz) + d];
      }
    }
  }
  vis[e] = acc;
}

@compute @workgroup_size(WG)
fn trilinear_gradient(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat(gid, nwg);
  if (e >= lib.n * lib.npd) { return; }
  let i = e / lib.npd;
  let d = e % lib.npd;
  let sx = stencil(pts[3u * i], lib.lo.x, lib.hi.x, lib.nx);
  if (sx.i0 < lib.cell_begin || sx.i0 >= lib.cell_end) { return; }
  let sy = stencil(pts[3u * i + 1u], lib.lo.y, lib.hi.y, lib.ny);
  let sz = stencil(pts[3u * i + 2u], lib.lo.z, lib.hi.z, lib.nz);
  var g = vec3<f32>(0.0);
  for (var cx = 0u; cx < 2u; cx++) {
    let ix = select(sx.i0, sx.i1, cx == 1u);
    let wx = select(1.0 - sx.f, sx.f, cx == 1u);
    let dwx = select(-sx.dfdp, sx.dfdp, cx == 1u);
    for (var cy = 0u; cy < 2u; cy++) {
      let iy = select(sy.i0, sy.i1, cy == 1u);
      let wy = select(1.0 - sy.f, sy.f, cy == 1u);
      let dwy = select(-sy.dfdp, sy.dfdp, cy == 1u);
      for (var cz = 0u; cz < 2u; cz++) {
        let iz = select(sz.i0, sz.i1, cz == 1u);
        let wz = select(1.0 - sz.f, sz.f, cz == 1u);
        let dwz = select(-sz.dfdp, sz.dfdp, cz == 1u);
        let v = table[voxel(ix, iy, iz) + d];
        g += vec3<f32>(dwx * wy * wz, wx * dwy * wz, wx * wy * dwz) * v;
      }
    }
  }
  grad[3u * e] = g.x;
  grad[3u * e + 1u] = g.y;
  grad[3u * e + 2u] = g.z;
}

@compute @workgroup_size(WG)
fn trilinear_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= lib.n) { return; }
  let sx = stencil(pts[3u * i], lib.lo.x, lib.hi.x, lib.nx);
  if (sx.i0 < lib.cell_begin || sx.i0 >= lib.cell_end) { return; }
  let sy = stencil(pts[3u * i + 1u], lib.lo.y, lib.hi.y, lib.ny);
  let sz = stencil(pts[3u * i + 2u], lib.lo.z, lib.hi.z, lib.nz);
  var g = vec3<f32>(0.0);
  for (var cx = 0u; cx < 2u; cx++) {
    let ix = select(sx.i0, sx.i1, cx == 1u);
    let wx = select(1.0 - sx.f, sx.f, cx == 1u);
    let dwx = select(-sx.dfdp, sx.dfdp, cx == 1u);
    for (var cy = 0u; cy < 2u; cy++) {
      let iy = select(sy.i0, sy.i1, cy == 1u);
      let wy = select(1.0 - sy.f, sy.f, cy == 1u);
      let dwy = select(-sy.dfdp, sy.dfdp, cy == 1u);
      for (var cz = 0u; cz < 2u; cz++) {
        let iz = select(sz.i0, sz.i1, cz == 1u);
        let wz = select(1.0 - sz.f, sz.f, cz == 1u);
        let dwz = select(-sz.dfdp, sz.dfdp, cz == 1u);
        let base = voxel(ix, iy, iz);
        var dotv = 0.0;
        for (var d = 0u; d < lib.npd; d++) { dotv += gvis[i * lib.npd + d] * table[base + d]; }
        g += vec3<f32>(dwx * wy * wz, wx * dwy * wz, wx * wy * dwz) * dotv;
      }
    }
  }
  gpos[3u * i] = g.x;
  gpos[3u * i + 1u] = g.y;
  gpos[3u * i + 2u] = g.z;
}
