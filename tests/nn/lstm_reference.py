"""Slow, per-sentence NumPy reference of a bidirectional LSTM classifier and its
LRP explanation, after Arras, Montavon, Mueller, Samek (2017), "Explaining
Recurrent Neural Network Predictions in Sentiment Analysis" (WASSA@EMNLP 2017)
and the authors' code ArrasL/LRP_for_LSTM.

This module is an *independent* reference for tests: it imports nothing from
``sklrp``, works in float64 and uses explicit Python loops over time steps and
hidden units so that every equation can be read off the code.

Weights (published layout of ArrasL/LRP_for_LSTM), a dict with

* ``Wxh_Left`` (4d, e), ``bxh_Left`` (4d,), ``Whh_Left`` (4d, d),
  ``bhh_Left`` (4d,) and the same keys with ``_Right``;
* ``Why_Left`` (C, d), ``Why_Right`` (C, d) -- no output bias.

Rows of the 4d axis are in gate order i, g, f, o.  For one direction at step t::

    z   = Wxh @ x_t + bxh + Whh @ h_{t-1} + bhh
    i, f, o = sigmoid(z_i), sigmoid(z_f), sigmoid(z_o);   g = tanh(z_g)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t),              h_0 = c_0 = 0

The left encoder reads x_1..x_T, the right encoder the reversed sentence
x_T..x_1, and the scores are ``s = Why_Left @ h^L_T + Why_Right @ h^R_T``.

LRP (epsilon rule with bias factor delta = ``bias_factor``), for lower neuron i
feeding upper neuron j::

    R_{i<-j} = (z_i w_ij + delta * (eps * sign(z_j) + b_j) / N_j)
               / (z_j + eps * sign(z_j)) * R_j,          sign(0) = +1

with z_j the full pre-activation and N_j the number of lower neurons connected
to j:

* output layer: inputs [h^L_T, h^R_T], N = 2d, b = 0, z_j = s_j;
* gate pre-activations: inputs x_t (e) and h_{t-1} (d), N = e + d,
  b_j = bxh_j + bhh_j;
* cell sum c_t = f*c_{t-1} + i*g, per unit j: two inputs, N = 2, b = 0.
  (The authors' code uses identity-weight layers with N = 2d, spreading the
  share of unit j over all units; both agree at bias_factor = 0.)

Products ``gate * signal`` (h = o*tanh(c), f*c_{t-1}, i*g) split their
relevance by ``product``: "signal_take_all" (signal gets all), "half" (R/2
each) or "proportional" (gate gets gate / (gate + signal + eps*sign(.)) * R,
signal likewise).  Element-wise activations pass relevance unchanged.

Conservation: with ``bias_factor=1`` every linear step redistributes bias and
stabilizer onto its inputs, so ``R_x.sum() + rest == s[target]`` to float64
precision for "signal_take_all" and "half".  The "proportional" product rule as
specified keeps the share eps*sign/(gate+signal+eps*sign) * R in its
stabilizer; :func:`lrp_with_leak` returns that amount, and
``R_x.sum() + rest + leak == s[target]`` holds exactly for every mode (leak is
exactly 0 for the other two modes).
"""

import numpy as np

PRODUCTS = ("signal_take_all", "half", "proportional")


# --------------------------------------------------------------------------- basics


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sign_pos(z):
    """sign with sign(0) = +1 (scalar or array)."""
    return np.where(np.asarray(z) >= 0, 1.0, -1.0)


def _direction_weights(weights, side):
    return {k: np.asarray(weights[k + "_" + side], dtype=np.float64)
            for k in ("Wxh", "bxh", "Whh", "bhh", "Why")}


def _gate_slices(d):
    """Row slices of the 4d axis, in the published order i, g, f, o."""
    return {
        "i": slice(0, d),
        "g": slice(d, 2 * d),
        "f": slice(2 * d, 3 * d),
        "o": slice(3 * d, 4 * d),
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
    order).  Returns a dict of per-step arrays; index 0 of ``h`` and ``c`` is
    the initial state, index t (1..T) the state after step t."""
    T = X.shape[0]
    d = W["Whh"].shape[1]
    sl = _gate_slices(d)
    h = np.zeros((T + 1, d))
    c = np.zeros((T + 1, d))
    z = np.zeros((T + 1, 4 * d))      # pre-activations, row t for step t
    i = np.zeros((T + 1, d))
    g = np.zeros((T + 1, d))
    f = np.zeros((T + 1, d))
    o = np.zeros((T + 1, d))
    for t in range(1, T + 1):
        x_t = X[t - 1]
        z[t] = W["Wxh"] @ x_t + W["bxh"] + W["Whh"] @ h[t - 1] + W["bhh"]
        i[t] = sigmoid(z[t, sl["i"]])
        g[t] = np.tanh(z[t, sl["g"]])
        f[t] = sigmoid(z[t, sl["f"]])
        o[t] = sigmoid(z[t, sl["o"]])
        c[t] = f[t] * c[t - 1] + i[t] * g[t]
        h[t] = o[t] * np.tanh(c[t])
    return {"X": X, "h": h, "c": c, "z": z, "i": i, "g": g, "f": f, "o": o}


def _both_directions(weights, E, ids):
    X = _embed(E, ids)
    WL = _direction_weights(weights, "Left")
    WR = _direction_weights(weights, "Right")
    left = _run_direction(WL, X)
    right = _run_direction(WR, X[::-1].copy())
    return X, WL, WR, left, right


# --------------------------------------------------------------------------- forward


def forward(weights, E, ids):
    """Scores s (C,) = Why_Left @ h^L_T + Why_Right @ h^R_T (0 for T = 0)."""
    X, WL, WR, left, right = _both_directions(weights, E, ids)
    T = X.shape[0]
    return WL["Why"] @ left["h"][T] + WR["Why"] @ right["h"][T]


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
    d = W["Whh"].shape[1]
    sl = _gate_slices(d)
    b = W["bxh"] + W["bhh"]            # bias of each of the 4d pre-activations
    N_gate = e + d                     # lower neurons connected to a gate unit
    R_h = np.zeros((T + 1, d))
    R_c = np.zeros((T + 1, d))
    R_x = np.zeros((T, e))
    R_h[T] = R_hT
    leak = 0.0
    for t in range(T, 0, -1):
        x_t = X[t - 1]
        h_prev = fw["h"][t - 1]
        c_prev = fw["c"][t - 1]
        R_pre = np.zeros(4 * d)        # relevance of the gate pre-activations
        for j in range(d):
            # h_t = o * tanh(c_t): gate o, signal tanh(c_t) (-> c_t unchanged)
            R_o, R_tanh_c, lk = _split_product(
                fw["o"][t, j], np.tanh(fw["c"][t, j]), R_h[t, j], product, eps)
            leak += lk
            R_c[t, j] += R_tanh_c
            R_pre[sl["o"].start + j] = R_o

            # c_t = f*c_{t-1} + i*g: two inputs, N = 2, b = 0, z = c_t
            c_t = fw["c"][t, j]
            s_c = float(sign_pos(c_t))
            denom = c_t + eps * s_c
            share = bias_factor * (eps * s_c + 0.0) / 2.0
            term_fc = fw["f"][t, j] * c_prev[j]
            term_ig = fw["i"][t, j] * fw["g"][t, j]
            R_fc = (term_fc + share) / denom * R_c[t, j]
            R_ig = (term_ig + share) / denom * R_c[t, j]

            # f * c_{t-1}: gate f, signal c_{t-1}
            R_f, R_cp, lk = _split_product(
                fw["f"][t, j], c_prev[j], R_fc, product, eps)
            leak += lk
            R_c[t - 1, j] += R_cp
            R_pre[sl["f"].start + j] = R_f

            # i * g: gate i, signal g (sigmoid/tanh pass relevance unchanged)
            R_i, R_g, lk = _split_product(
                fw["i"][t, j], fw["g"][t, j], R_ig, product, eps)
            leak += lk
            R_pre[sl["i"].start + j] = R_i
            R_pre[sl["g"].start + j] = R_g

        # epsilon rule on each of the 4d pre-activations; inputs x_t, h_{t-1}
        for j in range(4 * d):
            if R_pre[j] == 0.0:
                continue
            z_j = fw["z"][t, j]
            s_j = float(sign_pos(z_j))
            denom = z_j + eps * s_j
            share = bias_factor * (eps * s_j + b[j]) / N_gate
            R_x[t - 1] += (x_t * W["Wxh"][j] + share) / denom * R_pre[j]
            R_h[t - 1] += (h_prev * W["Whh"][j] + share) / denom * R_pre[j]
    rest = float(R_h[0].sum() + R_c[0].sum())
    return R_x, rest, leak


def _check_args(weights, E, ids, target, product):
    if product not in PRODUCTS:
        raise ValueError(f"unknown product rule {product!r}; use one of {PRODUCTS}")
    C = np.asarray(weights["Why_Left"]).shape[0]
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
    d = WL["Whh"].shape[1]
    if T == 0:
        return np.zeros((0, e)), 0.0, 0.0
    s = WL["Why"] @ left["h"][T] + WR["Why"] @ right["h"][T]

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
        R_hL[j] = (left["h"][T, j] * WL["Why"][target, j] + share) / denom * R_out
        R_hR[j] = (right["h"][T, j] * WR["Why"][target, j] + share) / denom * R_out

    Rx_L, rest_L, leak_L = _lrp_direction(WL, left, R_hL, eps, bias_factor, product)
    Rx_R, rest_R, leak_R = _lrp_direction(WR, right, R_hR, eps, bias_factor, product)
    R_x = np.zeros((T, e))
    for t in range(T):
        R_x[t] = Rx_L[t] + Rx_R[T - 1 - t]   # re-reverse the right encoder
    return R_x, rest_L + rest_R, leak_L + leak_R


def lrp(weights, E, ids, target, eps=0.001, bias_factor=0.0,
        product="signal_take_all"):
    """LRP relevances (R_x (T, e), rest).

    ``rest`` is the relevance on the initial states h_0, c_0 of both
    directions.  With bias_factor=1 and product "signal_take_all" or "half",
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
    d = W["Whh"].shape[1]
    sl = _gate_slices(d)
    G = np.zeros((T, e))
    dh = dh_T.copy()
    dc = np.zeros(d)
    for t in range(T, 0, -1):
        i, g, f, o = fw["i"][t], fw["g"][t], fw["f"][t], fw["o"][t]
        tanh_c = np.tanh(fw["c"][t])
        c_prev = fw["c"][t - 1]
        dz = np.zeros(4 * d)
        dc_prev = np.zeros(d)
        for j in range(d):
            # h = o * tanh(c)
            d_o = dh[j] * tanh_c[j]
            dc_j = dc[j] + dh[j] * o[j] * (1.0 - tanh_c[j] ** 2)
            # c = f * c_prev + i * g
            d_f = dc_j * c_prev[j]
            d_i = dc_j * g[j]
            d_g = dc_j * i[j]
            dc_prev[j] = dc_j * f[j]
            # activations
            dz[sl["i"].start + j] = d_i * i[j] * (1.0 - i[j])
            dz[sl["g"].start + j] = d_g * (1.0 - g[j] ** 2)
            dz[sl["f"].start + j] = d_f * f[j] * (1.0 - f[j])
            dz[sl["o"].start + j] = d_o * o[j] * (1.0 - o[j])
        G[t - 1] = W["Wxh"].T @ dz
        dh = W["Whh"].T @ dz
        dc = dc_prev
    return G


def gradient(weights, E, ids, target):
    """d s[target] / d x_t, (T, e), summed over both directions (BPTT)."""
    X, WL, WR, left, right = _both_directions(weights, E, ids)
    T = X.shape[0]
    GL = _backprop_direction(WL, left, WL["Why"][target].copy())
    GR = _backprop_direction(WR, right, WR["Why"][target].copy())
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
