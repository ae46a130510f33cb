#!/usr/bin/env python3
"""Self-test of bench/torch/peer.py's sparse U-ResNet (CPU, a few seconds).

Checks, on small hand-made coordinate sets:

1. kernel maps (submanifold 3³, stride-2 kernel-2 down, transposed up) against
   a brute-force Python loop over sites and taps, as sets of (tap, in, out);
2. the same maps and the coarse coordinates (values and row order) against
   ghostgrad's float64 host reference (dist/kernels/sparse/kernel-map.reference.js),
   run through `node`, when node and a built dist/ are present (else skipped, said so);
3. the gather-GEMM-scatter convolutions against dense torch conv3d /
   conv_transpose3d over the bounding box, sampled at the active sites;
4. the parameter count against docs/uresnet.md (149,829 for depth 3 / 8 filters,
   10,956,229 for the default), and one training forward+backward with finite gradients.

Exits 0 when everything matches, 1 on any mismatch. Usage:

    python3 bench/torch/selftest.py          # or "$TORCH_PYTHON" bench/torch/selftest.py
"""

import json
import os
import shutil
import subprocess
import sys

try:
    import torch
    import torch.nn.functional as F
except ImportError as e:
    print("selftest: torch is not importable by %s (%s); run it with the interpreter that has torch" % (sys.executable, e))
    sys.exit(2)

sys.dont_write_bytecode = True  # no __pycache__ in the work tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
failures = []
passed = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    (passed if cond else failures).append(what)


def hand_made_coords():
    rows = []
    for b in (0, 1):
        # a partly filled 3×3×3 cube at the origin (edge neighbours at −1 must be absent)
        for x in range(3):
            for y in range(3):
                for z in range(3):
                    if (x + 2 * y + 3 * z + b) % 4 != 0:
                        rows.append((b, x, y, z))
        # a track along x, odd and even coordinates (all 8 parities of the stride-2 taps)
        for x in range(4, 11):
            rows.append((b, x, 5 + (x % 2), 7 + b))
        # the top of the coordinate range
        rows.append((b, 65535, 65535, 65535))
        rows.append((b, 65534, 65535, 65534))
        rows.append((b, 65535, 0, 65535))
    return torch.tensor(sorted(set(rows))[::-1], dtype=torch.int32)  # reversed: row order ≠ key order


def random_coords(n, box, batches, seed):
    g = torch.Generator().manual_seed(seed)
    c = torch.randint(0, box, (n, 4), generator=g, dtype=torch.int32)
    c[:, 0] = torch.randint(0, batches, (n,), generator=g, dtype=torch.int32)
    c = torch.unique(c, dim=0)
    return c[torch.randperm(c.shape[0], generator=g)]


def triples(maps, centre_identity_n=None):
    s = set()
    for k, m in enumerate(maps):
        if m is None:
            s.update((k, i, i) for i in range(centre_identity_n))
            continue
        s.update((k, int(i), int(o)) for i, o in zip(m[0].tolist(), m[1].tolist()))
    return s


def brute_submanifold(coords):
    rows = [tuple(r) for r in coords.tolist()]
    where = {r: i for i, r in enumerate(rows)}
    offs = peer.submanifold_offsets(3)
    s = set()
    for o, (b, x, y, z) in enumerate(rows):
        for k, (dx, dy, dz) in enumerate(offs):
            i = where.get((b, x + dx, y + dy, z + dz))
            if i is not None:
                s.add((k, i, o))
    return s


def brute_strided(coords):
    rows = [tuple(r) for r in coords.tolist()]
    coarse = sorted({(b, x // 2, y // 2, z // 2) for b, x, y, z in rows})
    where = {r: i for i, r in enumerate(coarse)}
    s = set()
    for i, (b, x, y, z) in enumerate(rows):
        s.add(((x % 2) * 4 + (y % 2) * 2 + (z % 2), i, where[(b, x // 2, y // 2, z // 2)]))
    return coarse, s


JS = r"""
import { readFileSync } from 'node:fs';
const ref = await import(process.argv[1]);
const sets = JSON.parse(readFileSync(0, 'utf8'));
const triples = (m) => { const t = []; for (let k = 0; k < m.kernelVolume; k++) { const p = ref.pairsOf(m, k); for (let j = 0; j < p.inRow.length; j++) t.push([k, p.inRow[j], p.outRow[j]]); } return t; };
const out = sets.map((flat) => {
  const c = Int32Array.from(flat);
  const sub = ref.buildSubmanifoldMap(c, 3, 3);
  const { map: down, outCoords } = ref.buildStridedMap(c, 3, 2, 2);
  const up = ref.buildTransposedMap(outCoords, c, 3, 2, 2);
  return { sub: triples(sub), down: triples(down), up: triples(up), coarse: Array.from(outCoords) };
});
process.stdout.write(JSON.stringify(out));
"""


def ghostgrad_reference(coord_sets):
    """Maps from ghostgrad's host reference, or None (with the reason) when node or dist/ is missing."""
    ref = os.path.join(ROOT, "dist", "kernels", "sparse", "kernel-map.reference.js")
    node = shutil.which("node")
    if not node or not os.path.exists(ref):
        return None, "node or %s missing (run npm run build)" % ref
    r = subprocess.run([node, "--input-type=module", "-e", JS, "file://" + ref],
                       input=json.dumps([c.flatten().tolist() for c in coord_sets]),
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        return None, "node failed: " + r.stderr[-500:]
    return json.loads(r.stdout), None


def dense_checks(coords, seed=0):
    g = torch.Generator().manual_seed(seed)
    n, cin, cout = coords.shape[0], 3, 4
    x = torch.randn(n, cin, generator=g, dtype=torch.float64)
    c = coords.to(torch.int64)
    B, X, Y, Z = (int(c[:, a].max()) + 1 for a in range(4))
    X, Y, Z = (v + v % 2 for v in (X, Y, Z))  # even, so the stride-2 grid covers every site

    def dense(feats, cc, shape):
        d = torch.zeros((shape[0], feats.shape[1]) + tuple(shape[1:]), dtype=feats.dtype)
        d[cc[:, 0], :, cc[:, 1], cc[:, 2], cc[:, 3]] = feats
        return d

    def sample(d, cc):
        return d[cc[:, 0], :, cc[:, 1], cc[:, 2], cc[:, 3]]

    dx = dense(x, c, (B, X, Y, Z))
    # submanifold 3³, W [27, Cin, Cout] with k = (dx+1)·9 + (dy+1)·3 + (dz+1)
    w = torch.randn(27, cin, cout, generator=g, dtype=torch.float64)
    wd = w.reshape(3, 3, 3, cin, cout).permute(4, 3, 0, 1, 2)
    ours = peer.sparse_conv(x, w, peer.build_submanifold_map(coords), n, 13)
    ref = sample(F.conv3d(dx, wd, padding=1), c)
    check(torch.allclose(ours, ref, atol=1e-10), "submanifold conv = dense conv3d at the active sites (max |Δ| %.1e)"
          % (ours - ref).abs().max())
    # stride 2, kernel 2, corner: k = ix·4 + iy·2 + iz
    w2 = torch.randn(8, cin, cout, generator=g, dtype=torch.float64)
    coarse, down = peer.build_strided_map(coords)
    ours = peer.sparse_conv(x, w2, down, coarse.shape[0])
    ref = sample(F.conv3d(dx, w2.reshape(2, 2, 2, cin, cout).permute(4, 3, 0, 1, 2), stride=2), coarse.to(torch.int64))
    check(torch.allclose(ours, ref, atol=1e-10), "stride-2 conv = dense conv3d(stride 2) at the coarse sites")
    # transposed back onto the fine sites
    xc = torch.randn(coarse.shape[0], cout, generator=g, dtype=torch.float64)
    w3 = torch.randn(8, cout, cin, generator=g, dtype=torch.float64)
    ours = peer.sparse_conv_transpose(xc, w3, down, n)
    dc = dense(xc, coarse.to(torch.int64), (B, X // 2, Y // 2, Z // 2))
    ref = sample(F.conv_transpose3d(dc, w3.reshape(2, 2, 2, cout, cin).permute(3, 4, 0, 1, 2), stride=2), c)
    check(torch.allclose(ours, ref, atol=1e-10), "transposed conv = dense conv_transpose3d(stride 2) at the fine sites")


def main():
    torch.set_num_threads(1)
    sets = [hand_made_coords(), random_coords(300, 9, 2, 1), random_coords(200, 6, 3, 2)]
    js, why = ghostgrad_reference(sets)
    if js is None:
        print("skip ghostgrad reference maps: " + why)
    for si, coords in enumerate(sets):
        n = coords.shape[0]
        sub = triples(peer.build_submanifold_map(coords), n)
        coarse_t, down = peer.build_strided_map(coords)
        down_t = triples(down)
        up_t = {(k, o, i) for k, i, o in down_t}
        bs = brute_submanifold(coords)
        bc, bd = brute_strided(coords)
        check(sub == bs, "set %d (%d sites): submanifold map = brute force (%d pairs)" % (si, n, len(bs)))
        check([tuple(r) for r in coarse_t.tolist()] == bc, "set %d: coarse sites = sorted unique ⌊c/2⌋ (%d)" % (si, len(bc)))
        check(down_t == bd, "set %d: stride-2 map = brute force (%d pairs)" % (si, len(bd)))
        if js is not None:
            r = js[si]
            check(sub == {tuple(t) for t in r["sub"]}, "set %d: submanifold map = ghostgrad buildSubmanifoldMap" % si)
            check(coarse_t.flatten().tolist() == r["coarse"], "set %d: coarse sites and order = ghostgrad buildStridedMap" % si)
            check(down_t == {tuple(t) for t in r["down"]}, "set %d: stride-2 map = ghostgrad buildStridedMap" % si)
            check(up_t == {tuple(t) for t in r["up"]}, "set %d: transposed map = ghostgrad buildTransposedMap" % si)
    dense_checks(random_coords(300, 9, 2, 3))

    for (d, f, want) in ((3, 8, 149829), (5, 32, 10956229)):
        got = sum(p.numel() for p in peer.UResNet(depth=d, filters=f, reps=2).parameters())
        check(got == want, "UResNet depth %d filters %d: %d parameters (docs/uresnet.md: %d)" % (d, f, got, want))

    coords = random_coords(400, 16, 2, 4)
    model = peer.UResNet(depth=3, filters=8, reps=2).train()
    feats = torch.rand(coords.shape[0], 1)
    labels = torch.randint(0, 5, (coords.shape[0],))
    loss = F.cross_entropy(model(feats, peer.build_maps(coords, 3)), labels)
    loss.backward()
    finite = all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    check(bool(torch.isfinite(loss)) and finite, "training forward+backward: finite loss %.3f, every parameter has a finite gradient" % loss.item())

    print("selftest: %d passed, %d failed" % (len(passed), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
