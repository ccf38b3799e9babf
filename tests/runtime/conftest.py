from __future__ import annotations

import torch

# Small models on a shared 2-core machine: one intra-op thread is faster (no contention) and
# keeps the timings of these tests stable.
torch.set_num_threads(1)
