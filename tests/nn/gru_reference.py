"""Slow, per-sentence NumPy reference of a bidirectional GRU classifier and its
LRP explanation, written the same way as ``lstm_reference.py`` (after Arras,
Montavon, Mueller, Samek (2017), "Explaining Recurrent Neural Network
Predictions in Sentiment Analysis", WASSA@EMNLP 2017), adapted to the GRU of
Cho et al. (2014), "Learning Phrase Representations using RNN Encoder-Decoder
for Statistical Machine Translation".

This module is an *independent* reference for tests: it imports nothing from
``sklrp``, works in float64 and uses explicit Python loops over time steps and
hidden units so that every equation can be read off the code.

Weights (sklrp's layout), a dict with, per direction (suffix ``""`` for the
left-to-right encoder, ``"_reverse"`` for the right-to-left one):

* ``input_weight`` (e, 3d), ``recurrent_weight`` (d, 3d), ``bias`` (3d,);
* ``output_weight`` (2d, C) -- rows: the left encoder's last hidden state, then
  the right encoder's; no output bias.

Columns of the 3d axis are in gate order r (reset), u (update), n (candidate).
For one direction at step t, with W = input_weight, U = recurrent_weight,
b = bias (the original GRU: reset applied *before* the recurrent map)::

    r   = sigmoid(x_t W[:, r] + h_{t-1} U[:, r] + b[r])
    u   = sigmoid(x_t W[:, u] + h_{t-1} U[:, u] + b[u])
    s   = r * h_{t-1}
    n   = tanh(x_t W[:, n] + s U[:, n] + b[n])
    h_t = (1 - u) * n + u * h_{t-1},          h_0 = 0

The left encoder reads x_1..x_T, the right encoder the reversed sentence
x_T..x_1, and the scores are ``s = [h^L_T, h^R_T] @ output_weight``.

LRP (epsilon rule with bias factor delta = ``bias_factor``), for lower neuron i
feeding upper neuron j::

    R_{i<-j} = (z_i w_ij + delta * (eps * sign(z_j) + b_j) / N_j)
               / (z_j + eps * sign(z_j)) * R_j,          sign(0) = +1

with z_j the full pre-activation and N_j the number of lower neurons connected
to j:

* output layer: inputs [h^L_T, h^R_T], N = 2d, b = 0, z_j = s_j;
* candidate pre-activation z_n: inputs x_t (e, weights W[:, n]) and
  s = r * h_{t-1} (d, weights U[:, n]), N = e + d, b = b[n];
* gate pre-activations z_r, z_u: inputs x_t (e) and h_{t-1} (d), N = e + d,
  b = b[r], b[u] (reached only when the product rule gives gates relevance);
* sum h_t = (1-u)*n + u*h_{t-1}, per unit j: two inputs, N = 2, b = 0,
  z_j = h_t[j].

Products ``gate * signal`` -- (1-u)*n (gate 1-u, signal n), u*h_{t-1} (gate u,
signal h_{t-1}) and r*h_{t-1} = s (gate r, signal h_{t-1}) -- split their
relevance by ``product``: "signal_take_all" (signal gets all), "half" (R/2
each) or "proportional" (gate gets gate / (gate + signal + eps*sign(.)) * R,
signal likewise).  Element-wise maps pass relevance unchanged: 1-u and u to
z_u, r to z_r, n to z_n.  h_{t-1} collects the signal shares of u*h_{t-1} and
r*h_{t-1} and, in the modes that give gates relevance, what z_r and z_u pass
to it; at t = 1 all of that lands on h_0 and is reported as ``rest``.

Conservation: with ``bias_factor=1`` every linear step redistributes bias and
stabilizer onto its inputs, so ``R_x.sum() + rest == s[target]`` to float64
precision for "signal_take_all" and "half".  The "proportional" rule keeps the
share eps*sign/(gate+signal+eps*sign) * R in its stabilizer;
:func:`lrp_with_leak` returns that amount, and
``R_x.sum() + rest + leak == s[target]`` holds exactly for every mode (leak is
exactly 0 for the other two modes).
"""

import numpy as np

PRODUCTS = ("signal_take_all", "half", "proportional")
SUFFIXES = ("", "_reverse")          # left-to-right, right-to-left


# --------------------------------------------------------------------------- basics


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sign_pos(z):
    """sign with sign(0) = +1 (scalar or array)."""
    return np.where(np.asarray(z) >= 0, 1.0, -1.0)


def random_weights(d, e, C, seed, scale=0.6):
    """Random bi-GRU weights in sklrp's layout: input/recurrent weights
    N(0, scale^2), biases N(0, 0.3^2), output weights N(0, 1)."""
    rng = np.random.default_rng(seed)
    w = {}
    for suffix in SUFFIXES:
        w["input_weight" + suffix] = rng.normal(scale=scale, size=(e, 3 * d))
        w["recurrent_weight" + suffix] = rng.normal(scale=scale, size=(d, 3 * d))
        w["bias" + suffix] = rng.normal(scale=0.3, size=3 * d)
    w["output_weight"] = rng.normal(scale=1.0, size=(2 * d, C))
    return w


def _direction_weights(weights, suffix):
    return {
        "W": np.asarray(weights["input_weight" + suffix], dtype=np.float64),
        "U": np.asarray(weights["recurrent_weight" + suffix], dtype=np.float64),
        "b": np.asarray(weights["bias" + suffix], dtype=np.float64).reshape(-1),
    }


def _gate_slices(d):
    """Column slices of the 3d axis, in the order r, u, n."""
    return {
        "r": slice(0, d),
        "u": slice(d, 2 * d),
        "n": slice(2 * d, 3 * d),
    }


def _embed(E, ids):
    E = np.asarray(E, dtype=np.float64)
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    X = np.zeros((ids.shape[0], E.shape[1]))
    for t in range(ids.shape[0]):
        X[t] = E[ids[t]]
    return X


def _run_direction(W, X):
    """Forward pass of one direction over the rows of X (already in reading
    order).  Returns a dict of per-step arrays; index 0 of ``h`` is the
    initial state, index t (1..T) the state after step t (same for the other
    arrays, whose row 0 is unused)."""
    T = X.shape[0]
    d = W["U"].shape[0]
    sl = _gate_slices(d)
    Wx, U, b = W["W"], W["U"], W["b"]
    h = np.zeros((T + 1, d))
    zr = np.zeros((T + 1, d))
    zu = np.zeros((T + 1, d))
    zn = np.zeros((T + 1, d))
    r = np.zeros((T + 1, d))
    u = np.zeros((T + 1, d))
    s = np.zeros((T + 1, d))          # r * h_{t-1}
    n = np.zeros((T + 1, d))
    for t in range(1, T + 1):
        x_t = X[t - 1]
        h_prev = h[t - 1]
        for j in range(d):
            zr[t, j] = (x_t @ Wx[:, sl["r"].start + j]
                        + h_prev @ U[:, sl["r"].start + j] + b[sl["r"].start + j])
            zu[t, j] = (x_t @ Wx[:, sl["u"].start + j]
                        + h_prev @ U[:, sl["u"].start + j] + b[sl["u"].start + j])
            r[t, j] = sigmoid(zr[t, j])
            u[t, j] = sigmoid(zu[t, j])
        for j in range(d):
            s[t, j] = r[t, j] * h_prev[j]
        for j in range(d):
            zn[t, j] = (x_t @ Wx[:, sl["n"].start + j]
                        + s[t] @ U[:, sl["n"].start + j] + b[sl["n"].start + j])
            n[t, j] = np.tanh(zn[t, j])
            h[t, j] = (1.0 - u[t, j]) * n[t, j] + u[t, j] * h_prev[j]
    return {"X": X, "h": h, "zr": zr, "zu": zu, "zn": zn,
            "r": r, "u": u, "s": s, "n": n}


def _both_directions(weights, E, ids):
    X = _embed(E, ids)
    WL = _direction_weights(weights, "")
    WR = _direction_weights(weights, "_reverse")
    left = _run_direction(WL, X)
    right = _run_direction(WR, X[::-1].copy())
    return X, WL, WR, left, right


def _output_weight(weights):
    return np.asarray(weights["output_weight"], dtype=np.float64)


# --------------------------------------------------------------------------- forward


def forward(weights, E, ids):
    """Scores s (C,) = [h^L_T, h^R_T] @ output_weight (0 for T = 0)."""
    X, WL, _, left, right = _both_directions(weights, E, ids)
    T = X.shape[0]
    Wo = _output_weight(weights)
    d = WL["U"].shape[0]
    C = Wo.shape[1]
    s = np.zeros(C)
    for k in range(C):
        for j in range(d):
            s[k] += left["h"][T, j] * Wo[j, k] + right["h"][T, j] * Wo[d + j, k]
    return s


# --------------------------------------------------------------------------- LRP


def _split_product(gate, signal, R, product, eps):
    """Relevance R of ``gate * signal`` (scalars) -> (R_gate, R_signal, leak)."""
    if product == "signal_take_all":
        return 0.0, R, 0.0
    if product == "half":
        return 0.5 * R, 0.5 * R, 0.0
    if product == "proportional":
        denom = gate + signal + eps * float(sign_pos(gate + signal))
        R_gate = gate / denom * R
        R_signal = signal / denom * R
        return R_gate, R_signal, R - R_gate - R_signal
    raise ValueError(f"unknown product rule {product!r}")


def _lrp_direction(W, fw, R_hT, eps, bias_factor, product):
    """Backward LRP pass through one direction.

    ``R_hT`` (d,) is the relevance of the last hidden state.  Returns
    (R_x (T, e) in reading order of this direction, rest, leak)."""
    X = fw["X"]
    T, e = X.shape
    d = W["U"].shape[0]
    sl = _gate_slices(d)
    Wx, U, b = W["W"], W["U"], W["b"]
    N_pre = e + d                      # lower neurons of z_r, z_u and z_n
    R_h = np.zeros((T + 1, d))
    R_x = np.zeros((T, e))
    R_h[T] = R_hT
    leak = 0.0
    for t in range(T, 0, -1):
        x_t = X[t - 1]
        h_prev = fw["h"][t - 1]
        s_t = fw["s"][t]
        R_zr = np.zeros(d)
        R_zu = np.zeros(d)
        R_zn = np.zeros(d)
        R_s = np.zeros(d)
        for j in range(d):
            # h_t = (1-u)*n + u*h_{t-1}: two inputs, N = 2, b = 0, z = h_t
            h_t = fw["h"][t, j]
            s_h = float(sign_pos(h_t))
            denom = h_t + eps * s_h
            share = bias_factor * (eps * s_h + 0.0) / 2.0
            u_j = fw["u"][t, j]
            n_j = fw["n"][t, j]
            term_un = (1.0 - u_j) * n_j
            term_uh = u_j * h_prev[j]
            R_un = (term_un + share) / denom * R_h[t, j]
            R_uh = (term_uh + share) / denom * R_h[t, j]

            # (1-u) * n: gate 1-u (-> z_u unchanged), signal n (-> z_n unchanged)
            R_1mu, R_n, lk = _split_product(1.0 - u_j, n_j, R_un, product, eps)
            leak += lk
            R_zu[j] += R_1mu
            R_zn[j] += R_n

            # u * h_{t-1}: gate u (-> z_u unchanged), signal h_{t-1}
            R_u, R_hp, lk = _split_product(u_j, h_prev[j], R_uh, product, eps)
            leak += lk
            R_zu[j] += R_u
            R_h[t - 1, j] += R_hp

        # epsilon rule on z_n; inputs x_t (W[:, n]) and s = r*h_{t-1} (U[:, n])
        for j in range(d):
            if R_zn[j] == 0.0:
                continue
            col = sl["n"].start + j
            z_j = fw["zn"][t, j]
            s_j = float(sign_pos(z_j))
            denom = z_j + eps * s_j
            share = bias_factor * (eps * s_j + b[col]) / N_pre
            for k in range(e):
                R_x[t - 1, k] += (x_t[k] * Wx[k, col] + share) / denom * R_zn[j]
            for i in range(d):
                R_s[i] += (s_t[i] * U[i, col] + share) / denom * R_zn[j]

        # s = r * h_{t-1}: gate r (-> z_r unchanged), signal h_{t-1}
        for i in range(d):
            R_r, R_hp, lk = _split_product(fw["r"][t, i], h_prev[i], R_s[i],
                                           product, eps)
            leak += lk
            R_zr[i] += R_r
            R_h[t - 1, i] += R_hp

        # epsilon rule on the gate pre-activations z_r, z_u; inputs x_t, h_{t-1}
        for gate, R_gate, z_gate in (("r", R_zr, fw["zr"]), ("u", R_zu, fw["zu"])):
            for j in range(d):
                if R_gate[j] == 0.0:
                    continue
                col = sl[gate].start + j
                z_j = z_gate[t, j]
                s_j = float(sign_pos(z_j))
                denom = z_j + eps * s_j
                share = bias_factor * (eps * s_j + b[col]) / N_pre
                for k in range(e):
                    R_x[t - 1, k] += (x_t[k] * Wx[k, col] + share) / denom * R_gate[j]
                for i in range(d):
                    R_h[t - 1, i] += (h_prev[i] * U[i, col] + share) / denom * R_gate[j]
    rest = float(R_h[0].sum())
    return R_x, rest, leak


def _check_args(weights, E, ids, target, product):
    if product not in PRODUCTS:
        raise ValueError(f"unknown product rule {product!r}; use one of {PRODUCTS}")
    C = np.asarray(weights["output_weight"]).shape[1]
    if not 0 <= int(target) < C:
        raise ValueError(f"target {target} out of range for {C} classes")


def lrp_with_leak(weights, E, ids, target, eps=0.001, bias_factor=0.0,
                  product="signal_take_all"):
    """Like :func:`lrp`, plus ``leak``: the relevance kept by the stabilizer of
    the "proportional" product rule (exactly 0.0 for the other rules).
    With bias_factor=1: ``R_x.sum() + rest + leak == s[target]``."""
    _check_args(weights, E, ids, target, product)
    X, WL, WR, left, right = _both_directions(weights, E, ids)
    T, e = X.shape
    d = WL["U"].shape[0]
    if T == 0:
        return np.zeros((0, e)), 0.0, 0.0
    Wo = _output_weight(weights)
    s = forward(weights, E, ids)

    # output layer: inputs [h^L_T, h^R_T] (2d), N = 2d, b = 0, z_k = s_k,
    # R_k = s_target on the target output, 0 elsewhere
    N_out = 2 * d
    s_k = s[target]
    sg = float(sign_pos(s_k))
    denom = s_k + eps * sg
    share = bias_factor * (eps * sg + 0.0) / N_out
    R_out = s_k
    R_hL = np.zeros(d)
    R_hR = np.zeros(d)
    for j in range(d):
        R_hL[j] = (left["h"][T, j] * Wo[j, target] + share) / denom * R_out
        R_hR[j] = (right["h"][T, j] * Wo[d + j, target] + share) / denom * R_out

    Rx_L, rest_L, leak_L = _lrp_direction(WL, left, R_hL, eps, bias_factor, product)
    Rx_R, rest_R, leak_R = _lrp_direction(WR, right, R_hR, eps, bias_factor, product)
    R_x = np.zeros((T, e))
    for t in range(T):
        R_x[t] = Rx_L[t] + Rx_R[T - 1 - t]   # re-reverse the right encoder
    return R_x, rest_L + rest_R, leak_L + leak_R


def lrp(weights, E, ids, target, eps=0.001, bias_factor=0.0,
        product="signal_take_all"):
    """LRP relevances (R_x (T, e), rest).

    ``rest`` is the relevance on the initial states h_0 of both directions.
    With bias_factor=1 and product "signal_take_all" or "half",
    ``R_x.sum() + rest == forward(...)[target]`` to float64 precision (see
    :func:`lrp_with_leak` for "proportional")."""
    R_x, rest, _ = lrp_with_leak(weights, E, ids, target, eps=eps,
                                 bias_factor=bias_factor, product=product)
    return R_x, rest


# --------------------------------------------------------------------------- gradient


def _backprop_direction(W, fw, dh_T):
    """Backpropagation through time of one direction: d(out)/d x_t given
    d(out)/d h_T = dh_T.  Returns (T, e) in this direction's reading order."""
    X = fw["X"]
    T, e = X.shape
    d = W["U"].shape[0]
    sl = _gate_slices(d)
    Wx, U = W["W"], W["U"]
    G = np.zeros((T, e))
    dh = dh_T.copy()
    for t in range(T, 0, -1):
        r, u, n = fw["r"][t], fw["u"][t], fw["n"][t]
        h_prev = fw["h"][t - 1]
        dh_prev = np.zeros(d)
        dzr = np.zeros(d)
        dzu = np.zeros(d)
        dzn = np.zeros(d)
        for j in range(d):
            # h = (1-u)*n + u*h_prev
            d_n = dh[j] * (1.0 - u[j])
            d_u = dh[j] * (h_prev[j] - n[j])
            dh_prev[j] += dh[j] * u[j]
            dzn[j] = d_n * (1.0 - n[j] ** 2)
            dzu[j] = d_u * u[j] * (1.0 - u[j])
        # z_n = x W[:, n] + s U[:, n] + b[n]
        ds = U[:, sl["n"]] @ dzn
        for i in range(d):
            # s = r * h_prev
            dzr[i] = ds[i] * h_prev[i] * r[i] * (1.0 - r[i])
            dh_prev[i] += ds[i] * r[i]
        G[t - 1] = (Wx[:, sl["r"]] @ dzr + Wx[:, sl["u"]] @ dzu
                    + Wx[:, sl["n"]] @ dzn)
        dh = dh_prev + U[:, sl["r"]] @ dzr + U[:, sl["u"]] @ dzu
    return G


def gradient(weights, E, ids, target):
    """d s[target] / d x_t, (T, e), summed over both directions (BPTT)."""
    X, WL, WR, left, right = _both_directions(weights, E, ids)
    T = X.shape[0]
    d = WL["U"].shape[0]
    Wo = _output_weight(weights)
    GL = _backprop_direction(WL, left, Wo[:d, target].copy())
    GR = _backprop_direction(WR, right, Wo[d:, target].copy())
    G = np.zeros_like(X)
    for t in range(T):
        G[t] = GL[t] + GR[T - 1 - t]
    return G


def sensitivity(weights, E, ids, target):
    """Sensitivity analysis: ||d s[target] / d x_t||^2 per position, (T,)."""
    G = gradient(weights, E, ids, target)
    return (G ** 2).sum(axis=1)


def gradient_x_input(weights, E, ids, target):
    """Gradient x input: sum_k x_{t,k} * G_{t,k} per position, (T,)."""
    G = gradient(weights, E, ids, target)
    X = _embed(E, ids)
    return (X * G).sum(axis=1)
