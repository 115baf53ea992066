"""sr_golden.py - PyTorch reference data for the SR tests (tests/test_sr3.c,
test_srfast.c, test_sampler.c); called by gen_golden.py's gen_sr().

Writes to tests/golden/:
  sr_tiny_fast.safetensors, sr_tiny_sr3.safetensors  tiny random-weight models
      (F32, with the __metadata__ the C loaders read)
  sr_tiny_sr3_res.safetensors  the same SR3 weights marked target=residual,
      residual_scale=RES_C (SRDiff-style residual diffusion)
  sr_bad_sr3_res.safetensors  metadata-only model with target=residual and no
      usable residual_scale (the loader must refuse it)
  sr_io.safetensors  inputs and outputs:
      tiny_fast.{x,y}, tiny_sr3.{lr,up,xt,eps}, sampler reference updates
      tiny_sr3.{x_ddpm,x_ddim} (steps 100, i = 37, noise z) and their
      residual-target twins tiny_sr3.{x_ddpm_res,x_ddim_res} (c = RES_C, the
      x0 clamp taken from tiny_sr3.up), counter noise
      noise.field, and for each shipped model in models/ (fp16 weights read
      back as f32): <name>.{x,y} (fast) or <name>.{lr,up,xt,eps,z,x_prev} (sr3,
      one DDPM step of the 100-step schedule; x_t and z from the counter noise,
      not from torch's generator; for target=residual models x_t diffuses
      (HR - up) * residual_scale and the steps clamp as the residual sampler).
  sr_tiny_sr3_rgb.safetensors  a tiny colour SR3 (6 in, 3 out) that refines
      sr_tiny_fast.safetensors (base=fast, its SHA-256), and
  sr_rgb_io.safetensors  its references: tiny_rgb.{x,eps} (one network
      evaluation) and whole DDIM runs as `astroenh upscale --model sr3` makes
      them from tests/golden/sr3_rgb_in.png / sr3_grey_in.png (also written):
      rgb.out, grey.out (c x 2h x 2w display values, unclipped) for
      --sampler ddim --steps RGB_STEPS --seed RGB_SEED, rgb_start.out and
      rgb_start_ddpm.out with --start-step RGB_START (DDIM, DDPM), rgb_x4.out
      (--scale 4: the 2x pair run twice)
      (tests/cli/test_sr3_base.sh).
"""
import hashlib
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export  # noqa: E402
import rdn  # noqa: E402
import sr_models as M  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS, STEP_I = 100, 37
RES_C = 4.0
RGB_STEPS, RGB_SEED, RGB_C, RGB_START = 4, 11, 8.0, 300


def randomize(m, g):
    with torch.no_grad():
        for n, p in m.named_parameters():
            if n.endswith("weight") and p.dim() == 1:      # norm scales
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=g))


def sampler_ref(x, eps, z, steps, i, kind, up=None, c=None):
    """One reverse step in float64, as sample_ddpm / sample_ddim; c (with the
    bicubic up) for a residual-target model, None for an image-target one."""
    ab_all = np.cumprod(1.0 - M.respaced_betas(steps))
    ab = ab_all[i]
    ab_prev = ab_all[i - 1] if i > 0 else 1.0
    x, eps, z = (t.double() for t in (x, eps, z))
    x0 = M.clamp_x0((x - np.sqrt(1 - ab) * eps) / np.sqrt(ab), None if up is None else up.double(), c)
    if kind == "ddim":
        e = (x - np.sqrt(ab) * x0) / np.sqrt(1 - ab)
        return (np.sqrt(ab_prev) * x0 + np.sqrt(1 - ab_prev) * e).float()
    beta = 1 - ab / ab_prev
    mean = np.sqrt(ab_prev) * beta / (1 - ab) * x0 + np.sqrt(1 - beta) * (1 - ab_prev) / (1 - ab) * x
    var = beta * (1 - ab_prev) / (1 - ab)
    return (mean + (np.sqrt(var) * z if i > 0 else 0)).float()


def test_image(h, w, seed):
    """A smooth galaxy-like plane with noise, in [-1, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = 0.2 + 0.7 * np.exp(-((yy - h * 0.45) ** 2 + (xx - w * 0.55) ** 2) / (0.1 * h * w))
    img += 0.05 * rng.standard_normal((h, w))
    return torch.tensor(np.clip(img, 0, 1) * 2 - 1, dtype=torch.float32)[None, None]


def counter_noise(seed, stream, h, w):
    return torch.from_numpy(M.noise_field(seed, stream, 1, h, w))[None]


def sr3_case(io, io_meta, name, unet, lr, gamma, seed, c=None):
    """c: residual_scale of a target=residual model, None for target=image."""
    up = M.bicubic_up(lr, 16 // lr.shape[-1])
    h, w = up.shape[-2:]
    hr = (up + 0.1 * torch.tanh(counter_noise(seed, 99, h, w))).clamp(-1, 1)
    x0 = hr if c is None else M.to_target(hr, up, c)
    noise = counter_noise(seed, M.noise_stream(0, 0), h, w)
    xt = gamma * x0 + np.sqrt(1 - gamma * gamma) * noise
    eps = unet(torch.cat([up, xt], 1), torch.tensor([gamma]))
    z = counter_noise(seed, M.noise_stream(0, 5), h, w)
    io_meta[name + ".gamma"] = repr(float(gamma))
    io.update({name + ".lr": lr, name + ".up": up, name + ".xt": xt, name + ".eps": eps, name + ".z": z,
               name + ".x_ddpm": sampler_ref(xt, eps, z, STEPS, STEP_I, "ddpm", up, c),
               name + ".x_ddim": sampler_ref(xt, eps, z, STEPS, STEP_I, "ddim", up, c)})
    return up, xt, eps, z


def load_shipped(path):
    arrays, meta = export.read_safetensors(path)
    sd = {k: torch.from_numpy(v.astype(np.float32)) for k, v in arrays.items()}
    if meta["arch"] == "rdn":
        m = rdn.RDN(**rdn.cfg_from_metadata(meta))
    elif meta["arch"] == "srfast":
        m = M.SRFast(scale=int(meta["scale"]), channels=int(meta["channels"]),
                     n_blocks=int(meta["n_blocks"]), res_scale=float(meta["res_scale"]))
    else:
        m = M.SR3UNet(in_channel=int(meta["in_channel"]), out_channel=int(meta["out_channel"]),
                      inner_channel=int(meta["inner_channel"]), groups=int(meta["norm_groups"]),
                      channel_mults=tuple(int(v) for v in meta["channel_mults"].split(",")),
                      res_blocks=int(meta["res_blocks"]))
    m.load_state_dict(sd)
    return m.eval(), meta


def generate(out_dir, write):
    g = torch.Generator().manual_seed(777)
    io, io_meta = {}, {"steps": str(STEPS), "step_i": str(STEP_I)}
    fast = M.SRFast(scale=2, channels=8, n_blocks=2)
    randomize(fast, g)
    write(os.path.join(out_dir, "sr_tiny_fast.safetensors"), fast.state_dict(),
          {"arch": "srfast", "scale": "2", "channels": "8", "n_blocks": "2", "res_scale": "0.1"})
    x = torch.rand(1, 1, 10, 12, generator=g) * 2 - 1
    io["tiny_fast.x"], io["tiny_fast.y"] = x, fast(x)
    unet = M.SR3UNet(inner_channel=8, groups=4, channel_mults=(1, 2), res_blocks=1).eval()
    randomize(unet, g)
    tiny_meta = {"arch": "sr3", "scale": "2", "in_channel": "2", "out_channel": "1", "inner_channel": "8",
                 "channel_mults": "1,2", "res_blocks": "1", "norm_groups": "4"}
    write(os.path.join(out_dir, "sr_tiny_sr3.safetensors"), unet.state_dict(), tiny_meta)
    write(os.path.join(out_dir, "sr_tiny_sr3_res.safetensors"), unet.state_dict(),
          dict(tiny_meta, target="residual", residual_scale=repr(RES_C)))
    write(os.path.join(out_dir, "sr_bad_sr3_res.safetensors"), {"unused": torch.zeros(1)},
          dict(tiny_meta, target="residual", residual_scale="0"))
    up, xt, eps, z = sr3_case(io, io_meta, "tiny_sr3", unet, torch.rand(1, 1, 8, 8, generator=g) * 2 - 1, 0.7, 11)
    # the same x_t and eps stepped as a residual-target model: x0 is large
    # (x_t / gamma ~ 1.5) against the per-pixel bounds c (+-1 - up), so the clamp
    # differs from the image one on many pixels
    io_meta["tiny_sr3.res_c"] = repr(RES_C)
    io["tiny_sr3.x_ddpm_res"] = sampler_ref(xt, eps, z, STEPS, STEP_I, "ddpm", up, RES_C)
    io["tiny_sr3.x_ddim_res"] = sampler_ref(xt, eps, z, STEPS, STEP_I, "ddim", up, RES_C)
    io["noise.field"] = torch.from_numpy(M.noise_field(123456789, M.noise_stream(2, 7), 2, 5, 6, 3, 1000))
    io_meta["noise.seed"], io_meta["noise.stream"] = "123456789", str(M.noise_stream(2, 7))
    # golden keys fast_x2/fast_x4: the EDSR-like nets (models/fast_x<s>_v1 since the shipped
    # fast_x2 became an RDN, whose golden is scripts/rdn_golden.py --shipped)
    files = {"fast_x2": "fast_x2_v1", "fast_x4": "fast_x4_v1"}
    for name in ("fast_x2", "fast_x4", "sr3_x2", "sr3_x2_v1", "sr3_x4"):
        path = os.path.join(os.environ.get("SR_GOLDEN_MODELS", os.path.join(REPO, "models")),
                            files.get(name, name) + ".safetensors")
        if not os.path.exists(path):
            print("sr golden: %s missing, shipped case skipped" % path)
            continue
        m, meta = load_shipped(path)
        s = int(meta["scale"])
        io_meta[name + ".git_revision"] = meta.get("git_revision", "")
        if meta["arch"] in ("srfast", "rdn"):
            x = test_image(12, 16, s)
            io[name + ".x"], io[name + ".y"] = x, m(x)
        elif meta["out_channel"] == "3":  # a colour model: one network evaluation on 6 planes
            x = torch.cat([test_image(16, 16, 40 + k) for k in range(6)], 1)
            io_meta[name + ".gamma"] = "0.5"
            io[name + ".x"], io[name + ".eps"] = x, m(x, torch.tensor([0.5]))
        else:
            c = float(meta["residual_scale"]) if meta.get("target") == "residual" else None
            if c is not None:
                io_meta[name + ".residual_scale"] = meta["residual_scale"]
            sr3_case(io, io_meta, name, m, test_image(16 // s, 16 // s, s), 0.5, 21 + s, c)
    write(os.path.join(out_dir, "sr_io.safetensors"), io, io_meta)
    generate_rgb(out_dir, write, fast)


def tiled(net, pad, scale=1):
    """net as the stage's one-tile ae_tile_run runs it: the input reflected by
    `pad` pixels per side (src/pipeline/tile.c), the output cropped back."""
    def run(x, *args):
        y = net(torch.nn.functional.pad(x, (pad,) * 4, mode="reflect"), *args)
        return y[..., pad * scale:y.shape[-2] - pad * scale, pad * scale:y.shape[-1] - pad * scale]
    return run


def base_of(fast, disp):
    """The fast net's prediction the colour model refines: disp c x h x w in
    [0,1] -> 1 x c x 2h x 2w in [-1,1], plane by plane, clamped; the stage's
    overlap is twice the net's receptive radius (ae_srfast_radius)."""
    x = torch.from_numpy(disp)[:, None] * 2 - 1
    radius = 3 + 2 * fast.cfg["n_blocks"] + 4
    y = tiled(fast, 2 * radius, 2)(x)
    return y.clamp(-1, 1).permute(1, 0, 2, 3)


def sample_rgb(unet, fast, disp, seed, sampler="ddim", start=None):
    """The whole run of the upscale stage for one 3-plane image (SR3 tiles:
    the whole output with SR3_OVERLAP = 32 px reflected, drive.c); start:
    --start-step (None: the whole schedule)."""
    base = base_of(fast, disp)
    h, w = base.shape[-2:]

    def noise_fn(k):
        return torch.from_numpy(M.noise_field(seed, M.noise_stream(0, k), 3, h, w))[None]
    top = None if start is None else start - 1
    if sampler == "ddim":
        x = M.sample_ddim(tiled(unet, 32), base, RGB_STEPS, noise_fn, residual_scale=RGB_C, top=top)
    else:
        betas = M.respaced_betas(RGB_STEPS, top=top)
        x = M.sample_ddpm(tiled(unet, 32), base, betas, noise_fn, residual_scale=RGB_C, truncated=top is not None)
    return ((x + 1) * 0.5)[0]


def generate_rgb(out_dir, write, fast):
    from PIL import Image
    g = torch.Generator().manual_seed(778)
    unet = M.SR3UNet(in_channel=6, out_channel=3, inner_channel=8, groups=4, channel_mults=(1, 2),
                     res_blocks=1).eval()
    randomize(unet, g)
    fast_path = os.path.join(out_dir, "sr_tiny_fast.safetensors")
    meta = {"arch": "sr3", "scale": "2", "in_channel": "6", "out_channel": "3", "inner_channel": "8",
            "channel_mults": "1,2", "res_blocks": "1", "norm_groups": "4", "target": "residual",
            "residual_scale": repr(RGB_C), "base": "fast", "base_file": "sr_tiny_fast.safetensors",
            "base_sha256": hashlib.sha256(open(fast_path, "rb").read()).hexdigest()}
    write(os.path.join(out_dir, "sr_tiny_sr3_rgb.safetensors"), unet.state_dict(), meta)
    io = {}
    x = torch.rand(1, 6, 8, 8, generator=g) * 2 - 1
    io["tiny_rgb.x"], io["tiny_rgb.eps"] = x, unet(x, torch.tensor([0.6]))
    rng = np.random.default_rng(RGB_SEED)
    yy, xx = np.mgrid[0:24, 0:28]
    rgb = np.stack([0.3 + 0.5 * np.exp(-((yy - 11) ** 2 + (xx - 13 + 2 * k) ** 2) / 40.0) for k in range(3)], -1)
    rgb = np.clip(np.round((rgb + 0.04 * rng.standard_normal(rgb.shape)) * 255), 0, 255).astype(np.uint8)
    Image.fromarray(rgb).save(os.path.join(out_dir, "sr3_rgb_in.png"))
    Image.fromarray(rgb[:, :, 1]).save(os.path.join(out_dir, "sr3_grey_in.png"))
    with torch.no_grad():
        disp = rgb.transpose(2, 0, 1).astype(np.float32) / 255.0
        io["rgb.out"] = sample_rgb(unet, fast, disp, RGB_SEED)
        # 4x: the 2x pair twice, the 2x result clamped to [0,1], the second pass's seed xor'ed (drive.c sr3_once)
        mid = sample_rgb(unet, fast, disp, RGB_SEED).clamp(0, 1).numpy()
        io["rgb_x4.out"] = sample_rgb(unet, fast, mid, RGB_SEED ^ 0x5851F42D4C957F2D)
        io["rgb_start.out"] = sample_rgb(unet, fast, disp, RGB_SEED, "ddim", RGB_START)
        io["rgb_start_ddpm.out"] = sample_rgb(unet, fast, disp, RGB_SEED, "ddpm", RGB_START)
        grey = np.repeat(disp[1:2], 3, 0)
        io["grey.out"] = sample_rgb(unet, fast, grey, RGB_SEED).mean(0, keepdim=True)
    write(os.path.join(out_dir, "sr_rgb_io.safetensors"), io,
          {"steps": str(RGB_STEPS), "seed": str(RGB_SEED), "gamma": "0.6"})
