"""The course's vectorised conv and pooling layers against torch on the CPU, side by side, in one run.

    .venv/bin/python benchmarks/conv_pool_benchmark.py [--threads 1] [--repeat 10] [--no-loops]

Times, in float64 (the course's precision) and with the same number of threads for NumPy's BLAS and for
torch, the forward pass and the forward + backward pass of

* course_utils.layers.conv: conv2d on N=64, 16 -> 32 channels, 28x28, kernel 3, padding 1, stride 1;
  the same with stride 2; a 1x1 convolution;
* course_utils.layers.pool: 2x2 max and average pooling on N=64, C=32, 28x28;

against torch.nn.functional (forward under no_grad; forward + backward with torch.autograd.grad for every
input), and the loop version of lesson 06 (conv2d_forward_loops, read from the notebook's solution cell)
on one sample, extrapolated to the batch. Each time is the median of --repeat runs after two warm-up runs.
Goals (issue 9): conv forward + backward within 1.5x of torch, pooling within 2x; the loop version may
be slow, and the table shows by how much. This is a benchmark, not a test: it always exits 0. Timings on
a shared machine move with the load; the load average is printed before and after.
"""

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CONV_GOAL, POOL_GOAL = 1.5, 2.0


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="threads for both NumPy's BLAS and torch")
    parser.add_argument("--repeat", type=int, default=10, help="timed runs per measurement (median)")
    parser.add_argument("--batch", type=int, default=64, help="N")
    parser.add_argument("--no-loops", action="store_true", help="skip the loop version")
    return parser.parse_args()


ARGS = parse_args()
# BLAS reads its thread count when NumPy is first imported: set it before that happens.
for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[variable] = str(ARGS.threads)

import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from course_utils.layers.conv import conv2d_backward, conv2d_forward  # noqa: E402
from course_utils.layers.pool import (  # noqa: E402
    avg_pool2d_backward,
    avg_pool2d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
)

torch.set_num_threads(ARGS.threads)


def median_time(fn, repeat):
    for _ in range(2):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def conv_case(rng, n, c_in, c_out, size, k, stride, padding):
    x = rng.normal(size=(n, c_in, size, size))
    w = rng.normal(size=(c_out, c_in, k, k)) / np.sqrt(c_in * k * k)
    b = rng.normal(size=c_out)
    out, _ = conv2d_forward(x, w, b, stride, padding)
    dout = rng.normal(size=out.shape)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    dt = torch.tensor(dout)
    reference = F.conv2d(xt, wt, bt, stride, padding)
    assert np.allclose(out, reference.detach().numpy(), rtol=1e-9, atol=1e-9)

    def torch_forward():
        with torch.no_grad():
            F.conv2d(xt, wt, bt, stride, padding)

    def torch_both():
        torch.autograd.grad(F.conv2d(xt, wt, bt, stride, padding), (xt, wt, bt), dt)

    def ours_forward():
        conv2d_forward(x, w, b, stride, padding)

    def ours_both():
        conv2d_backward(dout, conv2d_forward(x, w, b, stride, padding)[1])

    return (x, w, b, stride, padding), torch_forward, torch_both, ours_forward, ours_both


def pool_case(rng, n, c, size, forward, backward, torch_fn):
    x = rng.normal(size=(n, c, size, size))
    out, _ = forward(x, 2)
    dout = rng.normal(size=out.shape)
    xt = torch.tensor(x, requires_grad=True)
    dt = torch.tensor(dout)
    assert np.allclose(out, torch_fn(xt, 2).detach().numpy())

    def torch_forward():
        with torch.no_grad():
            torch_fn(xt, 2)

    def torch_both():
        torch.autograd.grad(torch_fn(xt, 2), (xt,), dt)

    def ours_forward():
        forward(x, 2)

    def ours_both():
        backward(dout, forward(x, 2)[1])

    return None, torch_forward, torch_both, ours_forward, ours_both


def loop_version():
    """conv2d_forward_loops from lesson 06's solution cells (what learners read), or None."""
    try:
        import math

        import nbformat

        notebook = nbformat.read(REPO / "notebooks" / "06_convolution.ipynb", as_version=4)
    except (ImportError, OSError):
        return None
    namespace = {"np": np, "math": math}
    for cell in notebook.cells:
        if cell.cell_type == "code" and cell.metadata.get("course", {}).get("role") == "solution":
            exec(compile(cell.source, "<06_convolution solution>", "exec"), namespace)
    return namespace.get("conv2d_forward_loops")


def main():
    n = ARGS.batch
    rng = np.random.default_rng(0)
    print(f"NumPy {np.__version__}, torch {torch.__version__}; float64; {ARGS.threads} thread(s) for both "
          f"(torch.get_num_threads() = {torch.get_num_threads()}); median of {ARGS.repeat} runs; "
          f"load average {os.getloadavg()[0]:.2f}")
    cases = [
        (f"conv 3x3, stride 1, pad 1: N={n}, 16->32, 28x28", CONV_GOAL,
         conv_case(rng, n, 16, 32, 28, 3, 1, 1)),
        (f"conv 3x3, stride 2, pad 1: N={n}, 16->32, 28x28", CONV_GOAL,
         conv_case(rng, n, 16, 32, 28, 3, 2, 1)),
        (f"conv 1x1: N={n}, 16->32, 28x28", CONV_GOAL, conv_case(rng, n, 16, 32, 28, 1, 1, 0)),
        (f"max pool 2x2: N={n}, C=32, 28x28", POOL_GOAL,
         pool_case(rng, n, 32, 28, max_pool2d_forward, max_pool2d_backward, F.max_pool2d)),
        (f"avg pool 2x2: N={n}, C=32, 28x28", POOL_GOAL,
         pool_case(rng, n, 32, 28, avg_pool2d_forward, avg_pool2d_backward, F.avg_pool2d)),
    ]
    header = (f"{'case':<48} {'torch fwd':>10} {'ours fwd':>10} {'ratio':>6}   {'torch f+b':>10} {'ours f+b':>10} "
              f"{'ratio':>6}  {'goal (f+b)':>10}")
    print()
    print(header)
    print("-" * len(header))
    met = True
    torch_forward_times = {}
    for name, goal, (conv_args, torch_forward, torch_both, ours_forward, ours_both) in cases:
        tf, of = median_time(torch_forward, ARGS.repeat), median_time(ours_forward, ARGS.repeat)
        tb, ob = median_time(torch_both, ARGS.repeat), median_time(ours_both, ARGS.repeat)
        ok = ob / tb <= goal
        met &= ok
        torch_forward_times[name] = (tf, conv_args)
        print(f"{name:<48} {tf * 1e3:>8.2f}ms {of * 1e3:>8.2f}ms {of / tf:>5.2f}x   {tb * 1e3:>8.2f}ms "
              f"{ob * 1e3:>8.2f}ms {ob / tb:>5.2f}x  {'<= ' + str(goal) + 'x':>7} {'met' if ok else 'MISSED'}")
    print("-" * len(header))
    print("ratio = ours / torch (below 1: the NumPy layer is faster). All goals met." if met else
          "ratio = ours / torch. Some goals were missed (see MISSED); on a loaded machine, run again.")

    loops = None if ARGS.no_loops else loop_version()
    if loops is not None:
        print(f"\nThe loop version (lesson 06's conv2d_forward_loops), forward only, timed on 1 sample and "
              f"multiplied by N={n}:")
        for name, (tf, conv_args) in torch_forward_times.items():
            if conv_args is None:
                continue
            x, w, b, stride, padding = conv_args
            one = median_time(lambda: loops(x[:1], w, b, stride, padding), 1)
            print(f"  {name:<48} {one * n:>8.2f} s   {one * n / tf:>9,.0f}x torch's forward")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
