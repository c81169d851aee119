# MNIST in Julia, from scratch: standard library only (LinearAlgebra's BLAS products, Random),
# the forward pass, backpropagation and SGD with momentum by hand. The contract's plumbing
# (SPEC.md) is the MnistContract module in common/julia/. Run: julia/run.sh --epochs 1
#
# Julia arrays are column-major, so one example is one *column*: images are [784, n] and
# activations [features, batch]. The weights keep PyTorch's [out, in] shape, so every layer
# reads as the math does: h = W * x .+ b.
include(joinpath(@__DIR__, "..", "common", "julia", "src", "MnistContract.jl"))
using .MnistContract
using LinearAlgebra, Random

const ROW = "julia"

# ---------------------------------------------------------------- data
# MnistContract.load_mnist reads the IDX files and splits them (SPEC.md §1): Float32 [784, n]
# images scaled to [0, 1], one image per column, and Int labels 0–9.

# ---------------------------------------------------------------- model
"The six tensors, in PyTorch's names and [out, in] shapes."
struct Params
    fc1_weight::Matrix{Float32}
    fc1_bias::Vector{Float32}
    fc2_weight::Matrix{Float32}
    fc2_bias::Vector{Float32}
    fc3_weight::Matrix{Float32}
    fc3_bias::Vector{Float32}
end

# The six arrays in the weights file's order (TENSOR_NAMES, as load_weights and save_weights use).
tensors(p::Params) = (p.fc1_weight, p.fc1_bias, p.fc2_weight, p.fc2_bias, p.fc3_weight, p.fc3_bias)
zeros_like(p::Params) = Params(map(zero, tensors(p))...)

"PyTorch's nn.Linear default: weights and biases ~ U(-1/sqrt(fan_in), +1/sqrt(fan_in))."
function init_params(rng::AbstractRNG)
    drawn = Array{Float32}[]
    for (fan_in, fan_out) in ((784, 512), (512, 512), (512, 10)), dims in ((fan_out, fan_in), (fan_out,))
        bound = Float32(1 / sqrt(fan_in))  # for fc1, fc2, fc3: a weight, then its bias
        # one draw per element, in Julia's (column-major) element order
        push!(drawn, [(2f0 * rand(rng, Float32) - 1f0) * bound for _ in CartesianIndices(dims)])
    end
    return Params(drawn...)
end

"Every buffer one batch of `n` examples needs, allocated once per batch size."
struct Workspace
    x::Matrix{Float32}        # [784, n] inputs
    labels::Vector{Int}       # [n]
    h1::Matrix{Float32}       # [512, n] after fc1 + ReLU
    h2::Matrix{Float32}       # [512, n] after fc2 + ReLU
    logits::Matrix{Float32}   # [10, n]
    grad_logits::Matrix{Float32}
    grad_h2::Matrix{Float32}
    grad_h1::Matrix{Float32}
end

Workspace(n::Int) = Workspace(zeros(Float32, PIXELS, n), zeros(Int, n),
                              (zeros(Float32, rows, n) for rows in (512, 512, 10, 10, 512, 512))...)

"The examples `indices` (columns of x, entries of y) in a workspace (`cache`: one per batch size)."
function load_batch!(cache::Dict{Int,Workspace}, x::Matrix{Float32}, y::Vector{Int}, indices)
    ws = get!(() -> Workspace(length(indices)), cache, length(indices))
    ws.x .= view(x, :, indices)
    ws.labels .= view(y, indices)
    return ws
end

"C = op(A)·op(B) into the preallocated C, op being 'N' (as is) or 'T' (transposed): BLAS sgemm."
gemm!(C::Matrix{Float32}, tA::Char, A::Matrix{Float32}, tB::Char, B::Matrix{Float32}) =
    BLAS.gemm!(tA, tB, 1f0, A, B, 0f0, C)

"Logits for the batch in ws.x, keeping the hidden activations that backward! needs."
function forward!(ws::Workspace, p::Params)
    gemm!(ws.h1, 'N', p.fc1_weight, 'N', ws.x)        # [512, n] = W1 · x
    ws.h1 .= max.(ws.h1 .+ p.fc1_bias, 0f0)           # + b1 (along the batch), then ReLU
    gemm!(ws.h2, 'N', p.fc2_weight, 'N', ws.h1)
    ws.h2 .= max.(ws.h2 .+ p.fc2_bias, 0f0)
    gemm!(ws.logits, 'N', p.fc3_weight, 'N', ws.h2)
    ws.logits .+= p.fc3_bias
    return ws.logits
end

"""Softmax cross-entropy of each column of ws.logits against its label. Writes the gradient of
the batch-mean loss into ws.grad_logits; returns the summed loss and the number of hits."""
function softmax_cross_entropy!(ws::Workspace)
    logits, grad, n = ws.logits, ws.grad_logits, size(ws.logits, 2)
    total, hits = 0.0, 0
    @inbounds for j in 1:n
        top, best = logits[1, j], 1  # the largest logit (the first of equals) and its row
        for i in 2:size(logits, 1)
            logits[i, j] > top && ((top, best) = (logits[i, j], i))
        end
        sum_exp = 0f0
        for i in axes(logits, 1)
            e = exp(logits[i, j] - top)  # shifted by the maximum: exp() cannot overflow
            grad[i, j] = e
            sum_exp += e
        end
        class = ws.labels[j] + 1
        total += log(sum_exp) - (logits[class, j] - top)
        hits += best == class
        for i in axes(logits, 1)
            grad[i, j] = (grad[i, j] / sum_exp - (i == class)) / n
        end
    end
    return total, hits
end

"""Backpropagation through fc3 → ReLU → fc2 → ReLU → fc1 into `grads`. A weight's gradient is
g · inputᵀ, a bias's the sum of g over the batch, and a ReLU passes g only where it was active."""
function backward!(grads::Params, ws::Workspace, p::Params)
    gemm!(grads.fc3_weight, 'N', ws.grad_logits, 'T', ws.h2)   # g · h2ᵀ
    sum!(grads.fc3_bias, ws.grad_logits)
    gemm!(ws.grad_h2, 'T', p.fc3_weight, 'N', ws.grad_logits)   # W3ᵀ · g
    ws.grad_h2 .= ifelse.(ws.h2 .> 0f0, ws.grad_h2, 0f0)
    gemm!(grads.fc2_weight, 'N', ws.grad_h2, 'T', ws.h1)
    sum!(grads.fc2_bias, ws.grad_h2)
    gemm!(ws.grad_h1, 'T', p.fc2_weight, 'N', ws.grad_h2)
    ws.grad_h1 .= ifelse.(ws.h1 .> 0f0, ws.grad_h1, 0f0)
    gemm!(grads.fc1_weight, 'N', ws.grad_h1, 'T', ws.x)
    sum!(grads.fc1_bias, ws.grad_h1)
    return grads
end

# ---------------------------------------------------------------- train step (SPEC.md §3)
"PyTorch's SGD with momentum, in place: v = μ·v + g; p -= lr·v."
sgd!(p::Array{Float32}, v::Array{Float32}, g::Array{Float32}, lr::Float32, momentum::Float32) =
    (v .= momentum .* v .+ g; p .-= lr .* v)

"One SGD step on the batch in ws; returns the batch's summed loss and number of hits."
function train_step!(p::Params, velocity::Params, grads::Params, ws::Workspace, lr::Float32, momentum::Float32)
    forward!(ws, p)
    loss, hits = softmax_cross_entropy!(ws)
    backward!(grads, ws, p)
    map((pk, vk, gk) -> sgd!(pk, vk, gk, lr, momentum), tensors(p), tensors(velocity), tensors(grads))
    return loss, hits
end

"""One pass over the training examples in a fresh random order (file order with --no-shuffle),
in consecutive batches, the last one partial; the mean loss and accuracy as they were trained."""
function train_epoch!(p, velocity, grads, cache, x, y, args, rng, epoch)
    n = length(y)
    order = args.shuffle ? randperm(rng, n) : collect(1:n)
    lr, momentum = Float32(args.lr), Float32(args.momentum)
    total_loss, correct = 0.0, 0
    for (batch, start) in enumerate(1:args.batch_size:n)
        stop = min(start + args.batch_size - 1, n)
        ws = load_batch!(cache, x, y, view(order, start:stop))
        loss, hits = train_step!(p, velocity, grads, ws, lr, momentum)
        total_loss, correct = total_loss + loss, correct + hits
        progress_train(epoch, args.epochs, batch, cld(n, args.batch_size), total_loss / stop)
    end
    return total_loss / n, correct / n
end

# ---------------------------------------------------------------- evaluate
"Mean loss and accuracy over a whole split."
function evaluate(p::Params, cache, x::Matrix{Float32}, y::Vector{Int}; batch_size::Int=1000)
    n = length(y)
    total_loss, correct = 0.0, 0
    for start in 1:batch_size:n
        ws = load_batch!(cache, x, y, start:min(start + batch_size - 1, n))
        forward!(ws, p)
        loss, hits = softmax_cross_entropy!(ws)
        total_loss, correct = total_loss + loss, correct + hits
    end
    return total_loss / n, correct / n
end

"Softmax probabilities [10, n] of each image's ten classes (--predict)."
function predict(p::Params, x::Matrix{Float32})
    ws = Workspace(size(x, 2))
    copyto!(ws.x, x)
    logits = forward!(ws, p)
    exp_logits = exp.(logits .- maximum(logits; dims=1))
    return exp_logits ./ sum(exp_logits; dims=1)
end

# ---------------------------------------------------------------- main
"""Load the data, train, evaluate, save (or, with --predict, classify a file's images): the log
lines of SPEC.md §6 on stdout. `args` are the parsed flags (MnistContract.run_main, below)."""
function main(args::Args)
    compile_seconds = seconds_since(LOADED_NS)  # Julia compiled main and its callees
    log_start(ROW)
    if args.predict !== nothing  # classify the file's images (a line each): no dataset, no training
        return log_predict(predict(Params(load_weights(args.init)...), read_images(args.predict)))
    end
    log_config(args)
    data, seconds = load_mnist(args)
    log_data(data, seconds)

    rng = MersenneTwister(args.seed)
    params = args.init !== nothing ? Params(load_weights(args.init)...) : init_params(rng)
    velocity, grads = zeros_like(params), zeros_like(params)
    cache = Dict{Int,Workspace}()

    # Warm-up: Julia compiled main and all it calls just before main ran (compile_seconds); then one
    # training step (on scratch parameters) and one small evaluation run what is still compiled lazily.
    progress_warmup()
    t0 = time_ns()
    if args.epochs > 0
        ws = load_batch!(cache, data.train_x, data.train_y, 1:min(args.batch_size, length(data.train_y)))
        train_step!(zeros_like(params), zeros_like(params), zeros_like(params), ws, 1f0, 0.9f0)
        evaluate(params, Dict{Int,Workspace}(), data.val_x[:, 1:2], data.val_y[1:2])
    end
    log_warmup(compile_seconds + seconds_since(t0))

    for epoch in 1:args.epochs
        t0 = time_ns()
        train_loss, train_acc = train_epoch!(params, velocity, grads, cache, data.train_x, data.train_y, args, rng, epoch)
        seconds = seconds_since(t0)
        check_finite(epoch, train_loss)  # NaN or infinite: stop with exit status 3
        val_loss, val_acc = evaluate(params, cache, data.val_x, data.val_y)
        log_epoch(epoch, train_loss, train_acc, val_loss, val_acc, seconds)
    end

    t0 = time_ns()
    test_loss, test_acc = evaluate(params, cache, data.test_x, data.test_y)
    log_test(test_loss, test_acc, seconds_since(t0))
    args.save !== nothing && save_weights(args.save, tensors(params))
end

# Parse the flags, then call main; the contract's errors become one `error:` line and exit status.
exit(run_main(main, ARGS; row=ROW, description="Train the SPEC.md MLP on MNIST with hand-written Julia backprop."))
