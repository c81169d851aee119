# MNIST in Julia, from scratch: the forward pass, backpropagation and SGD with momentum by hand,
# BLAS for the matrix products. The contract's plumbing (SPEC.md) is common/julia/'s MnistContract.
# Julia arrays are column-major, so one example is one *column*: images are [784, n], activations
# [features, batch]. The weights keep PyTorch's [out, in] shape: each layer reads h = W * x .+ b.
using MnistContract  # common/julia/src, on JULIA_LOAD_PATH (common/julia/julia.sh)
using LinearAlgebra, Random

const ROW = "julia"

# ---------------------------------------------------------------- data
# MnistContract.read_inputs reads and splits the IDX files (SPEC.md §1) before main is compiled:
# Float32 [784, n] images in [0, 1], one image per column, and Int labels 0–9.

# ---------------------------------------------------------------- model
"The six tensors: a NamedTuple, PyTorch's names and [out, in] shapes, in the weights file's order."
const Params = NamedTuple{(:fc1_weight, :fc1_bias, :fc2_weight, :fc2_bias, :fc3_weight, :fc3_bias),
                          Tuple{Matrix{Float32},Vector{Float32},Matrix{Float32},Vector{Float32},Matrix{Float32},Vector{Float32}}}
zeros_like(p) = map(zero, p)

"PyTorch's nn.Linear default: weights and biases ~ U(-1/sqrt(fan_in), +1/sqrt(fan_in))."
function init_params(rng::AbstractRNG)
    drawn = Array{Float32}[]
    for (fan_in, fan_out) in ((784, 512), (512, 512), (512, 10)), dims in ((fan_out, fan_in), (fan_out,))
        bound = Float32(1 / sqrt(fan_in))  # fc1, fc2, fc3: a weight, then its bias, in column-major order
        push!(drawn, [(2f0 * rand(rng, Float32) - 1f0) * bound for _ in CartesianIndices(dims)])
    end
    return Params(Tuple(drawn))
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
    for (k, index) in enumerate(indices)  # example `index` becomes column k
        copyto!(ws.x, (k - 1) * PIXELS + 1, x, (index - 1) * PIXELS + 1, PIXELS)
        ws.labels[k] = y[index]
    end
    return ws
end

# C = op(A)·op(B) into the preallocated C, op being 'N' (as is) or 'T' (transposed): BLAS sgemm.
gemm!(C, tA, A, tB, B) = BLAS.gemm!(tA, tB, 1f0, A, B, 0f0, C)

# Elementwise steps are @inbounds @simd loops: on Julia 1.5 a broadcast like z .= max.(z .+ b, 0f0) is slower.
"z .+= b (b along the batch), then the ReLU z = max(z, 0) when `relu`: in place."
function add_bias!(z::Matrix{Float32}, b::Vector{Float32}; relu::Bool)
    @inbounds for j in axes(z, 2)
        @simd for i in axes(z, 1)
            z[i, j] = relu ? max(z[i, j] + b[i], 0f0) : z[i, j] + b[i]
        end
    end
end

"Logits for the batch in ws.x, keeping the hidden activations that backward! needs."
function forward!(ws::Workspace, p::Params)
    gemm!(ws.h1, 'N', p.fc1_weight, 'N', ws.x)        # [512, n] = W1 · x
    add_bias!(ws.h1, p.fc1_bias; relu=true)
    gemm!(ws.h2, 'N', p.fc2_weight, 'N', ws.h1)
    add_bias!(ws.h2, p.fc2_bias; relu=true)
    gemm!(ws.logits, 'N', p.fc3_weight, 'N', ws.h2)
    add_bias!(ws.logits, p.fc3_bias; relu=false)
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
            grad[i, j] = exp(logits[i, j] - top)  # shifted by the maximum: exp() cannot overflow
            sum_exp += grad[i, j]
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

"grad .*= (h .> 0): the ReLU's derivative, in place."
function relu_backward!(grad::Matrix{Float32}, h::Matrix{Float32})
    @inbounds @simd for i in eachindex(grad, h)
        grad[i] = ifelse(h[i] > 0f0, grad[i], 0f0)
    end
end

"""Backpropagation through fc3 → ReLU → fc2 → ReLU → fc1 into `grads`. A weight's gradient is
g · inputᵀ, a bias's the sum of g over the batch, and a ReLU passes g only where it was active."""
function backward!(grads::Params, ws::Workspace, p::Params)
    gemm!(grads.fc3_weight, 'N', ws.grad_logits, 'T', ws.h2)   # g · h2ᵀ
    sum!(grads.fc3_bias, ws.grad_logits)
    gemm!(ws.grad_h2, 'T', p.fc3_weight, 'N', ws.grad_logits)   # W3ᵀ · g
    relu_backward!(ws.grad_h2, ws.h2)
    gemm!(grads.fc2_weight, 'N', ws.grad_h2, 'T', ws.h1)
    sum!(grads.fc2_bias, ws.grad_h2)
    gemm!(ws.grad_h1, 'T', p.fc2_weight, 'N', ws.grad_h2)
    relu_backward!(ws.grad_h1, ws.h1)
    gemm!(grads.fc1_weight, 'N', ws.grad_h1, 'T', ws.x)
    sum!(grads.fc1_bias, ws.grad_h1)
end

# ---------------------------------------------------------------- train step (SPEC.md §3)
"PyTorch's SGD with momentum, in place: v = μ·v + g; p -= lr·v."
function sgd!(p::Array{Float32}, v::Array{Float32}, g::Array{Float32}, lr::Float32, momentum::Float32)
    @inbounds @simd for i in eachindex(p, v, g)
        v[i] = momentum * v[i] + g[i]
        p[i] -= lr * v[i]
    end
end

"One SGD step on the batch in ws; returns the batch's summed loss and number of hits."
function train_step!(p::Params, velocity::Params, grads::Params, ws::Workspace, lr::Real, momentum::Real)
    forward!(ws, p)
    loss, hits = softmax_cross_entropy!(ws)
    backward!(grads, ws, p)
    map((pk, vk, gk) -> sgd!(pk, vk, gk, Float32(lr), Float32(momentum)), values(p), values(velocity), values(grads))
    return loss, hits
end

"""One pass over the training examples in a fresh random order (file order with --no-shuffle),
in consecutive batches, the last one partial; the mean loss and accuracy as they were trained."""
function train_epoch!(p, velocity, grads, cache, x, y, args, rng, epoch)
    n = length(y)
    order = args.shuffle ? randperm(rng, n) : collect(1:n)
    total_loss, correct = 0.0, 0
    for (batch, start) in enumerate(1:args.batch_size:n)
        stop = min(start + args.batch_size - 1, n)
        ws = load_batch!(cache, x, y, view(order, start:stop))
        loss, hits = train_step!(p, velocity, grads, ws, args.lr, args.momentum)
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
    copyto!(ws.x, x)  # all the images in one batch
    logits = forward!(ws, p)
    exp_logits = exp.(logits .- maximum(logits; dims=1))
    return exp_logits ./ sum(exp_logits; dims=1)
end

# ---------------------------------------------------------------- main
"Train, evaluate, save (or classify --predict's images) with the flags `args`: SPEC.md §6's log lines."
function main(args::Args, inputs)
    compile_seconds = seconds_since(LOADED_NS[]) - inputs.seconds  # Julia compiled main as it began
    log_start(ROW)
    if args.predict !== nothing  # classify the file's images (a line each): no dataset, no training
        return log_predict(predict(Params(Tuple(inputs.init)), inputs.images))
    end
    log_config(args)
    data = inputs.data
    log_data(data, inputs.data_seconds)

    rng = MersenneTwister(args.seed)
    params = inputs.init !== nothing ? Params(Tuple(inputs.init)) : init_params(rng)
    velocity, grads = zeros_like(params), zeros_like(params)
    cache = Dict{Int,Workspace}()

    # Warm-up: Julia compiled main and its callees as main began; a scratch step runs what is left.
    progress_warmup()
    t0 = time_ns()
    ws = load_batch!(cache, data.train_x, data.train_y, 1:min(args.batch_size, length(data.train_y)))
    train_step!(map(copy, params), zeros_like(params), zeros_like(params), ws, args.lr, args.momentum)
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
    args.save !== nothing && save_weights(args.save, params)
end

# Parse the flags, read the inputs, then call main; the contract's errors become one `error:` line and exit status.
exit(run_main(main, ARGS; row=ROW, description="Train the SPEC.md MLP on MNIST with hand-written Julia backprop."))
