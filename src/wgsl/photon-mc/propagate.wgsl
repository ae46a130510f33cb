// Monte Carlo propagation of optical photons in axis-aligned liquid-argon
// boxes, one invocation per photon. Semantics, random-stream layout and
// u32 → float conversions are those of the float64 reference
// src/kernels/photon-mc/propagate.reference.ts; this file is its f32 port.
//
// Grid: invocation i = gid.x + gid.y * num_workgroups.x * WG (1-D grid folded
// into y) handles local source s = params.source_offset + i / params.photon_count
// and photon p = params.photon_start + i % params.photon_count, for
// i < params.source_count * params.photon_count. "Local" indices count the
// sources of the batch bound in `sources` and the counters; the global
// source index (random key) is params.source_start + s. Photons of one source are
// neighbours, so a workgroup reads one source record and mostly updates the
// tallies of one source.
//
// Random numbers: Philox4x32-10, key = (params.seed, params.source_start + s),
// counter = (p, segment, lane, 0), lanes EMISSION / TRANSPORT / SURFACE as in
// the reference, so every photon draws the same uniforms as on the CPU.
//
// Buffers (all written only by this kernel unless stated; s is the local
// source index, B the number of sources in the batch):
//   geometry  u32, read, host-written. f32 values are stored as their bits.
//     [6v .. 6v+5]                              volume v: min x, y, z, max x, y, z (f32 bits), cm
//     [face_base + 4(6v+f) + 0..3]             wall (v, face f): kind (0 absorbing, 1 specular,
//                                              2 Lambertian), reflection threshold T (u32, see
//                                              below), first and end index into the face list
//     [list_base + k]                          photodetector indices grouped by (volume, face)
//     [pd_base + 8d + 0..7]                    photodetector d: shape (0 rectangle, 1 disc),
//                                              centre u, v (f32 bits, in-plane axes of its face),
//                                              half sizes a, b (rectangle) or a = r² (disc) (f32 bits),
//                                              detection threshold T, 2 unused words
//     Thresholds: T = ceil(probability · 2^24), and a draw w accepts when (w >> 8) < T,
//     which is exactly the reference's u32ToUnit(w) < probability without rounding the
//     probability to f32.
//   sources   f32 [B, 4], read, host-written: x, y, z (cm), volume index (exact in f32)
//   detected  atomic u32 [B, num_pd]: photons registered by each photodetector
//   tally     atomic u32 [B, 4]: detected, absorbed in bulk, absorbed on a wall, lost
//   time_hist atomic u32 [B, num_pd, time_bins + 2]: slot 0 underflow, 1..bins the
//             bins, bins + 1 overflow; a small unused buffer when time_bins = 0
//   records   u32 [source_count * photon_count, 4], written only when RECORD: fate, photodetector
//             (0xffffffff for none), path length (f32 bits, cm), cos θ of the first Rayleigh
//             scattering (f32 bits; 2.0 when the photon never scattered). Dummy otherwise.
//   params    uniform Params
//
// Counts are integers summed with atomicAdd, so they do not depend on the
// order in which invocations finish: the same seed gives the same tallies on
// every run and for every chunking of the photon range.

struct Params {
  seed: u32,               // key word 0
  photon_start: u32,       // first photon index of this dispatch (same for every source)
  photon_count: u32,       // photons per source in this dispatch
  source_start: u32,       // global index of local source 0 (key word 1 = source_start + s)
  source_offset: u32,      // first local source of this dispatch
  source_count: u32,       // sources in this dispatch
  max_steps: u32,          // segments before a photon counts as lost
  num_pd: u32,             // row length of `detected` (at least 1)
  face_base: u32,          // geometry offsets, see above
  list_base: u32,
  pd_base: u32,
  time_bins: u32,          // 0: no arrival-time histogram
  scatter_on: u32,         // 0: Rayleigh length infinite
  absorb_on: u32,          // 0: absorption length infinite
  rayleigh_cm: f32,
  absorption_cm: f32,
  inv_group_velocity: f32, // ns per cm of path
  time_start_ns: f32,
  bin_width_ns: f32,
}

// 64 threads: photons loop for very different numbers of segments, and a
// small workgroup limits how long finished threads wait for the slowest one.
override WG: u32 = 64;
// Per-photon records for tests and debugging (fates, path, first scattering angle).
override RECORD: bool = false;


const LANE_TRANSPORT: u32 = 0u;
const LANE_SURFACE: u32 = 1u;
const LANE_EMISSION: u32 = 2u;

const FATE_DETECTED: u32 = 0u;
const FATE_ABSORBED_BULK: u32 = 1u;
const FATE_ABSORBED_WALL: u32 = 2u;
const FATE_LOST: u32 = 3u;
const TALLY_SLOTS: u32 = 4u;
const NO_PD: u32 = 0xffffffffu;

const WALL_ABSORB: u32 = 0u;
const WALL_SPECULAR: u32 = 1u;
const SHAPE_RECT: u32 = 0u;

const TWO_PI: f32 = 6.283185307179586;
// Stands in for an infinite free path when a process is disabled (WGSL has no infinity literal).
const FAR_CM: f32 = 3.0e38;
// First-scatter cosine written for photons that never scattered (outside [-1, 1]).
const NO_SCATTER: f32 = 2.0;
// Workgroup tally covers the first two sources a workgroup touches (it spans
// at most two when photon_count >= WG); other sources go straight to global atomics.
const WG_TALLY_SOURCES: u32 = 2u;

@group(0) @binding(0) var<storage, read> geometry: array<u32>;
@group(0) @binding(1) var<storage, read> sources: array<f32>;
@group(0) @binding(2) var<storage, read_write> detected: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> tally: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read_write> time_hist: array<atomic<u32>>;
@group(0) @binding(5) var<storage, read_write> records: array<u32>;
@group(0) @binding(6) var<uniform> params: Params;

var<workgroup> wg_tally: array<atomic<u32>, 8>;

// #include "common/philox"

// [0, 1 - 2^-24] on the 24-bit grid; exact in f32 (u32ToUnit).
fn unit_closed_open(w: u32) -> f32 {
  return f32(w >> 8u) * TWO_POW_M24;
}

// (0, 1] on the 24-bit grid; exact in f32 (u32ToUnitPositive).
fn unit_open_closed(w: u32) -> f32 {
  return f32((w >> 8u) + 1u) * TWO_POW_M24;
}

fn geo_f32(i: u32) -> f32 {
  return bitcast<f32>(geometry[i]);
}

// Rayleigh cos θ by exact CDF inversion, mu = 2 sinh(asinh(4u - 2) / 3).
// asinh and sinh are written out with odd symmetry so that no driver's
// builtin loses accuracy through cancellation for negative arguments.
fn rayleigh_cos(u: f32) -> f32 {
  let q = 4.0 * u - 2.0;
  let aq = abs(q);
  let w = log(aq + sqrt(aq * aq + 1.0)) / 3.0;
  let mu = sign(q) * (exp(w) - exp(-w));
  return clamp(mu, -1.0, 1.0);
}

// Turn d by polar angle θ (cos_t) and azimuth phi in the frame of Duff et al.
// (JCGT 2017), as rotateDirection in the reference.
fn rotate_dir(d: vec3<f32>, cos_t: f32, phi: f32) -> vec3<f32> {
  let sin_t = sqrt(max(0.0, 1.0 - cos_t * cos_t));
  let cp = cos(phi) * sin_t;
  let sp = sin(phi) * sin_t;
  let s = select(-1.0, 1.0, d.z >= 0.0);
  let a = -1.0 / (s + d.z);
  let b = d.x * d.y * a;
  let n = vec3<f32>(
    cp * (1.0 + s * d.x * d.x * a) + sp * b + cos_t * d.x,
    cp * (s * b) + sp * (s + d.y * d.y * a) + cos_t * d.y,
    cp * (-s * d.x) + sp * (-d.y) + cos_t * d.z,
  );
  // Renormalised so that rounding does not build up over many scatterings.
  return n * inverseSqrt(dot(n, n));
}

struct PhotonEnd {
  fate: u32,
  pd: u32,
  path: f32,
  first_cos: f32,
}

fn run_photon(src: u32, photon: u32) -> PhotonEnd {
  let x0 = vec3<f32>(sources[4u * src], sources[4u * src + 1u], sources[4u * src + 2u]);
  let vol = u32(sources[4u * src + 3u]);
  let key = vec2<u32>(params.seed, params.source_start + src);
  let bmin = vec3<f32>(geo_f32(6u * vol), geo_f32(6u * vol + 1u), geo_f32(6u * vol + 2u));
  let bmax = vec3<f32>(geo_f32(6u * vol + 3u), geo_f32(6u * vol + 4u), geo_f32(6u * vol + 5u));
  let scatter_on = params.scatter_on != 0u;
  let absorb_on = params.absorb_on != 0u;

  let e = philox(vec4<u32>(photon, 0u, LANE_EMISSION, 0u), key);
  let c = 1.0 - 2.0 * unit_closed_open(e.x);
  let s0 = sqrt(max(0.0, 1.0 - c * c));
  let phi0 = TWO_PI * unit_closed_open(e.y);
  var d = vec3<f32>(s0 * cos(phi0), s0 * sin(phi0), c);
  var pos = x0;
  var out = PhotonEnd(FATE_LOST, NO_PD, 0.0, NO_SCATTER);
  var path = 0.0;

  for (var step = 0u; step < params.max_steps; step++) {
    let blk = philox(vec4<u32>(photon, step, LANE_TRANSPORT, 0u), key);
    var d_s = FAR_CM;
    if (scatter_on) { d_s = -log(unit_open_closed(blk.x)) * params.rayleigh_cm; }
    var d_a = FAR_CM;
    if (absorb_on) { d_a = -log(unit_open_closed(blk.y)) * params.absorption_cm; }

    // Distance to the first box plane crossed, in the reference's x, y, z order.
    var t_w = FAR_CM;
    var axis = 0u;
    var at_max = false;
    if (d.x > 0.0) {
      t_w = (bmax.x - pos.x) / d.x;
      at_max = true;
    } else if (d.x < 0.0) {
      t_w = (bmin.x - pos.x) / d.x;
    }
    if (d.y != 0.0) {
      let t = select((bmin.y - pos.y) / d.y, (bmax.y - pos.y) / d.y, d.y > 0.0);
      if (t < t_w) {
        t_w = t;
        axis = 1u;
        at_max = d.y > 0.0;
      }
    }
    if (d.z != 0.0) {
      let t = select((bmin.z - pos.z) / d.z, (bmax.z - pos.z) / d.z, d.z > 0.0);
      if (t < t_w) {
        t_w = t;
        axis = 2u;
        at_max = d.z > 0.0;
      }
    }
    t_w = max(t_w, 0.0);

    if (t_w <= d_s && t_w <= d_a) {
      // Wall: snap onto the plane and clamp so that rounding never leaves the box.
      pos = clamp(pos + t_w * d, bmin, bmax);
      pos[axis] = select(bmin[axis], bmax[axis], at_max);
      path += t_w;
      let srf = philox(vec4<u32>(photon, step, LANE_SURFACE, 0u), key);
      let decide = srf.x >> 8u;
      let wall = 6u * vol + 2u * axis + select(0u, 1u, at_max);
      let wbase = params.face_base + 4u * wall;
      let hu = select(pos.x, pos.y, axis == 0u);
      let hv = select(pos.z, pos.y, axis == 2u);
      var hit = NO_PD;
      for (var k = geometry[wbase + 2u]; k < geometry[wbase + 3u]; k++) {
        let pd = geometry[params.list_base + k];
        let pbase = params.pd_base + 8u * pd;
        let du = hu - geo_f32(pbase + 1u);
        let dv = hv - geo_f32(pbase + 2u);
        var inside = false;
        if (geometry[pbase] == SHAPE_RECT) {
          inside = abs(du) <= geo_f32(pbase + 3u) && abs(dv) <= geo_f32(pbase + 4u);
        } else {
          inside = du * du + dv * dv <= geo_f32(pbase + 3u);
        }
        if (inside) {
          hit = pd;
          break;
        }
      }
      if (hit != NO_PD) {
        // Photodetectors register or absorb; they never reflect.
        out.pd = hit;
        out.fate = select(FATE_ABSORBED_WALL, FATE_DETECTED, decide < geometry[params.pd_base + 8u * hit + 5u]);
        break;
      }
      let kind = geometry[wbase];
      if (kind == WALL_ABSORB || !(decide < geometry[wbase + 1u])) {
        out.fate = FATE_ABSORBED_WALL;
        break;
      }
      if (kind == WALL_SPECULAR) {
        d[axis] = -d[axis];
      } else {
        // Lambertian: cos θ = √u to the inward normal, uniform azimuth in the face plane.
        let u1 = unit_open_closed(srf.y);
        let cth = sqrt(u1);
        let sth = sqrt(max(0.0, 1.0 - u1));
        let ph = TWO_PI * unit_closed_open(srf.z);
        var nd = vec3<f32>(0.0);
        let ua = select(0u, 1u, axis == 0u);
        let va = select(2u, 1u, axis == 2u);
        nd[axis] = select(cth, -cth, at_max);
        nd[ua] = sth * cos(ph);
        nd[va] = sth * sin(ph);
        d = nd;
      }
    } else if (d_a < d_s) {
      path += d_a;
      out.fate = FATE_ABSORBED_BULK;
      break;
    } else {
      pos = pos + d_s * d;
      path += d_s;
      let nd = rotate_dir(d, rayleigh_cos(unit_closed_open(blk.z)), TWO_PI * unit_closed_open(blk.w));
      if (out.first_cos == NO_SCATTER) { out.first_cos = dot(d, nd); }
      d = nd;
    }
  }
  out.path = path;
  return out;
}

@compute @workgroup_size(WG)
fn propagate_photons(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let group = wid.x + wid.y * nwg.x;
  let i = group * WG + lid;
  let n = params.source_count * params.photon_count;
  let first_src = params.source_offset + (group * WG) / params.photon_count;
  if (i < n) {
    let src = params.source_offset + i / params.photon_count;
    let photon = params.photon_start + i % params.photon_count;
    let end = run_photon(src, photon);
    if (end.fate == FATE_DETECTED) {
      atomicAdd(&detected[src * params.num_pd + end.pd], 1u);
      if (params.time_bins > 0u) {
        let rel = (end.path * params.inv_group_velocity - params.time_start_ns) / params.bin_width_ns;
        var slot = 0u;
        if (rel >= f32(params.time_bins)) {
          slot = params.time_bins + 1u;
        } else if (rel >= 0.0) {
          slot = u32(floor(rel)) + 1u;
        }
        atomicAdd(&time_hist[(src * params.num_pd + end.pd) * (params.time_bins + 2u) + slot], 1u);
      }
    }
    let local_slot = src - first_src;
    if (local_slot < WG_TALLY_SOURCES) {
      atomicAdd(&wg_tally[local_slot * TALLY_SLOTS + end.fate], 1u);
    } else {
      atomicAdd(&tally[src * TALLY_SLOTS + end.fate], 1u);
    }
    if (RECORD) {
      records[4u * i] = end.fate;
      records[4u * i + 1u] = end.pd;
      records[4u * i + 2u] = bitcast<u32>(end.path);
      records[4u * i + 3u] = bitcast<u32>(end.first_cos);
    }
  }
  // One global atomic per (source, fate) per workgroup instead of one per
  // photon: on GPUs, hundreds of same-address atomics from one workgroup serialise.
  workgroupBarrier();
  if (lid < WG_TALLY_SOURCES * TALLY_SLOTS) {
    let v = atomicLoad(&wg_tally[lid]);
    let src = first_src + lid / TALLY_SLOTS;
    if (v > 0u && src < params.source_offset + params.source_count) {
      atomicAdd(&tally[src * TALLY_SLOTS + lid % TALLY_SLOTS], v);
    }
  }
}
