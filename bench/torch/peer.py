#!/usr/bin/env python3
"""PyTorch peer for ghostgrad's benchmark suites.

Runs the same workloads as bench/matmul.bench.mjs, bench/photon.bench.mjs and
bench/uresnet.bench.mjs in plain PyTorch and prints ONE JSON object on stdout:

    {"peer": "pytorch", "torch": "2.x", "device": "cuda" | "cpu", "deviceName": ...,
     "dtype": "float32", "tf32": false, ..., "results": [ {one row per case/pass}, ... ]}

Subcommands (see --help of each):

    matmul  --n 1024,4096
    siren   --config 2x2|icarus --batch B --pass forward,forward+backward
    uresnet --coords FILE [--feats FILE] [--labels FILE] --depth D --filters F --reps R
            --pass forward,forward+backward

Common options: --device auto|cuda|cpu (auto = cuda when available), --warmup W,
--iters N, --max-time S (stop repeating after S seconds, at least one timed
call), --threads T (CPU intra-op threads).

Timing: W warm-up calls, then up to N timed calls. Each timed call records
wall time (perf_counter around the call and a device synchronize) and, on
CUDA, the CUDA-event time between the call's first and last launch
(`gpuMs`; it includes any gaps where the GPU waited for the host). The
output tensor is then copied to the host; `wallReadbackMs` is the wall time
including that copy (ghostgrad's and tfjs's wallMs include their readback).
fp32 is real fp32: TF32 is switched off for matmul and cuDNN, and the
float32 matmul precision is 'highest'.

Only the standard library and torch are needed. When torch cannot be
imported the script prints {"unavailable": "..."} and exits with status 3;
any other failure prints {"error": "..."} and exits with status 1.
"""

import argparse
import json
import math
import platform
import statistics
import sys
import time
import traceback

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except Exception as e:  # pragma: no cover - depends on the machine
    print(json.dumps({"peer": "pytorch", "unavailable": "torch is not importable by %s: %s" % (sys.executable, e)}))
    sys.exit(3)


# ---------------------------------------------------------------- device, timing


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def setup_device(name, threads):
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda requested but torch.cuda.is_available() is False")
    if threads:
        torch.set_num_threads(threads)
    # Real fp32: no TF32 anywhere.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    dev = torch.device(name)
    info = {
        "peer": "pytorch",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": dev.type,
        "deviceName": torch.cuda.get_device_name(dev) if dev.type == "cuda" else cpu_name(),
        "cuda": torch.version.cuda if dev.type == "cuda" else None,
        "threads": torch.get_num_threads(),
        "dtype": "float32",
        "tf32": False,
        "float32MatmulPrecision": torch.get_float32_matmul_precision(),
    }
    return dev, info


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


# Two-sided 95 % Student t critical values (the table benchmark.js uses), df 1…30, else 1.96.
_T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131,
        2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042]


def _stats(xs):
    if not xs:
        return None, None, None
    mean = statistics.fmean(xs)
    rme = None
    if len(xs) > 1 and mean > 0:
        sem = statistics.stdev(xs) / math.sqrt(len(xs))
        t = _T95[len(xs) - 2] if len(xs) - 1 <= len(_T95) else 1.96
        rme = 100.0 * t * sem / mean
    return mean, min(xs), rme


def time_call(fn, dev, opts, readback=None, after=None):
    """Times fn() (returns a tensor, or a tuple whose first item is read back).

    readback(out) copies the result to the host (default: out.cpu()); after()
    runs outside the timed window (e.g. dropping gradients). Returns a dict of
    ms figures and, on CUDA, the peak memory of one call above what was
    allocated before it.
    """
    readback = readback or (lambda out: out.detach().cpu())
    after = after or (lambda: None)
    for _ in range(max(opts.warmup, 0)):
        out = fn()
        readback(out)
        del out
        after()
    sync(dev)
    peak_mb = None
    if dev.type == "cuda":
        base = torch.cuda.memory_allocated(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        out = fn()
        sync(dev)
        peak_mb = (torch.cuda.max_memory_allocated(dev) - base) / 2 ** 20
        readback(out)
        del out
        after()
    wall, wall_rb, gpu = [], [], []
    start = time.perf_counter()
    for i in range(max(opts.iters, 1)):
        if dev.type == "cuda":
            e0 = torch.cuda.Event(enable_timing=True)
            e1 = torch.cuda.Event(enable_timing=True)
            e0.record()
        t0 = time.perf_counter()
        out = fn()
        if dev.type == "cuda":
            e1.record()
        sync(dev)
        t1 = time.perf_counter()
        readback(out)
        t2 = time.perf_counter()
        del out
        after()
        wall.append((t1 - t0) * 1e3)
        wall_rb.append((t2 - t0) * 1e3)
        if dev.type == "cuda":
            gpu.append(e0.elapsed_time(e1))
        if time.perf_counter() - start > opts.max_time:
            break
    wmean, wmin, wrme = _stats(wall)
    gmean, gmin, _ = _stats(gpu)
    return {
        "wallMs": wmean,
        "wallMinMs": wmin,
        "wallReadbackMs": statistics.fmean(wall_rb),
        "gpuMs": gmean,
        "gpuMinMs": gmin,
        "rme": wrme,
        "samples": len(wall),
        "peakMB": peak_mb,
    }


def best_ms(t):
    """The time a rate is computed from: CUDA-event time where there is one, else wall time."""
    return t["gpuMs"] if t["gpuMs"] is not None else t["wallMs"]


def parse_list(s, cast=str):
    return [cast(v) for v in str(s).split(",") if v != ""]


# ---------------------------------------------------------------- matmul


def cmd_matmul(args, dev, info):
    results = []
    for n in parse_list(args.n, int):
        i = torch.arange(n * n, dtype=torch.int64)
        host = (((i * 7919) % 1000).to(torch.float32) / 1000 - 0.5).reshape(n, n)  # as bench/matmul.bench.mjs
        a = host.to(dev)
        b = host.clone().to(dev)
        t = time_call(lambda: torch.matmul(a, b), dev, args)
        flops = 2.0 * n ** 3
        t.update({"n": n, "flops": flops, "gflops": flops / (best_ms(t) * 1e6)})
        results.append(t)
        del a, b
    return {"case": {"op": "C = A·B", "dtype": "float32"}, "results": results}


# ---------------------------------------------------------------- SIREN

# Same presets as SIREN_PRESET_2X2 / SIREN_PRESET_ICARUS in src/kernels/photon/siren.reference.ts.
SIREN_PRESETS = {
    "2x2": dict(inputDim=3, hiddenWidth=256, hiddenLayers=4, outputDim=48, omegaFirst=30.0, omegaHidden=30.0, output="sine"),
    "icarus": dict(inputDim=3, hiddenWidth=512, hiddenLayers=6, outputDim=180, omegaFirst=30.0, omegaHidden=30.0, output="sine"),
}


def siren_layer_shapes(cfg):
    last = cfg["hiddenLayers"]
    shapes = []
    for l in range(last + 1):
        shapes.append(dict(
            inFeatures=cfg["inputDim"] if l == 0 else cfg["hiddenWidth"],
            outFeatures=cfg["outputDim"] if l == last else cfg["hiddenWidth"],
            omega=cfg["omegaFirst"] if l == 0 else cfg["omegaHidden"],
            sine=l < last or cfg["output"] == "sine",
        ))
    return shapes


class Siren(nn.Module):
    """h_{l+1} = sin(ω_l (W_l h_l + b_l)); plain nn.Linear + torch.sin, SIREN initialisation."""

    def __init__(self, cfg):
        super().__init__()
        self.shapes = siren_layer_shapes(cfg)
        self.layers = nn.ModuleList(nn.Linear(s["inFeatures"], s["outFeatures"]) for s in self.shapes)
        g = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for l, (s, lin) in enumerate(zip(self.shapes, self.layers)):
                n = s["inFeatures"]
                bound = 1.0 / n if l == 0 else math.sqrt(6.0 / n) / cfg["omegaHidden"]
                lin.weight.uniform_(-bound, bound, generator=g)
                lin.bias.uniform_(-1 / math.sqrt(n), 1 / math.sqrt(n), generator=g)

    def forward(self, x):
        h = x
        for s, lin in zip(self.shapes, self.layers):
            z = lin(h)
            h = torch.sin(s["omega"] * z) if s["sine"] else z
        return h


def cmd_siren(args, dev, info):
    name = args.config.lower()
    if name not in SIREN_PRESETS:
        raise ValueError("unknown --config %r; use 2x2 or icarus" % args.config)
    cfg = SIREN_PRESETS[name]
    net = Siren(cfg).to(dev)
    batch = args.batch
    i = torch.arange(batch * 3, dtype=torch.int64)
    x = ((((i * 7919) % 2000).to(torch.float32) / 1000 - 1) * 0.999).reshape(batch, 3).to(dev)  # as photon.bench.mjs
    flops_fwd = batch * sum(2 * s["inFeatures"] * s["outFeatures"] for s in net.shapes)
    results = []
    for p in parse_list(args.pass_):
        if p == "forward":
            def fn():
                with torch.no_grad():
                    return net(x)
            t = time_call(fn, dev, args)
            flops = flops_fwd
        elif p == "forward+backward":
            xg = x.clone().requires_grad_(True)

            def fn():
                y = net(xg)
                y.sum().backward()  # dL/dy = 1, gradients to W, b and x
                return net.layers[0].weight.grad

            def after():
                net.zero_grad(set_to_none=True)
                xg.grad = None

            t = time_call(fn, dev, args, after=after)
            flops = 3 * flops_fwd
        else:
            raise ValueError("unknown --pass %r; use forward or forward+backward" % p)
        ms = best_ms(t)
        t.update({"config": name, "pass": p, "batch": batch, "flops": flops,
                  "pointsPerSec": batch / (ms / 1e3), "gflops": flops / (ms * 1e6)})
        results.append(t)
    shape = "%d→%d×%d→%d" % (cfg["inputDim"], cfg["hiddenWidth"], cfg["hiddenLayers"], cfg["outputDim"])
    return {"case": {"network": "SIREN " + shape, "omega": [cfg["omegaFirst"], cfg["omegaHidden"]], "output": cfg["output"]},
            "results": results}


# ---------------------------------------------------------------- sparse U-ResNet

# Coordinates are packed into one int64 key with 17 bits per spatial field
# (coordinate + 1, so a neighbour at −1 or 65536 still has its own key and
# never aliases another site) and the batch index above them:
#   key = ((b·S + x+1)·S + y+1)·S + z+1,  S = 2^17
# Sorting keys is the lexicographic (batch, x, y, z) order ghostgrad uses, and
# a displacement (dx, dy, dz) is the constant key offset (dx·S + dy)·S + dz.
KEY_BITS = 17
KEY_S = 1 << KEY_BITS


def coord_keys(c):
    c = c.to(torch.int64)
    return (((c[:, 0] * KEY_S + c[:, 1] + 1) * KEY_S + c[:, 2] + 1) * KEY_S) + c[:, 3] + 1


def keys_to_coords(k):
    z = k % KEY_S - 1
    k = k // KEY_S
    y = k % KEY_S - 1
    k = k // KEY_S
    x = k % KEY_S - 1
    b = k // KEY_S
    return torch.stack([b, x, y, z], 1).to(torch.int32)


def submanifold_offsets(kernel=3):
    """[V, 3] displacements, k = ((dx+r)·K + (dy+r))·K + (dz+r) (ghostgrad's / SparseConvNet's tap order)."""
    r = (kernel - 1) // 2
    return [(i - r, j - r, l - r) for i in range(kernel) for j in range(kernel) for l in range(kernel)]


def build_submanifold_map(coords, kernel=3):
    """Kernel map of a submanifold conv: per tap k, (in_idx, out_idx) with coord(in) = coord(out) + d_k.

    One searchsorted over all taps at once. Returns a list of V (in_idx, out_idx) pairs of int64 tensors;
    the centre tap is the identity and is returned as None (the conv uses x @ W[centre] directly).
    """
    keys = coord_keys(coords)
    sorted_keys, perm = torch.sort(keys)
    offs = submanifold_offsets(kernel)
    delta = torch.tensor([(dx * KEY_S + dy) * KEY_S + dz for dx, dy, dz in offs], dtype=torch.int64, device=keys.device)
    q = keys.unsqueeze(0) + delta.unsqueeze(1)  # [V, N] neighbour keys
    pos = torch.searchsorted(sorted_keys, q).clamp_(max=max(keys.numel() - 1, 0))
    hit = sorted_keys[pos] == q if keys.numel() else torch.zeros_like(q, dtype=torch.bool)
    n = keys.numel()
    out_all = torch.arange(n, device=keys.device)
    centre = len(offs) // 2
    maps = []
    for k in range(len(offs)):
        if k == centre:
            maps.append(None)
            continue
        h = hit[k]
        maps.append((perm[pos[k][h]], out_all[h]))
    return maps


def build_strided_map(coords):
    """Stride-2, kernel-2 (corner anchor) conv: fine site p → coarse ⌊p/2⌋ with tap k = ix·4 + iy·2 + iz.

    Returns (coarse coords sorted by key, list of 8 (in_idx, out_idx) pairs). The transposed conv back
    onto the fine sites uses the same pairs with in and out swapped (MinkowskiEngine reuses the map too).
    """
    c = coords.to(torch.int64)
    coarse = torch.cat([c[:, :1], torch.div(c[:, 1:], 2, rounding_mode="floor")], 1)
    uniq, inv = torch.unique(coord_keys(coarse), sorted=True, return_inverse=True)
    tap = (c[:, 1] % 2) * 4 + (c[:, 2] % 2) * 2 + (c[:, 3] % 2)
    rows = torch.arange(c.shape[0], device=c.device)
    order = torch.sort(tap, stable=True)[1]
    counts = torch.bincount(tap, minlength=8).tolist()
    maps, s = [], 0
    for k in range(8):
        sel = order[s:s + counts[k]]
        s += counts[k]
        maps.append((rows[sel], inv[sel]))
    return keys_to_coords(uniq), maps


def build_maps(coords, depth, kernel=3):
    """All kernel maps of one U-ResNet call: per level its coords, submanifold map and (i < depth−1) down map."""
    levels = []
    c = coords
    for i in range(depth):
        lvl = {"coords": c, "n": c.shape[0], "sub": build_submanifold_map(c, kernel)}
        if i < depth - 1:
            coarse, down = build_strided_map(c)
            lvl["down"] = down
            c = coarse
        levels.append(lvl)
    return levels


def sparse_conv(x, w, maps, n_out, identity=None):
    """out[o] = Σ_k Σ_{(i,o) ∈ map_k} x[i] @ W[k]: gather, GEMM, scatter (index_add_)."""
    if identity is not None:
        out = x @ w[identity]
    else:
        out = x.new_zeros((n_out, w.shape[2]))
    for k, m in enumerate(maps):
        if m is None or m[0].numel() == 0:
            continue
        out.index_add_(0, m[1], x[m[0]] @ w[k])
    return out


def sparse_conv_transpose(x, w, down_maps, n_fine):
    """Transposed stride-2 kernel-2 conv onto the fine sites: coarse q feeds fine 2q + d_k through W[k]."""
    out = x.new_zeros((n_fine, w.shape[2]))
    for k, (fine, coarse) in enumerate(down_maps):
        if fine.numel():
            out.index_add_(0, fine, x[coarse] @ w[k])
    return out


def he_weight(shape, fan_in, leak, gen):
    std = math.sqrt(2.0 / ((1 + leak ** 2) * fan_in))
    return nn.Parameter(torch.randn(shape, generator=gen) * std)


class ResidualBlock(nn.Module):
    """Pre-activation: conv(LReLU(BN(conv(LReLU(BN(x)))))) + (x or x @ proj)."""

    def __init__(self, cin, cout, v, leak, eps, momentum, gen):
        super().__init__()
        self.bn1 = nn.BatchNorm1d(cin, eps=eps, momentum=momentum)
        self.conv1 = he_weight((v, cin, cout), v * cin, leak, gen)
        self.bn2 = nn.BatchNorm1d(cout, eps=eps, momentum=momentum)
        self.conv2 = he_weight((v, cout, cout), v * cout, leak, gen)
        self.proj = he_weight((cin, cout), cin, leak, gen) if cin != cout else None
        self.leak = leak

    def forward(self, x, lvl):
        centre = self.conv1.shape[0] // 2
        h = sparse_conv(F.leaky_relu(self.bn1(x), self.leak), self.conv1, lvl["sub"], lvl["n"], centre)
        h = sparse_conv(F.leaky_relu(self.bn2(h), self.leak), self.conv2, lvl["sub"], lvl["n"], centre)
        return h + (x if self.proj is None else x @ self.proj)


class UResNet(nn.Module):
    """docs/uresnet.md's architecture: P_i = filters·(i+1), reps blocks per level, concat [skip, up]."""

    def __init__(self, depth=5, filters=32, reps=2, in_channels=1, num_classes=5, leak=0.33, eps=1e-4,
                 momentum=0.01, kernel=3, seed=0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        v = kernel ** 3
        P = [filters * (i + 1) for i in range(depth)]
        self.depth, self.leak, self.kernel = depth, leak, kernel
        bn = lambda c: nn.BatchNorm1d(c, eps=eps, momentum=momentum)
        self.input_conv = he_weight((v, in_channels, P[0]), v * in_channels, leak, gen)
        self.enc_blocks = nn.ModuleList()
        self.down_bn = nn.ModuleList()
        self.down_conv = nn.ParameterList()
        for i in range(depth):
            self.enc_blocks.append(nn.ModuleList(ResidualBlock(P[i], P[i], v, leak, eps, momentum, gen) for _ in range(reps)))
            if i < depth - 1:
                self.down_bn.append(bn(P[i]))
                self.down_conv.append(he_weight((8, P[i], P[i + 1]), 8 * P[i], leak, gen))
        self.up_bn = nn.ModuleList()
        self.up_conv = nn.ParameterList()
        self.dec_blocks = nn.ModuleList()
        for i in range(depth - 2, -1, -1):  # decoder level i upsamples onto level i
            self.up_bn.append(bn(P[i + 1]))
            self.up_conv.append(he_weight((8, P[i + 1], P[i]), 8 * P[i + 1], leak, gen))
            blocks = [ResidualBlock(2 * P[i], P[i], v, leak, eps, momentum, gen)]
            blocks += [ResidualBlock(P[i], P[i], v, leak, eps, momentum, gen) for _ in range(reps - 1)]
            self.dec_blocks.append(nn.ModuleList(blocks))
        self.out_bn = bn(P[0])
        self.out_linear = nn.Linear(P[0], num_classes)
        with torch.no_grad():
            self.out_linear.weight.copy_(torch.randn(self.out_linear.weight.shape, generator=gen) * math.sqrt(2.0 / ((1 + leak ** 2) * P[0])))
            self.out_linear.bias.zero_()

    def forward(self, feats, levels):
        act = lambda bn, t: F.leaky_relu(bn(t), self.leak)
        h = sparse_conv(feats, self.input_conv, levels[0]["sub"], levels[0]["n"], self.input_conv.shape[0] // 2)
        skips = []
        for i in range(self.depth):
            for block in self.enc_blocks[i]:
                h = block(h, levels[i])
            if i < self.depth - 1:
                skips.append(h)
                h = sparse_conv(act(self.down_bn[i], h), self.down_conv[i], levels[i]["down"], levels[i + 1]["n"])
        for j, i in enumerate(range(self.depth - 2, -1, -1)):
            up = sparse_conv_transpose(act(self.up_bn[j], h), self.up_conv[j], levels[i]["down"], levels[i]["n"])
            h = torch.cat([skips[i], up], 1)
            for block in self.dec_blocks[j]:
                h = block(h, levels[i])
        return self.out_linear(act(self.out_bn, h))


def read_array(path, dtype, width):
    """A .json file (a flat or nested list, or an object whose 'coords'/'feats'/'labels' key holds it) or raw
    little-endian binary (int32 for coords and labels, float32 for features)."""
    if path.endswith(".json"):
        with open(path) as f:
            data = json.load(f)
        if isinstance(data, dict):
            key = {torch.int32: "coords" if width == 4 else "labels", torch.float32: "feats"}[dtype]
            data = data[key]
        t = torch.tensor(data, dtype=dtype)
    else:
        with open(path, "rb") as f:
            raw = bytearray(f.read())
        if sys.byteorder != "little":  # pragma: no cover
            raise RuntimeError("binary input files are little-endian; this machine is big-endian")
        t = torch.frombuffer(raw, dtype=dtype).clone() if raw else torch.zeros(0, dtype=dtype)
    return t.reshape(-1, width) if width > 1 else t.reshape(-1)


def cmd_uresnet(args, dev, info):
    coords_host = read_array(args.coords, torch.int32, 4)
    n = coords_host.shape[0]
    if n == 0:
        raise ValueError("%s holds no coordinates" % args.coords)
    if int(coords_host[:, 1:].min()) < 0 or int(coords_host[:, 1:].max()) > 0xFFFF or int(coords_host[:, 0].min()) < 0:
        raise ValueError("coordinates must be in 0…65535 and batch indices ≥ 0")
    if torch.unique(coord_keys(coords_host)).numel() != n:
        raise ValueError("duplicate coordinates in %s" % args.coords)
    feats_host = read_array(args.feats, torch.float32, 1).reshape(n, -1) if args.feats else torch.ones(n, 1)
    if args.labels:
        labels_host = read_array(args.labels, torch.int32, 1).to(torch.int64)
    else:
        labels_host = torch.randint(0, 5, (n,), generator=torch.Generator().manual_seed(0))
    model = UResNet(depth=args.depth, filters=args.filters, reps=args.reps, in_channels=feats_host.shape[1],
                    kernel=3).to(dev)
    params = sum(p.numel() for p in model.parameters())
    pin = dev.type == "cuda"
    if pin:
        coords_host, feats_host, labels_host = coords_host.pin_memory(), feats_host.pin_memory(), labels_host.pin_memory()

    def upload():
        return (coords_host.to(dev, non_blocking=True), feats_host.to(dev, non_blocking=True),
                labels_host.to(dev, non_blocking=True))

    def maps_only():
        c, _, _ = upload()
        levels = build_maps(c, args.depth)
        return levels[-1]["coords"]

    results = []
    level_sizes = [lvl["n"] for lvl in build_maps(coords_host.to(dev), args.depth)]
    pairs = sum(m[0].numel() for m in build_maps(coords_host.to(dev), 1)[0]["sub"] if m is not None) + n
    map_t = time_call(maps_only, dev, args)
    for p in parse_list(args.pass_):
        if p == "forward":
            model.eval()

            def fn():
                with torch.no_grad():
                    c, f, _ = upload()
                    return model(f, build_maps(c, args.depth))

            t = time_call(fn, dev, args)
        elif p == "forward+backward":
            model.train()

            def fn():
                c, f, lab = upload()
                logits = model(f, build_maps(c, args.depth))
                F.cross_entropy(logits, lab).backward()
                return model.input_conv.grad

            t = time_call(fn, dev, args, after=lambda: model.zero_grad(set_to_none=True))
        else:
            raise ValueError("unknown --pass %r; use forward or forward+backward" % p)
        t.update({"pass": p, "voxels": n, "batch": int(coords_host[:, 0].max()) + 1,
                  "mapMs": map_t["wallMs"], "mapGpuMs": map_t["gpuMs"]})
        results.append(t)
    return {"case": {"network": "U-ResNet depth %d, filters %d, reps %d" % (args.depth, args.filters, args.reps),
                     "params": params, "levelSites": level_sizes, "submanifoldPairsLevel0": pairs,
                     "maps": "int64 keys, torch.sort + torch.searchsorted per submanifold tap; torch.unique for stride 2; "
                             "the transposed conv reuses the stride-2 map",
                     "conv": "Σ_k index_add(out_idx, x[in_idx] @ W[k]); centre tap as x @ W[13]"},
            "results": results}


# ---------------------------------------------------------------- main


def main(argv=None):
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    common.add_argument("--warmup", type=int, default=2, help="warm-up calls (default 2)")
    common.add_argument("--iters", type=int, default=20, help="timed calls at most (default 20)")
    common.add_argument("--max-time", dest="max_time", type=float, default=5.0,
                        help="stop timing after this many seconds, at least one call (default 5)")
    common.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (default: torch's choice)")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("matmul", parents=[common], help="C = A·B, f32, square")
    m.add_argument("--n", default="1024", help="size(s), comma-separated")
    s = sub.add_parser("siren", parents=[common], help="SIREN forward / forward+backward")
    s.add_argument("--config", default="2x2", help="2x2 or icarus")
    s.add_argument("--batch", type=int, default=65536)
    s.add_argument("--pass", dest="pass_", default="forward,forward+backward")
    u = sub.add_parser("uresnet", parents=[common], help="sparse U-ResNet, gather-GEMM-scatter")
    u.add_argument("--coords", required=True, help="[N,4] int32 (batch,x,y,z): raw little-endian binary or .json")
    u.add_argument("--feats", help="[N,C] float32 features (raw binary or .json); default ones [N,1]")
    u.add_argument("--labels", help="[N] int32 labels 0…4 (raw binary or .json); default random")
    u.add_argument("--depth", type=int, default=5)
    u.add_argument("--filters", type=int, default=32)
    u.add_argument("--reps", type=int, default=2)
    u.add_argument("--pass", dest="pass_", default="forward,forward+backward")
    args = ap.parse_args(argv)
    try:
        dev, info = setup_device(args.device, args.threads)
        out = {"siren": cmd_siren, "matmul": cmd_matmul, "uresnet": cmd_uresnet}[args.cmd](args, dev, info)
        info.update({"subcommand": args.cmd, "warmup": args.warmup, "iters": args.iters, "maxTime": args.max_time})
        info.update(out)
        print(json.dumps(info))
        return 0
    except Exception as e:
        traceback.print_exc(file=sys.stderr)
        print(json.dumps({"peer": "pytorch", "torch": torch.__version__, "error": "%s: %s" % (type(e).__name__, e)}))
        return 1


if __name__ == "__main__":
    sys.exit(main())
