// Row order of a kernel-map table for the implicit-GEMM sparse conv: the
// table's rows sorted by their neighbour mask (which offsets have a source),
// so that rows sharing a mask sit side by side and a tile of sorted rows
// multiplies few offsets it does not need (on LArTPC tracks a 64-row tile of
// unsorted rows uses ~27 of 27 offsets for ~5 real neighbours per row,
// sorted ~7.5; docs/sparse.md).
//
// The sort is a stable LSD radix sort on the 32-bit key, DIGIT_BITS bits per
// pass (the host picks ⌈keyBits / 8⌉ passes of equal width, at most 8 bits:
// 4 passes for a 3³ kernel's 27 bits, 1 for a 2³ kernel's 8), ascending
// (key, row): the permutation depends only on the table. Each pass is two
// dispatches, count then scatter, over blocks of BLOCK rows. Integer atomics
// only count (order-independent); every position is computed from counts and
// ranks, never from the order in which threads arrive.
//
// Key of a row: with V ≤ 32 offsets, bit k is set iff table[row, k] ≥ 0 (the
// exact mask); with V > 32, bit ⌊32·k / V⌋ (groups of neighbouring offsets).
//
// Buffers:
//   table     i32 [rows, V]            source row per (row, offset), -1 = none
//   keysIn    u32 [rows]               keys of the previous pass (unused when first = 1)
//   valsIn    i32 [rows]               rows of the previous pass (unused when first = 1)
//   keysOut   u32 [rows]               keys, stably sorted by this pass's digit
//   valsOut   i32 [rows]               the matching rows; after the last pass: the permutation
//   counts    u32 [2^DIGIT_BITS, numBlocks]  digit counts per block (digit-major)
//   rowMask   u32 [rows, words]        written by the last pass (last = 1): the
//                                      exact mask words of row valsOut[slot], in slot order
//                                      (word w bit b = offset 32·w + b has a source)
//   mirrorMask u32 [rows, words]       written when last = mirror = 1: the same for
//                                      the mirrored table, table'[row, k] = table[row, V − 1 − k]
//                                      (a submanifold map's inputStationary), which
//                                      shares this order: equal masks stay equal when mirrored
//
// Grid: (numBlocks) workgroups of THREADS = 2048 / 2^DIGIT_BITS invocations;
// BLOCK = 2048 consecutive input slots per workgroup, PER_THREAD = 2^DIGIT_BITS
// consecutive slots per invocation (so the per-digit, per-invocation counts
// of order_scatter always fill the same 8 KB of workgroup memory).

struct Params {
  rows: u32,
  V: u32,
  words: u32,      // ⌈V / 32⌉
  numBlocks: u32,  // ⌈rows / BLOCK⌉
  shift: u32,      // first key bit of this pass's digit
  first: u32,      // 1: keys come from the table, rows are the identity
  last: u32,       // 1: also write rowMask
  mirror: u32,     // 1 (with last): also write mirrorMask
}

override DIGIT_BITS: u32 = 4u;  // 1 … 8
override THREADS: u32 = 128u;   // = BLOCK >> DIGIT_BITS (set by the host)
override PER_THREAD: u32 = 16u; // = 1 << DIGIT_BITS (set by the host)
const BLOCK: u32 = 2048u;
const MAX_DIGITS: u32 = 256u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> table: array<i32>;
@group(0) @binding(2) var<storage, read> keysIn: array<u32>;
@group(0) @binding(3) var<storage, read> valsIn: array<i32>;
@group(0) @binding(4) var<storage, read_write> keysOut: array<u32>;
@group(0) @binding(5) var<storage, read_write> valsOut: array<i32>;
@group(0) @binding(6) var<storage, read_write> counts: array<u32>;
@group(0) @binding(7) var<storage, read_write> rowMask: array<u32>;
@group(0) @binding(8) var<storage, read_write> mirrorMask: array<u32>;

var<workgroup> hist: array<atomic<u32>, MAX_DIGITS>;
var<workgroup> rankScan: array<u32, BLOCK>;   // [digits][THREADS]
var<workgroup> digitBase: array<u32, MAX_DIGITS>;
var<workgroup> digitTotal: array<u32, MAX_DIGITS>;

fn key_of_row(row: u32) -> u32 {
  var key = 0u;
  let V = params.V;
  for (var k = 0u; k < V; k++) {
    if (table[row * V + k] >= 0) {
      var bit = k;
      if (V > 32u) { bit = (32u * k) / V; }
      key |= 1u << bit;
    }
  }
  return key;
}

// (key, row) of input slot `slot` of this pass.
fn entry(slot: u32) -> vec2<u32> {
  if (params.first == 1u) { return vec2<u32>(key_of_row(slot), slot); }
  return vec2<u32>(keysIn[slot], u32(valsIn[slot]));
}

@compute @workgroup_size(THREADS)
fn order_count(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let digits = 1u << DIGIT_BITS;
  for (var d = tid; d < digits; d += THREADS) { atomicStore(&hist[d], 0u); }
  workgroupBarrier();
  let s0 = wid.x * BLOCK + tid * PER_THREAD;
  for (var j = 0u; j < PER_THREAD; j++) {
    let slot = s0 + j;
    if (slot < params.rows) { atomicAdd(&hist[digit_of(entry(slot).x)], 1u); }
  }
  workgroupBarrier();
  for (var d = tid; d < digits; d += THREADS) { counts[d * params.numBlocks + wid.x] = atomicLoad(&hist[d]); }
}

fn digit_of(key: u32) -> u32 {
  return (key >> params.shift) & ((1u << DIGIT_BITS) - 1u);
}

@compute @workgroup_size(THREADS)
fn order_scatter(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let blockId = wid.x;
  let digits = 1u << DIGIT_BITS;
  // Where this block's slots of each digit start: all slots of smaller
  // digits, then this digit's slots in earlier blocks.
  for (var d = tid; d < digits; d += THREADS) {
    var before = 0u;
    var total = 0u;
    for (var b = 0u; b < params.numBlocks; b++) {
      let c = counts[d * params.numBlocks + b];
      if (blockId > b) { before += c; }
      total += c;
    }
    digitTotal[d] = total;
    digitBase[d] = before;
  }
  workgroupBarrier();
  if (tid == 0u) {
    var acc = 0u;
    for (var d = 0u; d < digits; d++) {
      digitBase[d] += acc;
      acc += digitTotal[d];
    }
  }
  workgroupBarrier();

  // This thread's slots, their digits and per-digit counts.
  let s0 = blockId * BLOCK + tid * PER_THREAD;
  var cnt = array<u32, MAX_DIGITS>();
  for (var j = 0u; j < PER_THREAD; j++) {
    let slot = s0 + j;
    if (slot < params.rows) { cnt[digit_of(entry(slot).x)] += 1u; }
  }
  for (var d = 0u; d < digits; d++) { rankScan[d * THREADS + tid] = cnt[d]; }
  workgroupBarrier();
  // Inclusive scan over threads, per digit (Hillis–Steele).
  for (var off = 1u; off < THREADS; off <<= 1u) {
    var add = array<u32, MAX_DIGITS>();
    if (tid >= off) {
      for (var d = 0u; d < digits; d++) { add[d] = rankScan[d * THREADS + tid - off]; }
    }
    workgroupBarrier();
    for (var d = 0u; d < digits; d++) { rankScan[d * THREADS + tid] += add[d]; }
    workgroupBarrier();
  }
  // Stable positions: digit base + earlier threads' slots of the digit + this thread's earlier ones.
  var next = array<u32, MAX_DIGITS>();
  for (var d = 0u; d < digits; d++) { next[d] = digitBase[d] + rankScan[d * THREADS + tid] - cnt[d]; }
  for (var j = 0u; j < PER_THREAD; j++) {
    let slot = s0 + j;
    if (slot >= params.rows) { break; }
    let e = entry(slot);
    let d = digit_of(e.x);
    let pos = next[d];
    next[d] = pos + 1u;
    keysOut[pos] = e.x;
    valsOut[pos] = i32(e.y);
    if (params.last == 1u) {
      let row = e.y;
      for (var w = 0u; w < params.words; w++) {
        var bits = 0u;
        var mirrored = 0u;
        for (var b = 0u; b < 32u; b++) {
          let k = 32u * w + b;
          if (k < params.V) {
            if (table[row * params.V + k] >= 0) { bits |= 1u << b; }
            if (table[row * params.V + params.V - 1u - k] >= 0) { mirrored |= 1u << b; }
          }
        }
        rowMask[pos * params.words + w] = bits;
        if (params.mirror == 1u) { mirrorMask[pos * params.words + w] = mirrored; }
      }
    }
  }
}
