#!/usr/bin/python3
"""DINOv2 training-step benchmark: dinoc vs a PyTorch reference step, same machine, same run.

usage: tools/bench/bench_train.py [--configs fashion-mnist,vits16-b16] [--repeats 5] [--threads 2]
Needs the reference packages (tools/bootstrap.sh reference: python3-torch) and a
built dinoc (build/dinoc). Cases: fashion-mnist (the dinoc config as is) and
vits16-b16 (lightly-example batch_size=16: ViT-S/16, K=65536, 2×224² + 8×96²
crops per image). For each case it writes init.safetensors (every state tensor
`dinoc step --list-state` names: random parameters, zero moments) and
batch.safetensors (the step's inputs, masks and iBOT weights as
tests/models/dinov2_reference.py's make_batch draws them) into a temp dir, then
times one full training step (forward, backward, AdamW, EMA, centers) on them:
  dinoc    `dinoc step ... --threads T --repeat N` (the first step is the warm-up);
  PyTorch  dinov2_reference.py's modules in float32 with torch.set_num_threads(T),
           torch.optim.AdamW (foreach) with dinoc's parameter groups, foreach EMA;
           one warm-up step, then N timed ones.
Each system runs in a fresh subprocess; its peak RSS is that child's ru_maxrss
(os.wait4). Prints the median step time, images/s (B images per step), peak
RSS, the ratios dinoc/PyTorch and the versions measured (dinoc and its oneDNN,
PyTorch). It times only a quiet machine (quiet.py): it
refuses to start beside other work, and marks the results INVALID (exit 3) if
other work appeared while it ran. A case that does not fit (dinoc: "the plan
needs X GB"; PyTorch: killed) is reported in the table and retried at batch 8.
"""
import argparse
import json
import math
import os
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODELS = os.path.join(ROOT, "tests", "models")
sys.path.insert(0, HERE)
import quiet  # noqa: E402
CASES = {
    "fashion-mnist": ("fashion-mnist", []),
    "vits16-b16": ("lightly-example", ["batch_size=16"]),
}
FALLBACK_BATCH = 8


# ---- inputs ---------------------------------------------------------------------------

def dinoc_config(dinoc, name, overrides):
    """`dinoc config` as a dict of field -> string."""
    out = subprocess.run([dinoc, "config", name, "--text", *overrides], check=True, capture_output=True,
                         text=True).stdout
    return dict(l.split(" = ", 1) for l in out.splitlines() if " = " in l and not l.startswith("#"))


def reference_config(f):
    """The dict dinov2_reference.py's Side/make_batch/forward take."""
    b = lambda k: f[k] == "true"  # noqa: E731
    return dict(
        image=int(f["vit.image_size"]), patch=int(f["vit.patch_size"]), chans=int(f["vit.in_chans"]),
        dim=int(f["vit.embed_dim"]), depth=int(f["vit.depth"]), heads=int(f["vit.num_heads"]),
        mlp_ratio=float(f["vit.mlp_ratio"]), registers=int(f["vit.n_registers"]),
        layerscale=float(f["vit.layerscale_init"]), drop_path=float(f["vit.drop_path"]),
        hidden=int(f["head.hidden_dim"]), bottleneck=int(f["head.bottleneck_dim"]),
        K=int(f["head.output_dim"]), batch=int(f["batch_size"]), n_local=int(f["n_local_views"]),
        local=int(f["local_crop_size"]), ibot_separate_head=b("ibot_separate_head"),
        teacher_heads_copied=b("teacher_heads_copied"), centering=f["centering"],
        student_temp=float(f["student_temp"]), center_momentum=float(f["center_momentum"]),
        koleo_weight=float(f["koleo_weight"]), ibot_weight=float(f["ibot_weight"]),
        mask_ratio=(float(f["mask_ratio_min"]), float(f["mask_ratio_max"])),
        mask_probability=float(f["mask_probability"]), layerwise_decay=float(f["layerwise_decay"]),
        patch_embed_lr_mult=float(f["patch_embed_lr_mult"]), clip_grad=float(f["clip_grad"]),
        clip_per_module=b("clip_grad_per_module"), offset=float(f["vit.interpolate_offset"]),
        wd_on_all_params=b("wd_on_all_params"), lr=float(f["lr"]),
        weight_decay=float(f["weight_decay"]), momentum=float(f["momentum_teacher"]),
        teacher_temp=float(f["teacher_temp"]))


def save_safetensors(path, tensors):
    """tensors: list of (name, numpy array of float32 or int64)."""
    header, offset = {}, 0
    for name, a in tensors:
        header[name] = {"dtype": {np.float32: "F32", np.int64: "I64"}[a.dtype.type],
                        "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for _, a in tensors:
            f.write(np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes())


def write_init(dinoc, name, overrides, c, path):
    """Every state tensor of the graph: random parameters near their usual
    initialisation, zero centers, moments and step."""
    out = subprocess.run([dinoc, "step", "--config", name, *overrides, "--list-state"], check=True,
                         capture_output=True, text=True).stdout
    rng = np.random.default_rng(0)
    tensors = []
    for line in out.splitlines():
        tname, ty = line.split()
        m = re.fullmatch(r"(f32|i64)\[([0-9,]*)\]", ty)
        shape = tuple(int(d) for d in m.group(2).split(",") if d)
        if m.group(1) == "i64":
            tensors.append((tname, np.zeros(shape, np.int64)))
            continue
        last = tname.rsplit(".", 1)[-1]
        if tname.endswith((".exp_avg", ".exp_avg_sq")) or "center" in tname or last == "bias":
            a = np.zeros(shape, np.float32)
        elif last == "gamma":
            a = np.full(shape, c["layerscale"], np.float32)
        elif last == "weight_g" or ("norm" in tname and last == "weight"):
            a = np.ones(shape, np.float32)
        else:  # weights, tokens, position embeddings, weight_v
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 and last == "weight" else 50
            a = rng.standard_normal(shape, np.float32) * np.float32(min(0.02, 1 / math.sqrt(fan_in)))
        tensors.append((tname, a))
    save_safetensors(path, tensors)


def write_batch(c, path):
    sys.path.insert(0, MODELS)
    import random

    import torch

    import dinov2_reference as ref
    gen, rng = torch.Generator().manual_seed(0), random.Random(0)
    x = ref.make_batch(dict(c), gen, rng)
    x.update(teacher_temp=torch.tensor(c["teacher_temp"]), lr=torch.tensor(c["lr"]),
             last_layer_lr=torch.tensor(c["lr"]), weight_decay=torch.tensor(c["weight_decay"]),
             momentum=torch.tensor(c["momentum"]))
    if c["n_local"] == 0:
        del x["local_views"], x["keep_local"]
    ref.save_safetensors(path, list(x.items()))
    return int((x["ibot_weight"] != 0).sum()), len(x["ibot_index"])


# ---- the PyTorch step (run in its own process: --torch-child) --------------------------

def torch_child(cfg_path, init_path, batch_path, threads, repeats):
    sys.path.insert(0, MODELS)
    import torch

    import dinov2_reference as ref
    torch.set_default_dtype(torch.float32)  # the reference module sets float64
    torch.set_num_threads(threads)
    with open(cfg_path) as f:
        c = json.load(f)
    init, x = ref.load_safetensors(init_path), ref.load_safetensors(batch_path)
    student, teacher = ref.Side(c), ref.Side(c)
    with torch.no_grad():
        for side, model in (("student.", student), ("teacher.", teacher)):
            for n, p in model.named_parameters():
                p.copy_(init[side + n])
    for p in teacher.parameters():
        p.requires_grad_(False)
    centers = {k: init[k] for k in ("dino_center", "ibot_center") if k in init}
    s_named = [("student." + n, p) for n, p in student.named_parameters()]
    groups = {}
    for n, p in s_named:  # dinoc's AdamW groups (dinov2_reference.param_group)
        scale, decay, last = ref.param_group(c, n)
        groups.setdefault((scale, decay, last), []).append(p)
    lr, llr, wd = (float(x[k]) for k in ("lr", "last_layer_lr", "weight_decay"))
    opt = torch.optim.AdamW([{"params": ps, "lr": (llr if last else lr) * scale,
                              "weight_decay": wd if decay else 0.0}
                             for (scale, decay, last), ps in groups.items()], foreach=True)
    s_params, t_params = list(student.parameters()), list(teacher.parameters())
    mom, b, nl = float(x["momentum"]), c["batch"], c["n_local"]
    index, weight, temp = x["ibot_index"], x["ibot_weight"], x["teacher_temp"]
    real = weight != 0

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.no_grad():
            ft = teacher.backbone(x["global_views"])
            t_cls = teacher.dino_head(ft[:, 0])
            t_patch = teacher.ibot()(ft.reshape(-1, ft.shape[-1])[index])
        fs = student.backbone(x["global_views"], x["mask"], x["keep_global"])
        s_cls_tokens = fs[:, 0]
        s_global = student.dino_head(s_cls_tokens)
        s_patch = student.ibot()(fs.reshape(-1, fs.shape[-1])[index])
        if nl:
            fl = student.backbone(x["local_views"], None, x["keep_local"])
            s_cls = torch.cat([s_global, student.dino_head(fl[:, 0])])
        else:
            s_cls = s_global
        with torch.no_grad():
            if c["centering"] == "sinkhorn":
                p_cls = ref.sinkhorn_knopp(t_cls, temp)
                p_patch = torch.zeros_like(t_patch)
                p_patch[real] = ref.sinkhorn_knopp(t_patch[real], temp)
            else:
                p_cls = ref.centered_probs(t_cls, centers["dino_center"], temp)
                p_patch = ref.centered_probs(t_patch, centers["ibot_center"], temp)
        dino = ref.dino_loss(p_cls, s_cls, c["student_temp"], b, 2 + nl)
        ibot = ref.ibot_loss(p_patch[real], s_patch[real], weight[real], c["student_temp"], 2 * b)
        kol = c["koleo_weight"] * (ref.koleo(s_cls_tokens[:b]) + ref.koleo(s_cls_tokens[b:]))
        loss = dino + c["ibot_weight"] * ibot + kol
        loss.backward()
        if c["clip_grad"] > 0 and c["clip_per_module"]:  # the official rule
            for module in (student.backbone, student.dino_head, getattr(student, "ibot_head", None)):
                if module is not None:
                    torch.nn.utils.clip_grad_norm_(module.parameters(), c["clip_grad"])
        elif c["clip_grad"] > 0:
            torch.nn.utils.clip_grad_norm_(s_params, c["clip_grad"])
        opt.step()
        with torch.no_grad():
            torch._foreach_mul_(t_params, mom)
            torch._foreach_add_(t_params, s_params, alpha=1 - mom)
            if centers:
                mu = c["center_momentum"]
                centers["dino_center"].mul_(mu).add_(t_cls.mean(0, keepdim=True), alpha=1 - mu)
                centers["ibot_center"].mul_(mu).add_(t_patch[real].mean(0, keepdim=True),
                                                     alpha=1 - mu)
        return float(loss)

    loss = step()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    print(f"loss={loss:.6f}")
    print(f"version torch={torch.__version__}")
    print(f"time: median_ms={times[len(times) // 2]:.3f} min_ms={times[0]:.3f} over {repeats} runs")


# ---- running and reporting -------------------------------------------------------------

def run_measured(cmd, log):
    """Runs cmd in a fresh process; (exit status, its stdout+stderr, peak RSS in MB)."""
    with open(log, "w+") as f:
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        f.seek(0)
        text = f.read()
    return p.returncode, text, usage.ru_maxrss / 1024


def measure(name, cmd, log):
    """{'ms': median, 'rss': MB} or {'error': text}."""
    rc, text, rss = run_measured(cmd, log)
    m = re.search(r"median_ms=([0-9.]+)", text)
    if rc == 0 and m:
        loss = re.search(r"loss=([0-9.eE+-]+)", text)
        version = re.search(r"version torch=(\S+)", text)
        return {"ms": float(m.group(1)), "rss": rss, "loss": loss and float(loss.group(1)),
                "version": version and version.group(1)}
    need = re.search(r"needs [0-9.]+ GB[^\n]*", text)
    if need:
        return {"error": f"{name}: {need.group(0)}"}
    why = f"killed by signal {-rc}" if rc < 0 else f"exit {rc}"
    tail = text.strip().splitlines()[-1:] or [""]
    return {"error": f"{name}: {why}: {tail[0][:160]}", "rss": rss}


def run_case(args, watch, work, label, config, overrides):
    c = reference_config(dinoc_config(args.dinoc, config, overrides))
    d = os.path.join(work, label)
    os.makedirs(d, exist_ok=True)
    init, batch, cfg = (os.path.join(d, f) for f in ("init.safetensors", "batch.safetensors",
                                                     "config.json"))
    write_init(args.dinoc, config, overrides, c, init)
    masked, m_max = write_batch(c, batch)
    with open(cfg, "w") as f:
        json.dump(c, f)
    shape = (f"B={c['batch']}, 2x{c['image']}²+{c['n_local']}x{c['local']}², dim {c['dim']}, "
             f"depth {c['depth']}, K={c['K']}, {masked}/{m_max} iBOT rows")
    res = {"case": label, "shape": shape, "B": c["batch"]}
    watch.check(f"before {label}")
    res["dinoc"] = measure("dinoc", [args.dinoc, "step", "--config", config, *overrides, "--init",
                                     init, "--batch", batch, "-o", os.path.join(d, "out"),
                                     "--threads", str(args.threads), "--repeat",
                                     str(args.repeats)], os.path.join(d, "dinoc.log"))
    try:
        with open(os.path.join(d, "out", "losses.json")) as f:
            res["shape"] += f", first-step loss dinoc {json.load(f)['loss']:.4f}"
    except (OSError, ValueError, KeyError):
        pass
    res["torch"] = measure("PyTorch", [sys.executable, os.path.abspath(__file__), "--torch-child",
                                       cfg, init, batch, str(args.threads), str(args.repeats)],
                           os.path.join(d, "torch.log"))
    watch.check(f"after {label}")
    return res


def fmt(r, key, spec):
    return format(r[key], spec) if key in r else "-"


def main():
    if sys.argv[1:2] == ["--torch-child"]:
        cfg, init, batch, threads, repeats = sys.argv[2:7]
        return torch_child(cfg, init, batch, int(threads), int(repeats))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default="fashion-mnist,vits16-b16")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dinoc", default=os.path.join(ROOT, "build", "dinoc"))
    quiet.add_arguments(ap)
    args = ap.parse_args()
    watch = quiet.Watch(args, "bench_train")
    results, notes = [], []
    with tempfile.TemporaryDirectory() as work:
        for label in args.configs.split(","):
            config, overrides = CASES[label]
            r = run_case(args, watch, work, label, config, overrides)
            results.append(r)
            failed = [r[s]["error"] for s in ("dinoc", "torch") if "error" in r[s]]
            if failed and c_batch(overrides) != FALLBACK_BATCH and label != "fashion-mnist":
                notes.append(f"{label} did not run ({'; '.join(failed)}); retried at batch "
                             f"{FALLBACK_BATCH}")
                ov = [o for o in overrides if not o.startswith("batch_size=")]
                results.append(run_case(args, watch, work, f"{label}->b{FALLBACK_BATCH}", config,
                                        ov + [f"batch_size={FALLBACK_BATCH}"]))
    print(f"DINOv2 training step (forward, backward, AdamW, EMA), {args.threads} threads, "
          f"median of {args.repeats} steps after one warm-up step; {os.cpu_count()} CPUs")
    print(f"{'case':<14} {'dinoc ms':>10} {'torch ms':>10} {'dinoc img/s':>12} "
          f"{'torch img/s':>12} {'dinoc MB':>9} {'torch MB':>9} {'time d/t':>9} {'mem d/t':>8}")
    for r in results:
        dc, th = r["dinoc"], r["torch"]
        ips = {s: r["B"] / (r[s]["ms"] / 1e3) for s in ("dinoc", "torch") if "ms" in r[s]}
        t_ratio = f"{dc['ms'] / th['ms']:.2f}" if "ms" in dc and "ms" in th else "-"
        m_ratio = f"{dc['rss'] / th['rss']:.2f}" if "ms" in dc and "ms" in th else "-"
        print(f"{r['case']:<14} {fmt(dc, 'ms', '.1f'):>10} {fmt(th, 'ms', '.1f'):>10} "
              f"{format(ips['dinoc'], '.3g') if 'dinoc' in ips else '-':>12} "
              f"{format(ips['torch'], '.3g') if 'torch' in ips else '-':>12} "
              f"{fmt(dc, 'rss', '.0f') if 'ms' in dc else '-':>9} "
              f"{fmt(th, 'rss', '.0f') if 'ms' in th else '-':>9} {t_ratio:>9} {m_ratio:>8}"
              f"{watch.mark()}")
    for r in results:
        if r["torch"].get("loss") is not None:
            r["shape"] += f", PyTorch {r['torch']['loss']:.4f}"
        print(f"  {r['case']}: {r['shape']}")
        for s in ("dinoc", "torch"):
            if "error" in r[s]:
                print(f"  {r['case']}: {r[s]['error']}")
    for n in notes:
        print(f"  note: {n}")
    torch_versions = sorted({r["torch"]["version"] for r in results if r["torch"].get("version")})
    dinoc_version = subprocess.run([args.dinoc, "version"], check=True, capture_output=True,
                                   text=True).stdout.splitlines()
    print(f"versions: {', '.join(dinoc_version)}, PyTorch {', '.join(torch_versions) or 'did not run'}")
    return watch.report()


def c_batch(overrides):
    for o in overrides:
        if o.startswith("batch_size="):
            return int(o.split("=", 1)[1])
    return None


if __name__ == "__main__":
    sys.exit(main())
