// Coordinate hash table and kernel-map builders for sparse convolution.
//
// Keys (docs/sparse.md §2): w1 = (batch << 16) | x, w0 = (y << 16) | z (z = 0
// in 2D), hash = fmix32(w0 ^ fmix32(w1)), bit-identical to coords.ts.
//
// Buffers:
//   coords   i32 [n, cols]          rows (batch, x, y[, z]) of the set being
//                                   inserted (table_insert) or the rows a map is
//                                   built for (subm_map, strided_*), cols = 1 + dim
//   qcoords  i32 [m, cols]          the other set of a strided map (coarse rows
//                                   for strided_out_map's queries come from
//                                   `coords`, fine rows of strided_in_map too)
//   table    atomic<u32> [capacity, 4]  per slot (w0, w1, row + 1, unused);
//                                   row + 1 = 0 marks an empty slot, so a zeroed
//                                   buffer is an empty table. Written by
//                                   table_insert only; later dispatches read it.
//   offsets  i32 [V, 3]             tap displacement of offset k (z = 0 in 2D)
//   os       i32 [numOut, V]        output-stationary table (input row or -1)
//   ins      i32 [numIn, V]         input-stationary table (output row or -1)
//   words    u32 [n, 2], hashes u32 [n]   hash_words (test hook): (w0, w1) -> hash
//   fillbuf  i32 [n]                fill_i32 target
//   counter  atomic<u32> [1]        count_valid result (incremented)
//
// Insertion is race-free without locks or spinning: a slot is claimed by one
// compare-exchange on its row word (0 -> row + 1). The key of a claimed slot
// is never read from the table during insertion; it is recomputed from the
// claiming row of `coords`, which is immutable input, so no thread ever sees
// a half-published key. A thread that meets its own key (a duplicate row)
// does atomicMin on the row word, so the table keeps the lowest row however
// the race went; the row word only ever holds rows with the slot's key, so
// concurrent comparisons stay correct while it changes. The key words are
// stored by the claiming thread for the queries of later dispatches, which
// then need one 16-byte slot read per probe.
//
// Grids: one invocation per row (table_insert, hash_words, fill_i32,
// count_valid) or per (row, offset) pair (subm_map over half the offsets,
// strided_*_map over all); 1-D index folded into y: gid.x + gid.y * nwg.x * WG.

struct Params {
  n: u32,        // rows of `coords` (or elements for fill_i32 / count_valid / hash_words)
  cols: u32,     // 1 + dim
  mask: u32,     // capacity - 1 of the table queried or filled
  V: u32,        // kernel volume
  half: u32,     // (V - 1) / 2 for subm_map
  sx: u32,       // strides (strided maps), 1 otherwise
  sy: u32,
  sz: u32,
  value: i32,    // fill_i32 value
}

const WG: u32 = 256u;
const SLOT_WORDS: u32 = 4u;
const ROW_WORD: u32 = 2u;
const EMPTY: u32 = 0u;
const MAX_COORD: i32 = 65535;
const NONE: i32 = -1;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> coords: array<i32>;
@group(0) @binding(2) var<storage, read_write> table: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read> offsets: array<i32>;
@group(0) @binding(4) var<storage, read_write> os: array<i32>;
@group(0) @binding(5) var<storage, read_write> ins: array<i32>;
@group(0) @binding(6) var<storage, read> words: array<u32>;
@group(0) @binding(7) var<storage, read_write> hashes: array<u32>;
@group(0) @binding(8) var<storage, read_write> fillbuf: array<i32>;
@group(0) @binding(9) var<storage, read_write> counter: array<atomic<u32>>;
@group(0) @binding(10) var<storage, read> vals: array<i32>;

fn fmix32(x: u32) -> u32 {
  var h = x;
  h ^= h >> 16u;
  h *= 0x85ebca6bu;
  h ^= h >> 13u;
  h *= 0xc2b2ae35u;
  h ^= h >> 16u;
  return h;
}

fn hash_key(w0: u32, w1: u32) -> u32 {
  return fmix32(w0 ^ fmix32(w1));
}

fn linear_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

// (w0, w1) of a site; the caller has range-checked every component.
fn pack(b: i32, x: i32, y: i32, z: i32) -> vec2<u32> {
  return vec2<u32>((u32(y) << 16u) | u32(z), (u32(b) << 16u) | u32(x));
}

// Site of coords row r as (batch, x, y, z), z = 0 in 2D.
fn site_of(r: u32) -> vec4<i32> {
  let o = r * params.cols;
  var z = 0;
  if (params.cols == 4u) { z = coords[o + 3u]; }
  return vec4<i32>(coords[o], coords[o + 1u], coords[o + 2u], z);
}

fn in_range(p: vec3<i32>) -> bool {
  return all(p >= vec3<i32>(0)) && all(p <= vec3<i32>(MAX_COORD));
}

// Row stored for a key, or -1. Probing stops at an empty slot; the capacity
// bound only guards against a full table (the host keeps load ≤ 1/2).
fn lookup(key: vec2<u32>) -> i32 {
  var s = hash_key(key.x, key.y) & params.mask;
  for (var probe = 0u; probe <= params.mask; probe++) {
    let base = s * SLOT_WORDS;
    let row1 = atomicLoad(&table[base + ROW_WORD]);
    if (row1 == EMPTY) { return NONE; }
    if (atomicLoad(&table[base]) == key.x && atomicLoad(&table[base + 1u]) == key.y) { return i32(row1) - 1; }
    s = (s + 1u) & params.mask;
  }
  return NONE;
}

fn offset_of(k: u32) -> vec3<i32> {
  return vec3<i32>(offsets[3u * k], offsets[3u * k + 1u], offsets[3u * k + 2u]);
}

@compute @workgroup_size(WG)
fn hash_words(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg);
  if (i >= params.n) { return; }
  hashes[i] = hash_key(words[2u * i], words[2u * i + 1u]);
}

@compute @workgroup_size(WG)
fn fill_i32(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_index(gid, nwg);
  if (i >= params.n) { return; }
  fillbuf[i] = params.value;
}

// Inserts every row of `coords`; duplicate sites keep their lowest row.
@compute @workgroup_size(WG)
fn table_insert(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = linear_index(gid, nwg);
  if (r >= params.n) { return; }
  let p = site_of(r);
  let key = pack(p.x, p.y, p.z, p.w);
  var s = hash_key(key.x, key.y) & params.mask;
  for (var probe = 0u; probe <= params.mask; probe++) {
    let base = s * SLOT_WORDS;
    let res = atomicCompareExchangeWeak(&table[base + ROW_WORD], EMPTY, r + 1u);
    if (res.exchanged) {
      atomicStore(&table[base], key.x);
      atomicStore(&table[base + 1u], key.y);
      return;
    }
    if (res.old_value == EMPTY) {
      // A weak compare-exchange may fail spuriously: retry the same slot.
      continue;
    }
    let q = site_of(res.old_value - 1u);
    if (all(q == p)) {
      atomicMin(&table[base + ROW_WORD], r + 1u);
      return;
    }
    s = (s + 1u) & params.mask;
  }
}

// Submanifold map, one invocation per (row o, offset k < half): finds the
// neighbour i at d_k and writes both tables at both ends of the pair, using
// that (i, o) at k  <=>  (o, i) at V - 1 - k. Entries never written keep the
// -1 that fill_i32 put there. Every entry has exactly one writer: os[o, k]
// and ins[o, V-1-k] (k < half) by invocation (o, k) itself; os[i, V-1-k] and
// ins[i, k] by the invocation of i's unique neighbour o = site(i) - d_k.
// The k == 0 invocation also writes the centre tap, which is always o itself.
@compute @workgroup_size(WG)
fn subm_map(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg);
  let per = max(params.half, 1u);
  if (t >= params.n * per) { return; }
  let o = t / per;
  let k = t % per;
  let V = params.V;
  if (k == 0u) {
    os[o * V + params.half] = i32(o);
    ins[o * V + params.half] = i32(o);
  }
  if (k >= params.half) { return; }
  let p = site_of(o);
  let q = p.yzw + offset_of(k);
  var i = NONE;
  if (in_range(q)) { i = lookup(pack(p.x, q.x, q.y, q.z)); }
  let m = V - 1u - k;
  os[o * V + k] = i;
  ins[o * V + m] = i;
  if (i >= 0) {
    os[u32(i) * V + m] = i32(o);
    ins[u32(i) * V + k] = i32(o);
  }
}

// Strided map, output side: one invocation per (coarse row o, offset k);
// os[o, k] = fine row at q_o * stride + d_k (table = the fine set's).
@compute @workgroup_size(WG)
fn strided_out_map(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg);
  if (t >= params.n * params.V) { return; }
  let o = t / params.V;
  let k = t % params.V;
  let p = site_of(o);
  let st = vec3<i32>(i32(params.sx), i32(params.sy), i32(params.sz));
  let q = p.yzw * st + offset_of(k);
  var i = NONE;
  if (in_range(q)) { i = lookup(pack(p.x, q.x, q.y, q.z)); }
  os[t] = i;
}

// Strided map, input side: one invocation per (fine row i, offset k);
// ins[i, k] = coarse row q with coord(i) = q * stride + d_k (table = the
// coarse set's). Written into `os` so that one binding serves both sides.
@compute @workgroup_size(WG)
fn strided_in_map(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linear_index(gid, nwg);
  if (t >= params.n * params.V) { return; }
  let i = t / params.V;
  let k = t % params.V;
  let p = site_of(i);
  let st = vec3<i32>(i32(params.sx), i32(params.sy), i32(params.sz));
  let diff = p.yzw - offset_of(k);
  var o = NONE;
  // Only fine sites that sit exactly on tap k of a coarse site qualify.
  if (all(diff >= vec3<i32>(0)) && all(diff % st == vec3<i32>(0))) {
    let q = diff / st;
    o = lookup(pack(p.x, q.x, q.y, q.z));
  }
  os[t] = o;
}

// Counts entries >= 0 of `vals` (a map table): one atomicAdd per workgroup.
var<workgroup> wgCount: atomic<u32>;

@compute @workgroup_size(WG)
fn count_valid(
  @builtin(global_invocation_id) gid: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let i = linear_index(gid, nwg);
  if (lid == 0u) { atomicStore(&wgCount, 0u); }
  workgroupBarrier();
  if (i < params.n && vals[i] >= 0) { atomicAdd(&wgCount, 1u); }
  workgroupBarrier();
  if (lid == 0u) { atomicAdd(&counter[0], atomicLoad(&wgCount)); }
}
