"""Plain-numpy reference of GShard top-k routing, written from the spec.

Deliberately naive: explicit Python loops over groups, tokens and experts,
float64 throughout, and slot counters instead of cumulative sums, so that it
checks `glam_tf.layers.routing.top_k_routing` by a different route.

Not a test module (no `test_` prefix); loaded by path from test_routing.py.
"""

import math

import numpy as np


def _softmax(row):
    top = max(row)
    exps = [math.exp(v - top) for v in row]
    total = sum(exps)
    return [v / total for v in exps]


def _logsumexp(row):
    top = max(row)
    return top + math.log(sum(math.exp(v - top) for v in row))


def _argmax(values, exclude=None):
    """Index of the largest value, first index on ties, skipping `exclude`."""
    best = None
    for e, v in enumerate(values):
        if e == exclude:
            continue
        if best is None or v > values[best]:
            best = e
    return best


def reference_top_k_routing(logits, padding_mask, *, top_k, capacity,
                            second_expert_policy="all", second_expert_threshold=0.2,
                            noise=None):
    """Returns a dict with the fields of Routing and RoutingStats as numpy arrays."""
    logits = np.asarray(logits, np.float64)
    padding_mask = np.asarray(padding_mask)
    if noise is not None:
        noise = np.asarray(noise, np.float64)
    num_groups, group_size, num_experts = logits.shape
    assert top_k in (1, 2)
    capacity = int(capacity)

    expert_index = np.zeros((num_groups, group_size, top_k), np.int32)
    position = np.zeros((num_groups, group_size, top_k), np.int32)
    gate = np.zeros((num_groups, group_size, top_k), np.float64)
    kept = np.zeros((num_groups, group_size, top_k), bool)
    wanted = np.zeros((num_groups, group_size, top_k), bool)

    aux_values = []
    z_values = []
    entropy_values = []
    kept_count_histogram = [0] * (top_k + 1)
    load = [0] * num_experts
    wanted_per_choice = [0] * top_k
    dropped_per_choice = [0] * top_k
    total_real = 0

    for g in range(num_groups):
        gates_of_token = []
        raw_gates = np.zeros((group_size, top_k))
        real = [bool(padding_mask[g, s] != 0) for s in range(group_size)]

        # 1-2. Choices, gates and which choices are wanted.
        for s in range(group_size):
            row = [float(v) for v in logits[g, s]]
            gates = _softmax(row)
            gates_of_token.append(gates)
            e1 = _argmax(row)
            g1 = gates[e1]
            expert_index[g, s, 0] = e1
            wanted[g, s, 0] = real[s]
            if top_k == 2:
                if second_expert_policy == "sampling":
                    scores = [row[e] + float(noise[g, s, e]) for e in range(num_experts)]
                else:
                    scores = row
                e2 = _argmax(scores, exclude=e1)
                g2 = gates[e2]
                d = g1 + g2 + 1e-9
                g1, g2 = g1 / d, g2 / d
                expert_index[g, s, 1] = e2
                raw_gates[s, 1] = g2
                want2 = real[s]
                if second_expert_policy == "random":
                    want2 = want2 and float(noise[g, s]) < g2 / second_expert_threshold
                wanted[g, s, 1] = want2
            raw_gates[s, 0] = g1

        # 3. Slots: choice 1 of every token first, then choice 2, tokens in order.
        used = [0] * num_experts
        for k in range(top_k):
            for s in range(group_size):
                if not wanted[g, s, k]:
                    continue
                e = expert_index[g, s, k]
                slot = used[e]
                if slot >= capacity:
                    continue  # dropped: takes no slot
                used[e] += 1
                kept[g, s, k] = True
                position[g, s, k] = slot
                gate[g, s, k] = raw_gates[s, k]

        # 4. Load-balancing loss of the group.
        n = sum(real)
        if n > 0:
            density = [0.0] * num_experts
            proxy = [0.0] * num_experts
            for s in range(group_size):
                if not real[s]:
                    continue
                density[expert_index[g, s, 0]] += 1.0 / n
                for e in range(num_experts):
                    proxy[e] += gates_of_token[s][e] / n
            mean = sum(density[e] * proxy[e] for e in range(num_experts)) / num_experts
            aux_values.append(num_experts ** 2 * mean)

        # 5-6. Per-token statistics.
        for s in range(group_size):
            if not real[s]:
                continue
            total_real += 1
            z_values.append(_logsumexp([float(v) for v in logits[g, s]]) ** 2)
            entropy_values.append(-sum(p * math.log(p) for p in gates_of_token[s] if p > 0))
            kept_count_histogram[int(sum(kept[g, s]))] += 1
            for k in range(top_k):
                if wanted[g, s, k]:
                    wanted_per_choice[k] += 1
                    if kept[g, s, k]:
                        load[expert_index[g, s, k]] += 1
                    else:
                        dropped_per_choice[k] += 1

    total_kept = sum(load)
    return dict(
        expert_index=expert_index,
        position=position,
        gate=gate,
        kept=kept,
        wanted=wanted,
        aux_loss=sum(aux_values) / len(aux_values) if aux_values else 0.0,
        router_z_loss=sum(z_values) / len(z_values) if z_values else 0.0,
        router_entropy=sum(entropy_values) / len(entropy_values) if entropy_values else 0.0,
        fraction_routed=np.array([c / total_real if total_real else 0.0
                                  for c in kept_count_histogram]),
        expert_load=np.array([c / total_kept if total_kept else 0.0 for c in load]),
        over_capacity=np.array([d / w if w else 0.0
                                for d, w in zip(dropped_per_choice, wanted_per_choice)]),
    )
